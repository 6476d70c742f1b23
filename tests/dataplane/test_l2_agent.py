"""The Linux-bridge L2 driver for real: two simulated hosts (namespaces joined by a veth
underlay 10.98.0.1/24 <-> 10.98.0.2/24), each with an Agent running the driver against a
real ``kumo up`` server, one instance namespace per host plugged like Nova's VIF
plugging does (a veth ``tap<port[:11]>`` <-> ``eth0``). Ports turn ACTIVE through the
API, the instances ping across VXLAN with L2 population, an agent restart keeps traffic
and kernel objects (no flush), a deleted port's entries leave the other host, orphans
carrying our names go and nothing else does. Every namespace (and so every link) is
removed at the end, pass or fail."""
from __future__ import annotations

import ipaddress
import uuid

import pytest

from kumo.agent.agent import Agent
from kumo.agent.dataplane import links, names, netns
from kumo.agent.l2 import LinuxBridgeDriver
from tests import waiting
from tests.dataplane import probes

WAIT_S = 60.0
UNDERLAY = {"A": "10.98.0.1", "B": "10.98.0.2"}


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout)


def pings(ns: netns.Netns, addr: str) -> bool:
    return probes.pings(ns, addr, count=3)


@pytest.fixture
def agents(run_agent):
    """``start(name, where, local_ip) -> Agent``: an Agent with the L2 driver for host
    ``name`` in simulated host ``where``; every one started is stopped at teardown."""
    def start(name: str, where: netns.Host, local_ip: str) -> Agent:
        # No peer view and no periodic resync to speak of: other hosts' ports must
        # arrive through the snapshot's l2_population and the feed's fan-out.
        return run_agent(name, lambda client: [LinuxBridgeDriver(
            name, where=where, local_ip=local_ip, bridge_mappings={"public": "br-ex"})],
            300.0)

    return start


@pytest.fixture
def network(admin, unique):
    net = admin.network.create_network(name=unique("l2-net"))
    subnet = admin.network.create_subnet(network_id=net.id, cidr="10.61.0.0/24",
                                         ip_version=4, enable_dhcp=False)
    yield net, subnet
    for port in admin.network.ports(network_id=net.id):
        admin.network.delete_port(port.id)
    admin.network.delete_network(net.id)


def plug(host: netns.Host, port, prefixlen: int) -> netns.Netns:
    """:func:`probes.plug` into an instance namespace ``vm``."""
    return probes.plug(host, "vm", port, prefixlen)


def test_two_hosts_vxlan_l2pop(cloud, admin, network, hosts, agents):
    net, subnet = network
    suffix = uuid.uuid4().hex[:6]
    name = {"A": f"hostA-{suffix}", "B": f"hostB-{suffix}"}
    where = {"A": hosts("a"), "B": hosts("b")}
    links.ensure_veth(where["A"].root, "ul-a", "ul-b", where["B"].root)
    links.ensure_address(where["A"].root, "ul-a", f"{UNDERLAY['A']}/24")
    links.ensure_address(where["B"].root, "ul-b", f"{UNDERLAY['B']}/24")
    # Pre-existing objects on host A: an orphan with our name, and someone else's bridge.
    links.ensure_bridge(where["A"].root, "brqdeadbeef-00")
    links.ensure_bridge(where["A"].root, "br-other")

    prefixlen = ipaddress.ip_network(subnet.cidr).prefixlen
    port = {h: admin.network.create_port(network_id=net.id, binding_host_id=name[h])
            for h in "AB"}
    vm = {h: plug(where[h], port[h], prefixlen) for h in "AB"}
    ip = {h: port[h].fixed_ips[0]["ip_address"] for h in "AB"}
    agent = {h: agents(name[h], where[h], UNDERLAY[h]) for h in "AB"}

    for h in "AB":
        wait_for(lambda: admin.network.get_port(port[h].id).status == "ACTIVE",
                 f"port on {name[h]} ACTIVE")
    bridge, vx = names.bridge(net.id), names.vxlan(net.provider_segmentation_id)
    for h in "AB":
        br = links.get_link(where[h].root, bridge)
        dev = links.get_link(where[h].root, vx)
        tap = links.get_link(where[h].root, names.tap(port[h].id))
        assert br.kind == "bridge" and br.mtu == net.mtu
        assert dev.vxlan == {"id": net.provider_segmentation_id, "local": UNDERLAY[h],
                             "port": 4789, "learning": False}
        assert dev.master == br.index and dev.mtu == net.mtu
        assert tap.master == br.index and tap.up and tap.mtu == net.mtu
    # L2 population on A: a flood entry and the MAC towards B, B's address as a neighbour
    fdb_a = wait_for(lambda: (port["B"].mac_address, UNDERLAY["B"]) in (
        f := links.list_fdb(where["A"].root, vx)) and f, "host A's FDB entries for B")
    assert (links.ZERO_MAC, UNDERLAY["B"]) in fdb_a
    assert (ip["B"], port["B"].mac_address) in links.list_neigh(where["A"].root, vx)
    wait_for(lambda: pings(vm["A"], ip["B"]), "A pings B across VXLAN")
    assert pings(vm["B"], ip["A"])
    # orphan cleanup: only what carries our name and is not desired
    wait_for(lambda: links.get_link(where["A"].root, "brqdeadbeef-00") is None,
             "the orphan bridge removed")
    assert links.get_link(where["A"].root, "br-other") is not None
    assert links.get_link(where["A"].root, "ul-a") is not None

    rows = wait_for(lambda: [r for r in cloud.cli("network", "agent", "list")
                             if r["Host"] in name.values()
                             and r["Agent Type"] == "Linux bridge agent"
                             and r["Alive"] in (True, ":-)")] or None,
                    "the L2 agents listed", timeout=30)
    assert sorted(r["Host"] for r in rows) == sorted(name.values())
    assert {r["Binary"] for r in rows} == {"neutron-linuxbridge-agent"}
    conf = {a.host: a.configuration for a in admin.network.agents()
            if a.host in name.values()}
    assert conf[name["A"]]["tunneling_ip"] == UNDERLAY["A"]
    assert conf[name["A"]]["tunnel_types"] == ["vxlan"]
    assert conf[name["A"]]["bridge_mappings"] == {"public": "br-ex"}

    # restart A: same kernel objects afterwards, traffic keeps flowing
    before = {n: links.get_link(where["A"].root, n).index
              for n in (bridge, vx, names.tap(port["A"].id))}
    fdb_before = sorted(links.list_fdb(where["A"].root, vx))
    agent["A"].stop()
    assert pings(vm["A"], ip["B"]), "traffic stopped with the agent down"
    agent["A"] = agents(name["A"], where["A"], UNDERLAY["A"])
    wait_for(lambda: agent["A"].realized_revision is not None, "A's restart realized")
    agent["A"].cleanup_orphans()
    assert pings(vm["A"], ip["B"])
    assert {n: links.get_link(where["A"].root, n).index for n in before} == before
    assert sorted(links.list_fdb(where["A"].root, vx)) == fdb_before

    # admin_state_up false sets the device down and the port DOWN
    admin.network.update_port(port["A"].id, admin_state_up=False)
    wait_for(lambda: admin.network.get_port(port["A"].id).status == "DOWN", "A DOWN")
    assert not links.get_link(where["A"].root, names.tap(port["A"].id)).up
    admin.network.update_port(port["A"].id, admin_state_up=True)
    wait_for(lambda: admin.network.get_port(port["A"].id).status == "ACTIVE", "A ACTIVE")

    # deleting B's port takes its entries away on A; B's bridge and VXLAN device go
    admin.network.delete_port(port["B"].id)
    # The driver removes FDB entries, then neighbour entries: wait for both.
    wait_for(lambda: links.list_fdb(where["A"].root, vx) == []
             and links.list_neigh(where["A"].root, vx) == [], "A's FDB and neigh emptied")
    wait_for(lambda: links.get_link(where["B"].root, bridge) is None
             and links.get_link(where["B"].root, vx) is None, "B's bridge and VXLAN removed")
    assert links.get_link(where["A"].root, bridge) is not None  # A still has a port

    # A's device disappears (the instance is unplugged): DOWN
    links.delete_link(where["A"].root, names.tap(port["A"].id))
    wait_for(lambda: admin.network.get_port(port["A"].id).status == "DOWN",
             "A DOWN after unplug")
