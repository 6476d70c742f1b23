"""A distributed router with real servers: ``kumo up --hosts 3`` inside a simulated
machine (:class:`kumo.sim.SimulatedMachine`): its layout makes the machine's host
``h1`` and ``h1-2`` network hosts (``dvr_snat``) and ``h1-3`` a compute host (``dvr``).

- ``openstack router create --distributed`` with two subnets; its SNAT part is put on
  ``h1`` with the standard CLI (``network agent remove/add router --l3``);
- a cirros server on ``h1-2`` (first subnet) and one on ``h1-3`` (second subnet) ping
  each other, and ``h1``'s ``qrouter-``/``snat-`` namespaces forward nothing meanwhile;
- the server on ``h1-2`` (no floating IP) reaches the machine's ``br-ex`` address
  172.24.4.1 through ``snat-`` on ``h1``;
- a floating IP on the server on ``h1-3`` answers the machine, which resolves it to
  ``h1-3``'s ``fg-`` port;
- ``kumo down`` leaves nothing of the cloud's in the machine.
"""
from __future__ import annotations

import pytest

from tests.dataplane import machines
from tests.dataplane.machines import started

WAIT_S = 150.0
HOSTS = ["h1", "h1-2", "h1-3"]


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return machines.wait_for(predicate, what, timeout, 1.0)


@pytest.fixture
def machine(tmp_path, tag):
    with started(tmp_path, f"{tag}-dvr", "h1", args=("--hosts", "3"), timeout=120) as m:
        yield m


def forwarded(m, ns: str) -> int:
    """IPv4 packets the machine's namespace ``ns`` forwarded (0 when absent)."""
    out = m.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"], check=False,
                timeout=30).stdout
    rows = [line.split() for line in out.splitlines() if line.startswith("Ip:")]
    return int(rows[1][rows[0].index("ForwDatagrams")]) if len(rows) >= 2 else 0


def test_distributed_router_with_servers(machine):
    m = machine

    def hosts_up():
        hv = m.json("hypervisor", "list", "--long", admin=True)
        agents = m.json("network", "agent", "list", "--agent-type", "l3", admin=True)
        return (sorted(h["Hypervisor Hostname"] for h in hv if h["State"] == "up") == HOSTS
                and {a["Host"]: a for a in agents if a["Alive"]}.keys() == set(HOSTS)
                and {a["Host"]: a["ID"] for a in agents})
    l3 = wait_for(hosts_up, "three hosts with their L3 agents up")

    for i in (1, 2):
        m.openstack("network", "create", f"dvr-net{i}", admin=True)
        m.openstack("subnet", "create", f"dvr-sub{i}", "--network", f"dvr-net{i}",
                    "--subnet-range", f"192.168.7{i}.0/24", admin=True)
    router = m.json("router", "create", "--distributed", "dvr-router", admin=True)["id"]
    m.openstack("router", "set", "dvr-router", "--external-gateway", "public", admin=True)
    for i in (1, 2):
        m.openstack("router", "add", "subnet", "dvr-router", f"dvr-sub{i}", admin=True)
    hosting = [a["ID"] for a in m.json("network", "agent", "list", "--router", router,
                                       admin=True)]
    if hosting != [l3["h1"]]:
        for agent in hosting:
            m.openstack("network", "agent", "remove", "router", "--l3", agent, router,
                        admin=True)
        m.openstack("network", "agent", "add", "router", "--l3", l3["h1"], router,
                    admin=True)
    project = m.json("project", "show", "admin", admin=True)["id"]
    group = next(g["ID"] for g in m.json("security", "group", "list", "--project", project,
                                         admin=True) if g["Name"] == "default")
    m.openstack("security", "group", "rule", "create", group, "--protocol", "icmp",
                admin=True)
    servers = {}
    for i, host in ((1, "h1-2"), (2, "h1-3")):
        servers[host] = m.json("server", "create", "--image", "cirros", "--flavor",
                               "m1.nano", "--network", f"dvr-net{i}", "--availability-zone",
                               f"nova:{host}", f"dvr-vm{i}", admin=True)["id"]

    def active():
        shown = {h: m.json("server", "show", s, admin=True) for h, s in servers.items()}
        assert not [s for s in shown.values() if s["status"] == "ERROR"], shown
        return shown if all(s["status"] == "ACTIVE" for s in shown.values()) else None
    shown = wait_for(active, "two servers ACTIVE")
    addr = {"h1-2": shown["h1-2"]["addresses"]["dvr-net1"][0],
            "h1-3": shown["h1-3"]["addresses"]["dvr-net2"][0]}

    def pings(src: str, target: str, count: int = 1) -> bool:
        out = m.kumo("console", servers[src], "--", "ping", "-c", str(count), "-W", "1",
                     target, check=False, timeout=60)
        return out.returncode == 0

    wait_for(lambda: pings("h1-2", addr["h1-3"]), "h1-2's server pings h1-3's")
    qrouter, snat = f"qrouter-{router}", f"snat-{router}"
    # east-west traffic needs only h1-2's and h1-3's agents; h1's (the SNAT host) may
    # still be at work on the router (a loaded CI run saw neither namespace yet)
    wait_for(lambda: {qrouter, snat} <= set(m.netns_names()),
             "h1's qrouter- and snat- namespaces of the router")
    before = forwarded(m, qrouter) + forwarded(m, snat)
    assert pings("h1-2", addr["h1-3"], count=3)
    assert pings("h1-3", addr["h1-2"], count=3)
    assert forwarded(m, qrouter) + forwarded(m, snat) == before

    # SNAT through h1 for the server without a floating IP
    snat_before = forwarded(m, snat)
    wait_for(lambda: pings("h1-2", "172.24.4.1"), "h1-2's server reaches 172.24.4.1")
    assert forwarded(m, snat) > snat_before

    # a floating IP answers from h1-3
    port = m.json("port", "list", "--server", servers["h1-3"], admin=True)[0]["ID"]
    fip = m.json("floating", "ip", "create", "public", "--port", port,
                 admin=True)["floating_ip_address"]
    wait_for(lambda: m.run(["ping", "-c", "1", "-W", "1", fip], check=False,
                           timeout=30).returncode == 0, "the machine pings the floating IP")
    fg = [p for p in m.json("port", "list", "--network", "public", "--long", admin=True)
          if p["Device Owner"] == "network:floatingip_agent_gateway"]
    fg_h13 = [p for p in fg if m.json("port", "show", p["ID"], admin=True)
              ["binding_host_id"] == "h1-3"]
    assert len(fg_h13) == 1, fg
    neigh = m.run(["ip", "-4", "neigh", "show", fip]).stdout.lower()
    assert fg_h13[0]["MAC Address"].lower() in neigh, neigh

    assert m.stop_cloud() is None
    m.kumo("down", timeout=300)
    assert m.kumo_objects() == {"namespaces": [], "links": [], "nft_tables": [],
                                "processes": []}
