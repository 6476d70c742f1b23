"""The DHCP driver for real: Agents running the Linux-bridge L2 driver and the DHCP
driver in simulated hosts (namespaces) against a real ``kumo up``; "instances" are
namespaces whose ``eth0`` (the port's MAC, no address) pairs with ``tap<port[:11]>``
and asks for a lease with busybox ``udhcpc``. Checked: the DHCP port made through the
API, ``qdhcp-`` with its ``ns-`` leg, leases with the port's address, gateway, MTU and
classless routes, traffic between instances, SIGHUP (same dnsmasq pid) for new ports
and changed ``extra_dhcp_opts``, an agent restart keeping dnsmasq, isolated metadata
(a fake proxy) switching off when a router interface appears, orphan cleanup, and
teardown when the network is no longer served. Every dnsmasq started under the test's
state directory is killed and every namespace removed, pass or fail."""
from __future__ import annotations

import ipaddress
import os
import uuid

import pytest

from kumo.agent.dataplane import dnsmasq, links, names, netns
from kumo.agent.dhcp import DhcpDriver, device_id, ns_device
from kumo.agent.l2 import LinuxBridgeDriver
from tests import waiting
from tests.dataplane import probes

WAIT_S = 60.0
pings = probes.pings
_procs_under = probes.procs_under
UNDERLAY = {"A": "10.97.0.1", "B": "10.97.0.2"}
CIDR = "10.63.0.0/24"


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout)


class FakeMetadata:
    """Records ensure/remove calls of the isolated-metadata hook."""

    def __init__(self):
        self.active: set[str] = set()
        self.calls: list[tuple[str, str]] = []

    def ensure(self, ns, *, network_id):
        assert ns.exists()
        self.active.add(network_id)
        self.calls.append(("ensure", network_id))

    def remove(self, ns, *, network_id):
        self.active.discard(network_id)
        self.calls.append(("remove", network_id))


@pytest.fixture
def agents(state_root, run_agent):
    """``start(name, where, local_ip, metadata=None) -> (Agent, DhcpDriver)``: an Agent
    with the L2 and DHCP drivers; every one started is stopped at teardown."""
    def start(name: str, where: netns.Host, local_ip: str, metadata=None):
        agent = run_agent(name, lambda client: [
            LinuxBridgeDriver(name, where=where, local_ip=local_ip),
            DhcpDriver(name, client=client, where=where,
                       state_dir=str(state_root / name), metadata=metadata)], 2.0)
        return agent, agent.drivers[1]

    return start


@pytest.fixture
def network(admin, unique):
    net = admin.network.create_network(name=unique("dhcp-net"))
    subnet = admin.network.create_subnet(network_id=net.id, cidr=CIDR, ip_version=4,
                                         enable_dhcp=True, dns_nameservers=["10.63.0.53"],
                                         host_routes=[{"destination": "192.0.2.0/24",
                                                       "nexthop": "10.63.0.254"}])
    yield net, subnet
    for router in list(admin.network.routers(name=net.name)):
        for port in admin.network.ports(device_id=router.id):
            admin.network.remove_interface_from_router(router, port=port.id)
        admin.network.delete_router(router)
    for port in admin.network.ports(network_id=net.id):
        admin.network.delete_port(port.id)
    if admin.network.find_network(net.id) is not None:
        admin.network.delete_network(net.id)


def underlay(where: netns.Host, h: str) -> None:
    links.ensure_veth(where.root, f"ul-{h}", f"ul-{h}x")
    links.ensure_address(where.root, f"ul-{h}", f"{UNDERLAY[h.upper()]}/24")


def plug(host: netns.Host, port, vm: str) -> netns.Netns:
    """An instance namespace ``vm`` whose ``eth0`` (the port's MAC, no address) pairs
    with ``tap<port[:11]>`` on ``host``."""
    ns = netns.ensure_netns(host, vm)
    links.ensure_veth(host.root, names.tap(port.id), "eth0", ns, up=False)
    links.set_mac(ns, "eth0", port.mac_address)
    links.set_up(ns, "eth0")
    return ns


def lease(ns: netns.Netns, script_dir, tag: str) -> dict | None:
    """One ``udhcpc`` run in ``ns``: the lease's variables, or None without a lease."""
    out = script_dir / f"lease-{tag}"
    script = script_dir / f"script-{tag}"
    script.write_text(f'#!/bin/sh\n[ "$1" = bound ] && env > {out}\nexit 0\n')
    script.chmod(0o755)
    if out.exists():
        out.unlink()
    netns.run(ns, ["/bin/busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3",
                   "-T", "1", "-s", str(script), "-O", "mtu", "-O", "staticroutes",
                   "-O", "ntpsrv"], check=False, timeout=20)
    if not out.exists():
        return None
    return dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)


def prefixlen(mask: str) -> int:
    return ipaddress.ip_network(f"0.0.0.0/{mask}").prefixlen


def dhcp_port(admin, net_id: str, host: str):
    found = list(admin.network.ports(network_id=net_id, device_owner="network:dhcp",
                                     device_id=device_id(host, net_id)))
    return found[0] if len(found) == 1 else None


def test_dhcp_single_host(cloud, admin, network, hosts, agents, tmp_path):
    net, subnet = network
    name = f"dhcpA-{uuid.uuid4().hex[:6]}"
    where = hosts("a")
    underlay(where, "a")
    # leftovers of an earlier life: an orphan qdhcp- and a stale config dir; and a
    # namespace that is not ours
    orphan = names.dhcp_ns(str(uuid.uuid4()))
    netns.ensure_netns(where, orphan)
    netns.ensure_netns(where, "not-ours")
    stale = tmp_path / "agents" / name / "dhcp" / str(uuid.uuid4())
    stale.mkdir(parents=True)

    ports = [admin.network.create_port(network_id=net.id, binding_host_id=name,
                                       device_owner="compute:nova") for _ in range(2)]
    vms = [plug(where, p, f"vm{i}") for i, p in enumerate(ports)]
    md = FakeMetadata()
    agent, driver = agents(name, where, UNDERLAY["A"], metadata=md)

    port = wait_for(lambda: dhcp_port(admin, net.id, name), "the DHCP port")
    assert port.binding_host_id == name
    assert [f["subnet_id"] for f in port.fixed_ips] == [subnet.id]
    dhcp_ip = port.fixed_ips[0]["ip_address"]
    wait_for(lambda: admin.network.get_port(port.id).status == "ACTIVE", "DHCP port ACTIVE")
    qdhcp = where.ns(names.dhcp_ns(net.id))
    files = driver.files(net.id)
    pid = wait_for(lambda: (r := dnsmasq.running(files)) and r[0], "dnsmasq running")
    dev = links.get_link(qdhcp, ns_device(port.id))
    assert dev.mac == port.mac_address and dev.mtu == net.mtu and dev.up
    addrs = links.list_addresses(qdhcp, ns_device(port.id), 4)
    assert f"{dhcp_ip}/24" in addrs and "169.254.169.254/32" in addrs
    assert md.active == {net.id}

    # both instances get their port's address, the gateway, MTU and routes
    got = []
    for i, (p, vm) in enumerate(zip(ports, vms)):
        env = wait_for(lambda: lease(vm, tmp_path, f"vm{i}"), f"a lease for vm{i}")
        assert env["ip"] == p.fixed_ips[0]["ip_address"]
        assert env["router"] == subnet.gateway_ip
        assert env["mtu"] == str(net.mtu)
        assert env["dns"].split() == ["10.63.0.53"]
        routes = env["staticroutes"].split()
        pairs = list(zip(routes[::2], routes[1::2]))
        assert (CIDR, "0.0.0.0") in pairs and ("192.0.2.0/24", "10.63.0.254") in pairs
        assert ("169.254.169.254/32", dhcp_ip) in pairs
        assert ("0.0.0.0/0", subnet.gateway_ip) in pairs
        links.ensure_address(vm, "eth0", f"{env['ip']}/{prefixlen(env['subnet'])}")
        got.append(env["ip"])
    wait_for(lambda: pings(vms[0], got[1]), "vm0 pings vm1")
    assert pings(vms[1], dhcp_ip)

    # orphans: ours go, others stay
    wait_for(lambda: orphan not in netns.list_netns(where) and not stale.exists(),
             "the orphan qdhcp- and stale config dir removed")
    assert "not-ours" in netns.list_netns(where)

    # a new port, then a changed port (extra_dhcp_opts): served after SIGHUP, same pid
    new = admin.network.create_port(network_id=net.id, binding_host_id=name,
                                    device_owner="compute:nova")
    vm2 = plug(where, new, "vm2")
    env = wait_for(lambda: lease(vm2, tmp_path, "vm2"), "a lease for the new port")
    assert env["ip"] == new.fixed_ips[0]["ip_address"]
    assert dnsmasq.running(files)[0] == pid
    admin.network.update_port(ports[1].id, extra_dhcp_opts=[
        {"opt_name": "ntp-server", "opt_value": "10.63.0.123"}])
    env = wait_for(lambda: (e := lease(vms[1], tmp_path, "vm1b")) and e.get("ntpsrv") and e,
                   "the new option in vm1's lease")
    assert env["ntpsrv"] == "10.63.0.123"
    assert "ntpsrv" not in (lease(vms[0], tmp_path, "vm0b") or {"ntpsrv": "missing lease"})
    assert dnsmasq.running(files)[0] == pid

    # agent restart: dnsmasq keeps running, untouched
    agent.stop()
    agent, driver = agents(name, where, UNDERLAY["A"], metadata=md)
    wait_for(lambda: driver.configurations()["networks"] == 1,
             "the restarted agent's DHCP driver synced the network")
    agent.cleanup_orphans()
    assert dnsmasq.running(files)[0] == pid
    assert lease(vms[0], tmp_path, "vm0c")["ip"] == got[0]

    # a router interface on the subnet: metadata is no longer isolated
    router = admin.network.create_router(name=net.name)
    admin.network.add_interface_to_router(router, subnet=subnet.id)
    wait_for(lambda: net.id not in md.active, "isolated metadata removed")
    wait_for(lambda: "169.254.169.254/32" not in links.list_addresses(
        qdhcp, ns_device(port.id), 4), "the metadata address removed")
    env = wait_for(lambda: (e := lease(vms[0], tmp_path, "vm0d"))
                   and f"169.254.169.254/32 {subnet.gateway_ip}" in e["staticroutes"] and e,
                   "metadata routed via the router")
    # (with extra_dhcp_opts loaded, changes restart dnsmasq: a dnsmasq 2.90 SIGHUP crash)
    assert dnsmasq.running(files) is not None

    # no instance left: the network is not served; everything of it goes
    for p in ports + [new]:
        admin.network.delete_port(p.id)
    wait_for(lambda: dnsmasq.running(files) is None
             and names.dhcp_ns(net.id) not in netns.list_netns(where)
             and not os.path.exists(files.dir), "qdhcp-, dnsmasq and files removed")
    wait_for(lambda: dhcp_port(admin, net.id, name) is None, "the DHCP port deleted")
    assert _procs_under(files.dir) == []
    assert links.get_link(where.root, names.tap(port.id)) is None


def test_dhcp_network_delete(cloud, admin, network, hosts, agents):
    """Deleting the network (its instance ports first) removes the DHCP service."""
    net, _ = network
    name = f"dhcpD-{uuid.uuid4().hex[:6]}"
    where = hosts("d")
    underlay(where, "a")
    p = admin.network.create_port(network_id=net.id, binding_host_id=name)
    plug(where, p, "vm")
    _, driver = agents(name, where, UNDERLAY["A"])
    files = driver.files(net.id)
    wait_for(lambda: dnsmasq.running(files), "dnsmasq running")
    admin.network.delete_port(p.id)
    admin.network.delete_network(net.id)
    wait_for(lambda: dnsmasq.running(files) is None
             and names.dhcp_ns(net.id) not in netns.list_netns(where)
             and not os.path.exists(files.dir), "qdhcp-, dnsmasq and files removed")
    assert list(admin.network.ports(network_id=net.id)) == []


def test_dhcp_two_hosts(cloud, admin, network, hosts, agents, tmp_path):
    """An instance on each host: both hosts serve the network, both instances get
    their leases and reach each other across VXLAN."""
    net, subnet = network
    suffix = uuid.uuid4().hex[:6]
    name = {"A": f"dhcpA-{suffix}", "B": f"dhcpB-{suffix}"}
    where = {"A": hosts("a"), "B": hosts("b")}
    links.ensure_veth(where["A"].root, "ul-a", "ul-b", where["B"].root)
    links.ensure_address(where["A"].root, "ul-a", f"{UNDERLAY['A']}/24")
    links.ensure_address(where["B"].root, "ul-b", f"{UNDERLAY['B']}/24")
    port = {h: admin.network.create_port(network_id=net.id, binding_host_id=name[h])
            for h in "AB"}
    vm = {h: plug(where[h], port[h], "vm") for h in "AB"}
    drivers = {h: agents(name[h], where[h], UNDERLAY[h])[1] for h in "AB"}
    for h in "AB":
        wait_for(lambda: dnsmasq.running(drivers[h].files(net.id)), f"dnsmasq on {h}")
        assert dhcp_port(admin, net.id, name[h]) is not None
    ips = {}
    for h in "AB":
        env = wait_for(lambda: lease(vm[h], tmp_path, f"vm{h}"), f"a lease on {h}")
        assert env["ip"] == port[h].fixed_ips[0]["ip_address"]
        links.ensure_address(vm[h], "eth0", f"{env['ip']}/{prefixlen(env['subnet'])}")
        ips[h] = env["ip"]
    # each host's dnsmasq knows the other host's instance too
    for h in "AB":
        hosts_file = open(drivers[h].files(net.id).hosts).read()
        assert all(port[x].mac_address in hosts_file for x in "AB")
    wait_for(lambda: pings(vm["A"], ips["B"]), "A pings B")


def test_dhcp_dual_stack_command_line(cloud, admin, network, hosts, agents):
    """IPv6 subnets: a SLAAC subnet becomes an ``ra-only`` range with ``--enable-ra``,
    a stateful one a static range with bracketed static leases; ``ns-`` carries the
    DHCP port's IPv6 addresses and dnsmasq accepts the command line."""
    net, v4 = network
    slaac = admin.network.create_subnet(network_id=net.id, cidr="fd63:1::/64", ip_version=6,
                                        ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    stateful = admin.network.create_subnet(network_id=net.id, cidr="fd63:2::/64",
                                           ip_version=6,
                                           ipv6_address_mode="dhcpv6-stateful")
    name = f"dhcp6-{uuid.uuid4().hex[:6]}"
    where = hosts("v6")
    underlay(where, "a")
    p = admin.network.create_port(network_id=net.id, binding_host_id=name)
    plug(where, p, "vm")
    _, driver = agents(name, where, UNDERLAY["A"])
    files = driver.files(net.id)
    pid, argv = wait_for(lambda: dnsmasq.running(files), "dnsmasq running")
    assert f"--dhcp-range=set:subnet-{slaac.id},fd63:1::,ra-only,64,86400s" in argv
    assert f"--dhcp-range=set:subnet-{stateful.id},fd63:2::,static,64,86400s" in argv
    assert f"--dhcp-range=set:subnet-{v4.id},10.63.0.0,static,255.255.255.0,86400s" in argv
    assert "--enable-ra" in argv
    port = dhcp_port(admin, net.id, name)
    assert {f["subnet_id"] for f in port.fixed_ips} == {v4.id, slaac.id, stateful.id}
    qdhcp = where.ns(names.dhcp_ns(net.id))
    have = links.list_addresses(qdhcp, ns_device(port.id), 6)
    for f in port.fixed_ips:
        if ":" in f["ip_address"]:
            assert f"{f['ip_address']}/64" in have
    hosts_file = open(files.hosts).read()
    v6 = next(f["ip_address"] for f in p.fixed_ips if f["subnet_id"] == stateful.id)
    assert f"{p.mac_address},{dnsmasq.hostname(v6)}.openstacklocal,[{v6}]" in hosts_file
    # DHCP off on a subnet changes the ranges: dnsmasq restarts with the new command line
    admin.network.update_subnet(slaac.id, enable_dhcp=False)
    wait_for(lambda: (r := dnsmasq.running(files)) and "--enable-ra" not in r[1],
             "dnsmasq restarted without the SLAAC range")


def test_dhcp_port_without_a_free_address(cloud, admin, unique, hosts, agents):
    """A subnet full before the DHCP port is made: the API refuses the port (409); the
    instance port still goes ACTIVE (the L2 driver's report is not lost), and the DHCP
    agent shows the error, once, as permanent, in ``openstack network agent show``."""
    name = f"dhcpF-{uuid.uuid4().hex[:6]}"
    net = admin.network.create_network(name=unique("dhcp-full"))
    try:
        # a /30: the gateway .1 and one more address, which the instance takes
        admin.network.create_subnet(network_id=net.id, cidr="10.62.0.0/30", ip_version=4,
                                    enable_dhcp=True)
        where = hosts("f")
        underlay(where, "a")
        p = admin.network.create_port(network_id=net.id, binding_host_id=name)
        plug(where, p, "vm")
        agent, _ = agents(name, where, UNDERLAY["A"])
        wait_for(lambda: admin.network.get_port(p.id).status == "ACTIVE",
                 "the instance port ACTIVE")

        def shown():
            rows = list(admin.network.agents(host=name, agent_type="DHCP agent"))
            errs = rows[0].configuration.get("errors") if rows else None
            return errs or None
        errs = wait_for(shown, "the DHCP agent showing the error")
        assert {e["driver"] for e in errs} == {"dhcp"}
        assert all(e["permanent"] for e in errs)
        assert any("No more IP addresses" in e["error"] for e in errs)
        row = cloud.cli("network", "agent", "show", list(admin.network.agents(
            host=name, agent_type="DHCP agent"))[0].id)
        assert "No more IP addresses" in str(row)
        assert dhcp_port(admin, net.id, name) is None
        assert admin.network.get_port(p.id).status == "ACTIVE"
    finally:
        for port in admin.network.ports(network_id=net.id):
            admin.network.delete_port(port.id)
        admin.network.delete_network(net.id)
