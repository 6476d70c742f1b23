"""Data-plane tests: real kernel objects inside network namespaces the tests create.

Skipped unless running as root with the ``ip`` and ``nft`` commands. Every namespace a
test makes is named ``kumo-t<hex>-...`` and removed in a ``finally``, pass or fail;
links live only inside those namespaces, so removing them removes everything. They
run beside each other and the API tests under xdist (nothing here is shared between
tests but the machine's kernel, and their objects carry their own tags).
"""
from __future__ import annotations

import hashlib
import os
import signal
import uuid
from pathlib import Path

import pytest

from kumo.agent.agent import Agent
from kumo.agent.client import ControllerClient
from kumo.agent.dataplane import netns
from tests import waiting
from tests.dataplane import machines, probes

HERE = Path(__file__).resolve().parent
REASON = machines.skip_reason("data-plane tests", ("ip", "nft"))


def pytest_collection_modifyitems(config, items):
    machines.mark_heavy(items, HERE, REASON)


@pytest.fixture
def tag() -> str:
    """A unique prefix for this test's objects: ``kumo-t<8 hex>``."""
    return machines.new_tag()


@pytest.fixture
def scratch(tag):
    """``make(suffix) -> Netns``: a fresh namespace ``<tag>-<suffix>`` in the machine's
    /run/netns; every one made is deleted at teardown."""
    made: list[str] = []
    machine = netns.Host()

    def make(suffix: str) -> netns.Netns:
        name = f"{tag}-{suffix}"
        made.append(name)
        return netns.ensure_netns(machine, name)

    try:
        yield make
    finally:
        for name in made:
            netns.delete_netns(machine, name)


@pytest.fixture
def hosts(tag):
    """``make(suffix) -> Host``: a simulated host: a namespace ``<tag>-<suffix>`` whose
    own named namespaces live in a private run dir ``/run/<tag>-<suffix>/netns``.
    Teardown removes the host's namespaces, its run dir and the host namespace."""
    made: list[netns.Host] = []
    machine = netns.Host()

    def make(suffix: str) -> netns.Host:
        root = netns.ensure_netns(machine, f"{tag}-{suffix}")
        host = netns.Host(netns=root.path, run_dir=f"/run/{tag}-{suffix}/netns")
        made.append(host)
        return host

    try:
        yield make
    finally:
        for host in made:
            try:
                netns.remove_run_dir(host)
                os.rmdir(os.path.dirname(host.run_dir))
            except OSError:
                pass
            netns.delete_netns_path(host.netns)


@pytest.fixture
def state_root(tmp_path):
    """The agents' state dirs; every process mentioning it is killed at teardown (ask
    for it before ``run_agent``, so that the agents stop first)."""
    root = tmp_path / "agents"
    root.mkdir()
    yield root
    for pid in probes.procs_under(str(root)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    waiting.wait_for(lambda: not probes.procs_under(str(root)),
                     "the test's processes gone", 10)


@pytest.fixture
def run_agent(cloud):
    """``run(host, drivers, resync_s) -> Agent``: a network :class:`Agent` for ``host``
    with the cloud's agent credentials and the drivers ``drivers(client)`` returns,
    started (3 workers, 1 s heartbeats, 2 s long polls, a full resync every
    ``resync_s`` seconds); every one started is stopped at teardown."""
    started: list[Agent] = []

    def run(host: str, drivers, resync_s: float) -> Agent:
        client = ControllerClient.from_cloud("kumo-agent",
                                             config_files=[str(cloud.clouds_yaml)])
        agent = Agent(client, host, drivers(client), workers=3, resync_s=resync_s,
                      heartbeat_s=1.0, wait_s=2.0)
        agent.start()
        started.append(agent)
        return agent

    yield run
    for agent in started:
        agent.stop()


@pytest.fixture
def image(tmp_path_factory):
    """``(image row, bytes)``: the cirros root file system as an image the netns
    compute driver can run (skips without a static busybox)."""
    from kumo.image import cirros
    try:
        data = cirros.ensure_rootfs(tmp_path_factory.mktemp("cirros")).read_bytes()
    except cirros.BusyboxNotFound:
        pytest.skip("no static busybox")
    return {"id": str(uuid.uuid4()), "container_format": "bare", "disk_format": "raw",
            "size": len(data), "checksum": hashlib.md5(data).hexdigest(),
            "kumo_rootfs": "tar"}, data


@pytest.fixture
def made(admin):
    """API objects the test made, by kind (``fips``, ``ports``, ``routers``, ``subnets``,
    ``nets`` with their ports, ``groups``, agent ``hosts``): deleted at the end in that
    order (what is gone already is skipped)."""
    objs: dict[str, list] = {"fips": [], "ports": [], "routers": [], "subnets": [],
                             "nets": [], "groups": [], "hosts": []}
    yield objs
    for fip in objs["fips"]:
        admin.network.delete_ip(fip, ignore_missing=True)
    for port in objs["ports"]:
        admin.network.delete_port(port, ignore_missing=True)
    for router in objs["routers"]:
        if admin.network.find_router(router.id) is None:
            continue
        for p in admin.network.ports(device_id=router.id,
                                     device_owner="network:router_interface"):
            try:
                admin.network.remove_interface_from_router(router, port=p.id)
            except Exception:  # noqa: BLE001 - already removed
                pass
        admin.network.delete_router(router, ignore_missing=True)
    for net in objs["nets"]:
        for p in admin.network.ports(network_id=net.id):
            admin.network.delete_port(p, ignore_missing=True)
        admin.network.delete_network(net, ignore_missing=True)
    for g in objs["groups"]:
        admin.network.delete_security_group(g, ignore_missing=True)
    for host in objs["hosts"]:
        for a in admin.network.agents(host=host):
            admin.network.delete_agent(a, ignore_missing=True)
