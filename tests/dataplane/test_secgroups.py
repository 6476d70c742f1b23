"""The nftables firewall driver for real: one simulated host running an Agent with the
Linux-bridge L2 driver and the firewall driver against a real ``kumo up`` server, three
instance namespaces with static addresses on one network (no DHCP). Rules added through
the API open traffic without restarting anything, a remote-group rule admits members
only, spoofed source addresses and MACs are dropped, ``port_security_enabled`` false lets
everything through, and removing the ports removes our tables. Every namespace (and so
every link, table and process) is removed at the end, pass or fail."""
from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import uuid

import pytest

from kumo.agent.agent import Agent
from kumo.agent.dataplane import links, names, netns, nft
from kumo.agent.l2 import LinuxBridgeDriver
from kumo.agent.secgroups import FirewallDriver
from kumo.agent.sgmodel import TABLE
from tests import waiting
from tests.dataplane import probes

WAIT_S = 90.0
LOCAL_IP = "10.98.7.1"
PORTS = (22, 23)
# A TCP server answering "ok" on each port, exiting by itself after 300 s at the latest.
SERVER = """
import select, socket, sys, time
socks = []
for p in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(p))); s.listen(16); socks.append(s)
print("ready", flush=True)
end = time.monotonic() + 300
while time.monotonic() < end:
    for s in select.select(socks, [], [], 1.0)[0]:
        c, _ = s.accept(); c.sendall(b"ok"); c.close()
"""


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout)


def pings(ns: netns.Netns, addr: str, source: str | None = None) -> bool:
    return probes.pings(ns, addr, source=source, interval=0.2)


def connects(ns: netns.Netns, addr: str, port: int) -> bool:
    return probes.connects(ns, addr, port, timeout=1.5, expect=b"ok")


def chains(host: netns.Host) -> set[str] | None:
    objs = nft.list_table(host.root, "inet", TABLE)
    return None if objs is None else {o["chain"]["name"] for o in objs if "chain" in o}


@pytest.fixture
def agents(run_agent):
    def start(name: str, where: netns.Host) -> Agent:
        return run_agent(name, lambda client: [
            LinuxBridgeDriver(name, where=where, local_ip=LOCAL_IP),
            FirewallDriver(name, where=where)], 2.0)

    return start


@pytest.fixture
def network(admin, unique):
    net = admin.network.create_network(name=unique("sg-net"))
    subnet = admin.network.create_subnet(network_id=net.id, cidr="10.62.0.0/24",
                                         ip_version=4, enable_dhcp=False)
    groups = []
    yield net, subnet, groups
    for port in admin.network.ports(network_id=net.id):
        admin.network.delete_port(port.id)
    admin.network.delete_network(net.id)
    for g in groups:
        admin.network.delete_security_group(g.id)


@pytest.fixture
def servers():
    procs: list[subprocess.Popen] = []

    def start(ns: netns.Netns) -> None:
        proc = subprocess.Popen(
            ["nsenter", f"--net={ns.path}", sys.executable, "-c", SERVER,
             *map(str, PORTS)], stdout=subprocess.PIPE, text=True,
            start_new_session=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "ready"

    yield start
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


plug = probes.plug


def test_security_groups_in_nftables(admin, network, hosts, agents, servers, unique):
    net, subnet, groups = network
    name = f"sghost-{uuid.uuid4().hex[:6]}"
    where = hosts("h")
    links.ensure_address(where.root, "lo", f"{LOCAL_IP}/32")
    sg_a = admin.network.create_security_group(name=unique("sg-a"))
    sg_b = admin.network.create_security_group(name=unique("sg-b"))
    groups += [sg_a, sg_b]
    prefixlen = ipaddress.ip_network(subnet.cidr).prefixlen
    port = {
        1: admin.network.create_port(network_id=net.id, binding_host_id=name,
                                     security_group_ids=[sg_a.id]),
        2: admin.network.create_port(network_id=net.id, binding_host_id=name,
                                     security_group_ids=[sg_a.id]),
        3: admin.network.create_port(network_id=net.id, binding_host_id=name,
                                     security_group_ids=[sg_b.id]),
    }
    ip = {i: p.fixed_ips[0]["ip_address"] for i, p in port.items()}
    vm = {i: plug(where, f"vm{i}", p, prefixlen) for i, p in port.items()}
    servers(vm[2])
    # before the agent: an orphan chain in our table, someone else's table
    nft.replace_table(where.root, "inet", TABLE, chains=[nft.Chain("o-tapdeadbeef-00")])
    nft.replace_table(where.root, "inet", "other", chains=[nft.Chain("keep")])
    agent = agents(name, where)

    for i in port:
        wait_for(lambda: admin.network.get_port(port[i].id).status == "ACTIVE",
                 f"port {i} ACTIVE")
    wanted = {f"i-{names.tap(p.id)}" for p in port.values()} | {f"sg-{sg_a.id}-i"}
    wait_for(lambda: wanted <= (chains(where) or set()), "the firewall chains")
    assert "o-tapdeadbeef-00" not in chains(where)
    assert ("inet", "other") in nft.list_tables(where.root)

    # no ingress rules: ping and TCP 22 blocked; egress (default rules) allowed
    assert not pings(vm[1], ip[2])
    assert not connects(vm[1], ip[2], 22)
    # add ICMP and TCP 22 from anywhere, and TCP 23 from members of sg-a
    admin.network.create_security_group_rule(security_group_id=sg_a.id,
                                             direction="ingress", ethertype="IPv4",
                                             protocol="icmp")
    admin.network.create_security_group_rule(security_group_id=sg_a.id,
                                             direction="ingress", ethertype="IPv4",
                                             protocol="tcp", port_range_min=22,
                                             port_range_max=22,
                                             remote_ip_prefix="0.0.0.0/0")
    admin.network.create_security_group_rule(security_group_id=sg_a.id,
                                             direction="ingress", ethertype="IPv4",
                                             protocol="tcp", port_range_min=23,
                                             port_range_max=23, remote_group_id=sg_a.id)
    wait_for(lambda: pings(vm[1], ip[2]), "ping after the ICMP rule")
    wait_for(lambda: connects(vm[1], ip[2], 22), "TCP 22 after the rule")
    # remote group: a member gets in on 23, a non-member does not (but does on 22)
    wait_for(lambda: connects(vm[1], ip[2], 23), "member on TCP 23")
    wait_for(lambda: connects(vm[3], ip[2], 22), "non-member on TCP 22")
    assert not connects(vm[3], ip[2], 23)
    # sg-b has no ingress rule: port 3 is closed to everyone
    assert not pings(vm[1], ip[3])

    # spoofed source IP from vm1 is dropped; its own address still works
    links.ensure_address(vm[1], "eth0", f"10.62.0.250/{prefixlen}")
    assert not pings(vm[1], ip[2], source="10.62.0.250")
    wait_for(lambda: pings(vm[1], ip[2]), "ping from the port's own address")
    links.delete_address(vm[1], "eth0", f"10.62.0.250/{prefixlen}")
    # spoofed MAC: dropped; back to its own MAC: passes again
    links.set_mac(vm[1], "eth0", "fa:16:3e:ee:ee:01")
    assert not pings(vm[1], ip[2])
    links.set_mac(vm[1], "eth0", port[1].mac_address)
    wait_for(lambda: pings(vm[1], ip[2]), "ping with the port's own MAC again")

    # an agent restart changes nothing in the kernel (diff, never flush)
    handles = {(o["chain"]["name"], o["chain"]["handle"])
               for o in nft.list_table(where.root, "inet", TABLE) if "chain" in o}
    agent.stop()
    agent = agents(name, where)
    wait_for(lambda: agent.realized_revision is not None, "the restart realized")
    agent.cleanup_orphans()
    assert agent.drivers[1].transactions == 0
    assert {(o["chain"]["name"], o["chain"]["handle"]) for o in nft.list_table(
        where.root, "inet", TABLE) if "chain" in o} == handles
    wait_for(lambda: pings(vm[1], ip[2]), "ping after the restart")

    # port_security_enabled false on port 2: anything goes, in and out, even spoofed
    admin.network.update_port(port[2].id, security_group_ids=[],
                              port_security_enabled=False)
    wait_for(lambda: f"i-{names.tap(port[2].id)}" not in (chains(where) or set()),
             "port 2's chains removed")
    wait_for(lambda: connects(vm[3], ip[2], 23), "non-member on TCP 23 without filtering")
    links.ensure_address(vm[2], "eth0", f"10.62.0.251/{prefixlen}")
    # vm1 admits ICMP from anywhere
    wait_for(lambda: pings(vm[2], ip[1], source="10.62.0.251"), "unfiltered spoofing")

    # ports gone: their chains and sets go, then our tables
    admin.network.delete_port(port[3].id)
    wait_for(lambda: f"i-{names.tap(port[3].id)}" not in (chains(where) or set())
             and f"sg-{sg_b.id}-i" not in (chains(where) or set()), "port 3 cleaned")
    admin.network.delete_port(port[1].id)
    wait_for(lambda: not any(t == TABLE for _, t in nft.list_tables(where.root)),
             "our tables removed")
    assert ("inet", "other") in nft.list_tables(where.root)
