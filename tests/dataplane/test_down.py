"""``kumo down`` on a machine where ``kumo up`` made a network, a router with a gateway
and a server, with the real data plane: inside a simulated machine
(:class:`kumo.sim.SimulatedMachine`, its own network and mount namespaces), so the
kernel objects checked are the machine's only.

- ``kumo down`` refuses while ``kumo up`` runs (the state lock) and changes nothing;
- Ctrl-C (SIGTERM) says what keeps running;
- after ``kumo down`` nothing Kumo-named is left: namespaces, links, nft tables,
  processes; a second ``kumo down`` removes nothing;
- ``kumo up`` starts again from the same state and realizes the same cloud again;
- ``kumo down --purge`` removes the state too.
"""
from __future__ import annotations

import pytest

from tests.dataplane.machines import started, wait_for


@pytest.fixture
def machine(tmp_path, tag):
    with started(tmp_path, f"{tag}-down", "downhost") as m:
        yield m


def test_down_removes_the_data_plane_and_up_starts_again(machine):
    m = machine
    m.openstack("network", "create", "down-net")
    m.openstack("subnet", "create", "down-subnet", "--network", "down-net",
                "--subnet-range", "192.168.60.0/24")
    m.openstack("router", "create", "down-router")
    m.openstack("router", "set", "down-router", "--external-gateway", "public")
    m.openstack("router", "add", "subnet", "down-router", "down-subnet")
    m.openstack("server", "create", "--image", "cirros", "--flavor", "m1.nano",
                "--network", "down-net", "--wait", "vm1")
    router = m.json("router", "show", "down-router")["id"]
    net = m.json("network", "show", "down-net")["id"]
    expected = {f"qrouter-{router}", f"qdhcp-{net}"}
    made = wait_for(lambda: (lambda o: o if expected <= set(o["namespaces"]) and any(
        n.startswith("instance-") for n in o["namespaces"]) else None)(m.kumo_objects()),
        "the router's, DHCP and instance namespaces")
    assert "br-ex" in made["links"] and any(n.startswith("brq") for n in made["links"])
    assert {"kumo_sg", "kumo-uplink-guard"} <= set(made["nft_tables"])
    assert made["processes"], "the instance and dnsmasq run"

    # refused while kumo up runs: exit 1, a clear message, nothing removed
    refused = m.kumo("down", check=False)
    assert refused.returncode == 1
    assert "kumo up" in refused.stderr and "running" in refused.stderr
    assert expected <= set(m.netns_names())
    assert oct((m.dir / "state" / "kumo.lock").stat().st_mode & 0o777) == "0o600"

    # Ctrl-C: says what keeps running
    assert m.stop_cloud() is None
    log = m.server_log()
    assert "kumo: stopping (" in log and "1 server and the data plane keep running" in log
    assert "kumo down" in log and "kumo: stopped in " in log

    out = m.kumo("down").stdout
    assert "1 server" in out and "namespaces" in out and "nft tables" in out, out
    assert m.kumo_objects() == {"namespaces": [], "links": [], "nft_tables": [],
                               "processes": []}
    assert (m.dir / "state" / "kumo.db").exists(), "the state stays without --purge"
    again = m.kumo("down")
    assert "removed nothing" in again.stdout

    # kumo up again, from the same state: the same cloud is realized again
    m.start()
    assert m.json("server", "show", "vm1")["status"] == "ACTIVE"
    wait_for(lambda: expected <= set(m.netns_names())
             and any(n.startswith("instance-") for n in m.netns_names()),
             "the namespaces realized again")

    assert m.stop_cloud() is None
    out = m.kumo("down", "--purge").stdout
    assert "state entries" in out, out
    assert m.kumo_objects() == {"namespaces": [], "links": [], "nft_tables": [],
                               "processes": []}
    assert not (m.dir / "state").exists()
    clouds = m.dir / "home" / ".config" / "openstack" / "clouds.yaml"
    assert not clouds.exists() or "kumo-admin" not in clouds.read_text()
