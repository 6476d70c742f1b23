"""The agent core against a real ``kumo up`` server, with the FakeDriver: the initial
snapshot, ports bound to the host turning ACTIVE through the API, other hosts' ports
never given to the driver, deletions, heartbeats in ``openstack network agent list``,
and a restart that removes only orphans (no flush)."""
from __future__ import annotations

import uuid

import pytest

from kumo.agent.agent import Agent
from kumo.agent.client import ControllerClient
from kumo.agent.drivers import FakeDriver
from tests import waiting

WAIT_S = 60.0


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout, 0.05)


@pytest.fixture
def host():
    return f"hostA-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def start_agent(cloud):
    """``start_agent(host, driver=None) -> (agent, driver)``; stopped at teardown."""
    started = []

    def start(host: str, driver: FakeDriver | None = None):
        client = ControllerClient.from_cloud("kumo-agent", config_files=[str(cloud.clouds_yaml)])
        driver = driver or FakeDriver(host)
        agent = Agent(client, host, [driver], workers=3, resync_s=2.0, heartbeat_s=1.0,
                      wait_s=2.0)
        agent.start()
        started.append(agent)
        return agent, driver

    yield start
    for agent in started:
        agent.stop()


@pytest.fixture
def network(admin, unique):
    net = admin.network.create_network(name=unique("agent-net"))
    admin.network.create_subnet(network_id=net.id, cidr="10.77.0.0/24", ip_version=4)
    yield net
    for port in admin.network.ports(network_id=net.id):
        admin.network.delete_port(port.id)
    admin.network.delete_network(net.id)


def port_status(admin, port_id: str) -> str:
    return admin.network.get_port(port_id).status


def test_initial_snapshot_is_realized(admin, network, host, start_agent):
    port = admin.network.create_port(network_id=network.id, binding_host_id=host)
    agent, driver = start_agent(host)
    # keys are realized in any order (one queue, several workers)
    wait_for(lambda: ("ports", port.id) in driver.realized
             and ("networks", network.id) in driver.realized, "the port and network realized")
    assert driver.realized[("ports", port.id)]["binding:host_id"] == host
    wait_for(lambda: port_status(admin, port.id) == "ACTIVE", "the port ACTIVE")


def test_port_bound_to_host_becomes_active(admin, network, host, start_agent):
    agent, driver = start_agent(host)
    wait_for(agent.informer.synced.is_set, "the first list")
    port = admin.network.create_port(network_id=network.id, binding_host_id=host)
    assert port.status == "DOWN"
    wait_for(lambda: port_status(admin, port.id) == "ACTIVE", "the port ACTIVE")
    assert ("ports", port.id) in driver.realized
    wait_for(lambda: (agent.realized_revision or 0) >= agent.informer.revision,
             "the realized revision to catch up")


def test_other_hosts_port_is_not_given_to_driver(admin, network, host, start_agent):
    agent, driver = start_agent(host)
    wait_for(agent.informer.synced.is_set, "the first list")
    other = admin.network.create_port(network_id=network.id,
                                      binding_host_id=f"hostB-{uuid.uuid4().hex[:8]}")
    mine = admin.network.create_port(network_id=network.id, binding_host_id=host)
    wait_for(lambda: port_status(admin, mine.id) == "ACTIVE", "my port ACTIVE")
    assert ("ports", other.id) not in {key for _, key in driver.calls}
    assert ("ports", other.id) not in driver.realized
    assert port_status(admin, other.id) == "DOWN"


def test_deleted_port_is_removed_from_driver(admin, network, host, start_agent):
    agent, driver = start_agent(host)
    port = admin.network.create_port(network_id=network.id, binding_host_id=host)
    wait_for(lambda: ("ports", port.id) in driver.realized, "the port realized")
    admin.network.delete_port(port.id)
    wait_for(lambda: ("ports", port.id) not in driver.realized, "the port removed")
    assert ("ports", port.id) in driver.removed()


def test_agent_list_shows_the_agent_alive(cloud, admin, host, start_agent):
    agent, driver = start_agent(host)
    wait_for(lambda: agent.realized_revision is not None, "a realized revision")
    rows = wait_for(lambda: cloud.cli("network", "agent", "list", "--host", host),
                    "the agent listed")
    assert len(rows) == 1
    row = rows[0]
    assert row["Host"] == host
    assert row["Agent Type"] == "Linux bridge agent"
    assert row["Binary"] == "neutron-linuxbridge-agent"
    assert row["Alive"] in (True, ":-)")

    def reported():
        found = list(admin.network.agents(host=host))
        return found and found[0].configuration.get("realized_revision") is not None
    wait_for(reported, "the realized revision in the heartbeat")


def test_restart_removes_only_orphans(admin, network, host, start_agent):
    realized: dict = {}
    agent, driver = start_agent(host, FakeDriver(host, realized=realized))
    keep = admin.network.create_port(network_id=network.id, binding_host_id=host)
    gone = admin.network.create_port(network_id=network.id, binding_host_id=host)
    for p in (keep, gone):
        wait_for(lambda: port_status(admin, p.id) == "ACTIVE", "ports ACTIVE")
    agent.stop()
    admin.network.delete_port(gone.id)  # while the agent is down
    # The "kernel" state survives the restart: the new driver starts from it.
    agent2, driver2 = start_agent(host, FakeDriver(host, realized=realized))
    wait_for(lambda: ("ports", gone.id) not in realized, "the orphan removed")
    wait_for(lambda: agent2.realized_revision is not None, "a realized revision")
    desired = {(kind, item["id"]) for kind, items in agent2.informer.snapshot().items()
               if isinstance(items, list) for item in items}
    assert ("ports", gone.id) in driver2.removed()
    assert not driver2.removed() & desired, "a desired object was removed"
    assert ("ports", keep.id) in realized
    assert ("networks", network.id) in realized
    assert port_status(admin, keep.id) == "ACTIVE"


def test_kumo_agent_command_and_sigterm(cloud, admin, network, host):
    """``kumo agent --controller URL --host H`` (password auth, fake driver) turns a port
    ACTIVE and exits 0 on SIGTERM."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    kumo = Path(sys.executable).parent / "kumo"
    env = {**cloud.env, "KUMO_AGENT_WAIT_S": "2", "KUMO_AGENT_HEARTBEAT_S": "1"}
    proc = subprocess.Popen([str(kumo), "agent", "--controller", cloud.url, "--host", host,
                             "--driver", "fake"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        port = admin.network.create_port(network_id=network.id, binding_host_id=host)
        wait_for(lambda: port_status(admin, port.id) == "ACTIVE" or proc.poll() is not None,
                 "the port ACTIVE")
        assert proc.poll() is None, proc.stdout.read()
        assert port_status(admin, port.id) == "ACTIVE"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert f"agent for host {host}" in proc.stdout.read()
