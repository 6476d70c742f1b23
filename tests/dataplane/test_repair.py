"""Kernel drift is repaired by the agents' kernel watches, not at the next resync, and
security filtering fails closed meanwhile.

One simulated host (a namespace with a private run dir) runs an Agent with the
Linux-bridge L2 and firewall drivers against a real ``kumo up``, with a resync period
far beyond the tests' bounds, so whatever comes back came back through a watch.

- ``test_firewall_tables_restored_and_fail_closed``: two "instances" (namespaces with
  static addresses) in a security group admitting ICMP only. ``nft delete table`` of
  ``inet kumo_sg``, ``bridge kumo_sg`` and the guard ``bridge kumo_guard`` under a
  running agent: each is back within the bound and pings pass again while TCP stays
  blocked; a deleted guard chain comes back too, and a flushed group chain is found by
  the watch's full content check. With the agent stopped, a deleted ``inet``/``bridge
  kumo_sg`` leaves TCP *and* ping blocked (the guard drops what our tables did not see);
  a new agent puts the table back and ping resumes.
- ``test_instance_tap_replugged_gets_its_address_back``: a cirros instance of the
  ``netns`` compute driver (a ComputeAgent over the in-memory compute stub, its port a
  real Neutron port) gets its lease from the DHCP driver's dnsmasq; its tap is deleted;
  the compute driver's watch makes the veth again, the L2 driver plugs it, the guest
  gets its IPv4 address back (the driver re-runs its DHCP client) and answers pings.

Every namespace, link, table and process the tests made is removed, pass or fail.
"""
from __future__ import annotations

import ipaddress
import socket
import subprocess
import uuid

import pytest

from kumo.agent.agent import Agent
from kumo.agent.compute import ComputeAgent
from kumo.agent.dataplane import links, names, netns, nft
from kumo.agent.dhcp import DhcpDriver
from kumo.agent.l2 import LinuxBridgeDriver
from kumo.agent.secgroups import FirewallDriver
from kumo.agent.sgmodel import GUARD_TABLE, TABLE
from kumo.agent.virt.netns import NetnsDriver
from tests import waiting
from tests.agent.compute_stub import StubCompute, instance
from tests.dataplane import probes

WAIT_S = 60.0
REPAIR_S = 10.0  # a generous bound on a watch's repair (it takes about a second)
RESYNC_S = 3600.0  # never within a test: repairs must come from the watches
LOCAL_IP = "10.98.9.1"
BLOCKED_PORT = 8080


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout)


def pings(ns: netns.Netns, addr: str) -> bool:
    return probes.pings(ns, addr, interval=0.2)


def connects(ns: netns.Netns, addr: str, port: int) -> bool:
    return probes.connects(ns, addr, port, timeout=1.5)


def tables(host: netns.Host) -> set[tuple[str, str]]:
    return set(nft.list_tables(host.root))


def listen(ns: netns.Netns, port: int) -> socket.socket:
    """A listening TCP socket in ``ns`` (the kernel completes handshakes from its
    backlog, so a connect succeeds unless something drops it)."""
    def bind():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(64)
        return s
    return netns.call(ns, bind)


plug = probes.plug


@pytest.fixture
def agents(state_root, run_agent):
    """``start(name, where, dhcp=False) -> Agent`` with the L2 and firewall drivers
    (and the DHCP driver); every one started is stopped at teardown."""
    def start(name: str, where: netns.Host, dhcp: bool = False) -> Agent:
        def drivers(client):
            out = [LinuxBridgeDriver(name, where=where, local_ip=LOCAL_IP),
                   FirewallDriver(name, where=where)]
            if dhcp:
                out.append(DhcpDriver(name, client=client, where=where,
                                      state_dir=str(state_root / name)))
            return out
        return run_agent(name, drivers, RESYNC_S)

    return start


def icmp_group(admin, unique, made):
    sg = admin.network.create_security_group(name=unique("rp-sg"))
    made["groups"].append(sg)
    admin.network.create_security_group_rule(security_group_id=sg.id, direction="ingress",
                                             ethertype="IPv4", protocol="icmp")
    return sg


def new_host(hosts, made) -> tuple[str, netns.Host]:
    name = f"rphost-{uuid.uuid4().hex[:6]}"
    made["hosts"].append(name)
    where = hosts("h")
    links.ensure_address(where.root, "lo", f"{LOCAL_IP}/32")
    return name, where


def test_firewall_tables_restored_and_fail_closed(admin, hosts, agents, made, unique):
    name, where = new_host(hosts, made)
    sg = icmp_group(admin, unique, made)
    net = admin.network.create_network(name=unique("rp-net"))
    made["nets"].append(net)
    subnet = admin.network.create_subnet(network_id=net.id, cidr="10.64.0.0/24",
                                         ip_version=4, enable_dhcp=False)
    prefixlen = ipaddress.ip_network(subnet.cidr).prefixlen
    ports = [admin.network.create_port(network_id=net.id, binding_host_id=name,
                                       device_owner="compute:nova",
                                       security_group_ids=[sg.id]) for _ in range(2)]
    ip = [p.fixed_ips[0]["ip_address"] for p in ports]
    vm = [plug(where, f"vm{i}", p, prefixlen) for i, p in enumerate(ports)]
    sock = listen(vm[1], BLOCKED_PORT)
    try:
        agent = agents(name, where)
        for p in ports:
            wait_for(lambda: admin.network.get_port(p.id).status == "ACTIVE",
                     "ports ACTIVE")
        ours = {("inet", TABLE), ("bridge", TABLE), ("bridge", GUARD_TABLE)}
        wait_for(lambda: ours <= tables(where), "our three tables")
        wait_for(lambda: pings(vm[0], ip[1]), "ICMP admitted")
        assert not connects(vm[0], ip[1], BLOCKED_PORT)

        # under a running agent each deleted table comes back through the watch
        for family, table in (("inet", TABLE), ("bridge", TABLE),
                              ("bridge", GUARD_TABLE)):
            fw = agent.drivers[1]
            drifts = fw.drifts
            nft.delete_table(where.root, family, table)
            wait_for(lambda: (family, table) in tables(where),
                     f"{family} {table} restored", REPAIR_S)
            assert fw.drifts > drifts
            wait_for(lambda: pings(vm[0], ip[1]), f"ping after {family} {table} is back")
            assert not connects(vm[0], ip[1], BLOCKED_PORT)

        # a deleted chain is seen by the same one-second look (chain names and handles)
        fw = agent.drivers[1]
        nft.apply(where.root, [nft.cmd("delete", "chain", {
            "family": "bridge", "table": GUARD_TABLE, "name": "forward"})])
        wait_for(lambda: any(o.get("chain", {}).get("name") == "forward" for o in
                             nft.list_table(where.root, "bridge", GUARD_TABLE) or []),
                 "the guard's forward chain restored", REPAIR_S)
        # a flushed rule chain is content: the full look (every 30 s) finds it
        group_chain = f"sg-{sg.id}-i"
        nft.apply(where.root, [nft.cmd("flush", "chain", {
            "family": "inet", "table": TABLE, "name": group_chain})])
        assert not pings(vm[0], ip[1])
        key = fw.check(full=True)
        if key is not None:  # else the watch's own full look was first
            agent.queue.add(key)
        wait_for(lambda: pings(vm[0], ip[1]), "ping after the group's chain is back",
                 REPAIR_S)

        # with no agent to repair them, a missing rich table means no traffic at all
        # for filtered ports (fail closed), never unfiltered traffic
        for family in ("inet", "bridge"):
            agent.stop()
            nft.delete_table(where.root, family, TABLE)
            assert ("bridge", GUARD_TABLE) in tables(where)
            assert not connects(vm[0], ip[1], BLOCKED_PORT), \
                f"TCP passed while {family} {TABLE} was missing"
            assert not pings(vm[0], ip[1]), \
                f"ping passed while {family} {TABLE} was missing"
            agent = agents(name, where)
            wait_for(lambda: (family, TABLE) in tables(where), f"{family} {TABLE} back")
            wait_for(lambda: pings(vm[0], ip[1]), f"ping after {family} {TABLE} is back")
            assert not connects(vm[0], ip[1], BLOCKED_PORT)
        # steady state: the watch finds no drift of its own making
        drifts = agent.drivers[1].drifts
        agent.drivers[1].check(full=True)
        assert agent.drivers[1].drifts == drifts
    finally:
        sock.close()


@pytest.fixture
def computes():
    """``start(host, where, state_dir, data) -> (ComputeAgent, NetnsDriver, stub)``;
    every agent is stopped and every instance destroyed at teardown."""
    started: list[tuple[ComputeAgent, NetnsDriver]] = []

    def start(host: str, where: netns.Host, state_dir: str, data: bytes):
        stub = StubCompute()
        drv = NetnsDriver(host, where=where, state_dir=state_dir,
                          fetch=lambda i: [data], stop_grace_s=3.0)
        agent = ComputeAgent(stub, host, drv, workers=2, resync_s=RESYNC_S,
                             heartbeat_s=1.0, wait_s=1.0, status_interval_s=0.2)
        agent.start()
        started.append((agent, drv))
        return agent, drv, stub

    yield start
    for agent, drv in started:
        agent.stop()
        for leftover in list(drv.list_instances()):
            drv.destroy(leftover)


def guest_ipv4(drv: NetnsDriver, iid: str) -> str:
    try:
        out = subprocess.run(drv.enter_argv(iid) + ["ip", "-4", "-o", "addr", "show",
                                                     "dev", "eth0"],
                             capture_output=True, text=True, timeout=10).stdout
    except Exception:  # noqa: BLE001 - not running (yet)
        return ""
    return out


def test_instance_tap_replugged_gets_its_address_back(admin, hosts, agents, computes,
                                                      made, unique, image, state_root):
    img, data = image
    name, where = new_host(hosts, made)
    sg = icmp_group(admin, unique, made)
    net = admin.network.create_network(name=unique("rp-dnet"))
    made["nets"].append(net)
    subnet = admin.network.create_subnet(network_id=net.id, cidr="10.65.0.0/24",
                                         ip_version=4, enable_dhcp=True)
    prefixlen = ipaddress.ip_network(subnet.cidr).prefixlen
    vm_port, peer_port = (admin.network.create_port(
        network_id=net.id, binding_host_id=name, device_owner="compute:nova",
        security_group_ids=[sg.id]) for _ in range(2))
    vm_ip = vm_port.fixed_ips[0]["ip_address"]
    peer = plug(where, "peer", peer_port, prefixlen)
    agents(name, where, dhcp=True)
    _, drv, stub = computes(name, where, str(state_root / "compute"), data)
    mtu = admin.network.get_network(net.id).mtu
    inst = stub.put(instance(name, 0x1c, image=img, hostname="vm-replug", ports=[{
        "id": vm_port.id, "mac_address": vm_port.mac_address, "mtu": mtu,
        "network_id": net.id, "fixed_ips": vm_port.fixed_ips}]))
    iid = inst["id"]
    tap = names.tap(vm_port.id)

    wait_for(lambda: admin.network.get_port(vm_port.id).status == "ACTIVE",
             "the instance's port ACTIVE")
    wait_for(lambda: f"{vm_ip}/{prefixlen}" in guest_ipv4(drv, iid), "the guest's lease")
    wait_for(lambda: pings(peer, vm_ip), "the peer pings the guest")
    before = links.get_link(where.root, tap)

    links.delete_link(where.root, tap)

    def replugged():
        cur = links.get_link(where.root, tap)
        bridge = links.get_link(where.root, names.bridge(net.id))
        return (cur is not None and bridge is not None and cur.index != before.index
                and cur.master == bridge.index and cur.up)
    wait_for(replugged, "the tap made again and plugged", REPAIR_S)
    wait_for(lambda: f"{vm_ip}/{prefixlen}" in guest_ipv4(drv, iid),
             "the guest's address back")
    wait_for(lambda: pings(peer, vm_ip), "the peer pings the guest again")
    assert "re-plugged" in (drv.console(iid) or "")
