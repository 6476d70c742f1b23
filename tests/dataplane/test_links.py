"""netns, links and names, for real: two hosts joined by a veth underlay, a bridge and a
VXLAN device in each with static FDB entries, two instances pinging across."""
from __future__ import annotations

import os

import pytest

from kumo.agent.dataplane import KumoDataplaneError, links, names, netns

VNI = 1001
NET = "5f0c2e4a-9d1b-4c7e-8a43-0123456789ab"


def ping(ns: netns.Netns, addr: str, tries: int = 1) -> bool:
    for _ in range(tries):
        if netns.run(ns, ["ping", "-c", "1", "-W", "1", addr], check=False).returncode == 0:
            return True
    return False


def build_host(host: netns.Host, underlay: str, local: str, instance_ip: str,
               port_id: str) -> tuple[netns.Netns, str]:
    """Bridge + VXLAN on ``host``, one instance namespace wired into the bridge."""
    ns = host.root
    links.ensure_address(ns, underlay, f"{local}/24")
    links.ensure_bridge(ns, names.bridge(NET), mtu=1450)
    links.ensure_vxlan(ns, names.vxlan(VNI), VNI, local, dev=underlay, mtu=1450,
                       master=names.bridge(NET))
    vm = netns.ensure_netns(host, "vm")
    tap = names.tap(port_id)
    links.ensure_veth(ns, tap, "eth0", vm, mtu=1450)
    links.set_master(ns, tap, names.bridge(NET))
    links.ensure_address(vm, "eth0", f"{instance_ip}/24")
    return vm, tap


def test_names():
    pid = "0123456789abcdef-rest"
    assert names.tap(pid) == "tap0123456789a"
    assert names.router_interface(pid) == "qr-0123456789a"
    assert names.router_gateway(pid) == "qg-0123456789a"
    assert names.ha(pid) == "ha-0123456789a"
    assert names.bridge(NET) == "brq5f0c2e4a-9d"
    assert names.router_ns("r1") == "qrouter-r1" and names.dhcp_ns("n1") == "qdhcp-n1"
    assert names.vxlan(7) == "vxlan-7"
    with pytest.raises(ValueError):
        names.vxlan(1 << 24)
    for ours in ("qrouter-r1", "qdhcp-n1", "tap0123456789a", "qr-x", "qg-x", "brqabc",
                 "vxlan-7", "ha-x"):
        assert names.is_ours(ours), ours
    for other in ("eth0", "lo", "br-ex", "vxlan-x", "tap", "docker0", "qrouter-",
                  "tap0123456789abcdef"):
        assert not names.is_ours(other), other


def test_netns_lifecycle_and_run(hosts):
    h = hosts("h")
    assert netns.list_netns(h) == []
    ns = netns.ensure_netns(h, "qrouter-x")
    assert netns.ensure_netns(h, "qrouter-x") == ns  # idempotent
    assert netns.list_netns(h) == ["qrouter-x"]
    assert links.get_link(ns, "lo").up
    # a command and a callable both run inside the namespace
    out = netns.run(ns, ["ip", "-o", "link"]).stdout
    assert "lo:" in out and len(out.strip().splitlines()) == 1
    inode = netns.call(ns, lambda: os.stat("/proc/thread-self/ns/net").st_ino)
    assert inode == os.stat(ns.path).st_ino
    assert os.stat("/proc/thread-self/ns/net").st_ino != inode  # caller did not move
    with netns.in_netns(ns):
        assert os.stat("/proc/thread-self/ns/net").st_ino == inode
    assert os.stat("/proc/thread-self/ns/net").st_ino != inode
    with pytest.raises(KumoDataplaneError) as e:
        netns.run(ns, ["false"])
    assert "false" in str(e.value)
    with pytest.raises(KumoDataplaneError):
        netns.run(ns, ["no-such-command-kumo"])
    netns.delete_netns(h, "qrouter-x")
    netns.delete_netns(h, "qrouter-x")  # ignores missing
    assert netns.list_netns(h) == []
    with pytest.raises(KumoDataplaneError):
        links.list_links(h.ns("qrouter-x"))


def test_same_name_on_two_hosts(hosts):
    a, b = hosts("a"), hosts("b")
    na = netns.ensure_netns(a, "qrouter-same")
    nb = netns.ensure_netns(b, "qrouter-same")
    assert os.stat(na.path).st_ino != os.stat(nb.path).st_ino
    links.ensure_bridge(na, "brqonly-a")
    assert links.get_link(nb, "brqonly-a") is None


def test_vxlan_between_two_hosts(hosts):
    h1, h2 = hosts("h1"), hosts("h2")
    links.ensure_veth(h1.root, "u1", "u2", h2.root)
    vm1, tap1 = build_host(h1, "u1", "10.99.0.1", "10.100.0.11", "aaaaaaaaaaaa-1")
    vm2, tap2 = build_host(h2, "u2", "10.99.0.2", "10.100.0.12", "bbbbbbbbbbbb-2")
    vx = names.vxlan(VNI)
    for h in (h1, h2):
        info = links.get_link(h.root, vx)
        assert info.kind == "vxlan" and info.mtu == 1450
        assert info.vxlan["id"] == VNI and info.vxlan["port"] == 4789
        assert not info.vxlan["learning"]
        assert info.master == links.get_link(h.root, names.bridge(NET)).index
    # no FDB entries yet: learning is off, so nothing crosses
    assert not ping(vm1, "10.100.0.12")
    mac1 = links.get_link(vm1, "eth0").mac
    mac2 = links.get_link(vm2, "eth0").mac
    # L2 population: flood entries towards the other VTEP, a per-MAC entry, ARP entries
    links.ensure_fdb_flood(h1.root, vx, "10.99.0.2")
    links.ensure_fdb_flood(h2.root, vx, "10.99.0.1")
    links.ensure_fdb_flood(h1.root, vx, "10.99.0.2")  # idempotent
    links.ensure_fdb(h1.root, vx, mac2, "10.99.0.2")
    links.ensure_fdb(h2.root, vx, mac1, "10.99.0.1")
    links.ensure_neigh(h1.root, vx, "10.100.0.12", mac2)
    assert ("10.100.0.12", mac2) in links.list_neigh(h1.root, vx)
    fdb = links.list_fdb(h1.root, vx)
    assert fdb.count((links.ZERO_MAC, "10.99.0.2")) == 1 and (mac2, "10.99.0.2") in fdb
    assert ping(vm1, "10.100.0.12", tries=3)
    assert ping(vm2, "10.100.0.11")
    # removing the entries on one side stops the traffic again
    links.delete_fdb_flood(h2.root, vx, "10.99.0.1")
    links.delete_fdb(h2.root, vx, mac1, "10.99.0.1")
    links.delete_fdb(h2.root, vx, mac1, "10.99.0.1")  # ignores missing
    assert links.list_fdb(h2.root, vx) == []
    links.delete_neigh(h1.root, vx, "10.100.0.12")
    links.delete_neigh(h1.root, vx, "10.100.0.12")
    assert links.list_neigh(h1.root, vx) == []
    # ensure_* again changes nothing and keeps traffic working
    links.ensure_fdb_flood(h2.root, vx, "10.99.0.1")
    build_host(h1, "u1", "10.99.0.1", "10.100.0.11", "aaaaaaaaaaaa-1")
    assert ping(vm1, "10.100.0.12", tries=3)
    # a VXLAN device with other parameters is recreated
    links.ensure_vxlan(h1.root, vx, VNI, "10.99.0.1", dstport=4790)
    assert links.get_link(h1.root, vx).vxlan["port"] == 4790


def test_link_settings_addresses_routes_sysctls(scratch):
    ns, peer = scratch("a"), scratch("b")
    link = links.ensure_veth(ns, "qr-test", "qg-test", peer, mtu=1400)
    assert link.kind == "veth" and link.up and link.mtu == 1400
    assert links.ensure_veth(ns, "qr-test", "qg-test", peer, mtu=1400).index == link.index
    assert links.get_link(peer, "qg-test").mtu == 1400
    links.set_mtu(ns, "qr-test", 1300)
    links.set_mac(ns, "qr-test", "fa:16:3e:00:00:01")
    links.set_down(ns, "qr-test")
    got = links.get_link(ns, "qr-test")
    assert (got.mtu, got.mac, got.up) == (1300, "fa:16:3e:00:00:01", False)
    links.set_up(ns, "qr-test")
    links.ensure_bridge(ns, "brqtest")
    links.set_master(ns, "qr-test", "brqtest")
    assert links.get_link(ns, "qr-test").master == links.get_link(ns, "brqtest").index
    links.set_master(ns, "qr-test", None)
    assert links.get_link(ns, "qr-test").master is None
    with pytest.raises(KumoDataplaneError) as e:
        links.ensure_bridge(ns, "qr-test")
    assert "exists as veth" in str(e.value)
    with pytest.raises(KumoDataplaneError) as e:
        links.set_up(ns, "nope0")
    assert e.value.errno == 19
    # addresses
    links.ensure_address(ns, "qr-test", "10.98.0.1/24")
    links.ensure_address(ns, "qr-test", "10.98.0.1/24")
    links.ensure_address(ns, "qr-test", "10.98.1.1/24")
    links.ensure_address(ns, "qr-test", "fd00::1/64")
    assert links.list_addresses(ns, "qr-test", 4) == ["10.98.0.1/24", "10.98.1.1/24"]
    assert "fd00::1/64" in links.list_addresses(ns, "qr-test", 6)
    links.delete_address(ns, "qr-test", "10.98.1.1/24")
    links.delete_address(ns, "qr-test", "10.98.1.1/24")
    assert links.list_addresses(ns, "qr-test", 4) == ["10.98.0.1/24"]
    links.ensure_address(peer, "qg-test", "10.98.0.2/24")
    assert ping(ns, "10.98.0.2", tries=3)
    # routes
    links.ensure_route(ns, "10.97.0.0/16", gateway="10.98.0.2")
    links.ensure_route(ns, "10.97.0.0/16", gateway="10.98.0.2")
    links.ensure_default_route(ns, "10.98.0.2")
    routes = links.list_routes(ns)
    assert {"dst": "10.97.0.0/16", "gateway": "10.98.0.2", "dev": "qr-test"} in routes
    assert {"dst": "0.0.0.0/0", "gateway": "10.98.0.2", "dev": "qr-test"} in routes
    links.ensure_route(ns, "10.97.0.0/16", dev="qr-test")  # replace
    assert {"dst": "10.97.0.0/16", "gateway": None, "dev": "qr-test"} in links.list_routes(ns)
    links.delete_route(ns, "10.97.0.0/16")
    links.delete_route(ns, "10.97.0.0/16")
    links.delete_route(ns, "default")
    assert [r["dst"] for r in links.list_routes(ns)] == ["10.98.0.0/24"]
    with pytest.raises(KumoDataplaneError):
        links.ensure_route(ns, "10.96.0.0/16", gateway="192.0.2.1")  # unreachable gw
    # sysctls, per namespace
    links.set_ip_forward(ns, True)
    links.set_proxy_arp(ns, "qr-test", True)
    links.set_accept_ra(ns, "qr-test", 2)
    assert links.get_sysctl(ns, "net.ipv4.ip_forward") == "1"
    assert links.get_sysctl(peer, "net.ipv4.ip_forward") == "0"
    assert links.get_sysctl(ns, "/proc/sys/net/ipv4/conf/qr-test/proxy_arp") == "1"
    assert links.get_sysctl(ns, "/proc/sys/net/ipv6/conf/qr-test/accept_ra") == "2"
    links.flush_addresses(ns, "qr-test")
    assert links.list_addresses(ns, "qr-test", 4) == []
    # deletion, idempotent; the peer goes with it
    assert links.delete_link(ns, "qr-test") is True
    assert links.delete_link(ns, "qr-test") is False
    assert links.get_link(peer, "qg-test") is None
    assert {lk.name for lk in links.list_links(ns)} == {"lo", "brqtest"}


def test_scan_and_filtered_dumps_match_pyroute2(scratch):
    """``scan_links`` (raw dump, struct-decoded) reads what ``list_links`` reads;
    ``list_fdb``/``list_neigh`` (dumps the kernel filters to one device) give that
    device's entries, not another's."""
    ns, peer = scratch("a"), scratch("b")
    links.ensure_bridge(ns, "brqscan", mtu=1450)
    links.ensure_address(ns, "brqscan", "10.98.0.1/24")
    links.ensure_veth(ns, "tapscan1", "eth0", peer, mtu=1450)
    links.set_link(ns, "tapscan1", master="brqscan", mtu=1400, up=False)
    links.ensure_veth(ns, "tapscan2", "eth1", peer)
    for vni in (2001, 2002):
        links.ensure_vxlan(ns, names.vxlan(vni), vni, "10.98.0.1", mtu=1450,
                           master="brqscan" if vni == 2001 else None)
    scanned = links.scan_links(ns)
    full = {lk.name: lk for lk in links.list_links(ns)}
    assert set(scanned) == set(full)
    for name, lk in full.items():
        got = scanned[name]
        assert (got.index, got.kind, got.mtu, got.up, got.master) == \
            (lk.index, lk.kind, lk.mtu, lk.up, lk.master), name
    tap = scanned["tapscan1"]
    assert (tap.master, tap.mtu, tap.up) == (scanned["brqscan"].index, 1400, False)
    one, two = names.vxlan(2001), names.vxlan(2002)
    links.ensure_fdb_flood(ns, one, "10.98.0.7")
    links.ensure_fdb(ns, one, "fa:16:3e:00:00:07", "10.98.0.7")
    links.ensure_fdb(ns, two, "fa:16:3e:00:00:08", "10.98.0.8")
    links.ensure_neigh(ns, one, "10.97.0.7", "fa:16:3e:00:00:07")
    links.ensure_neigh(ns, one, "fd00:97::7", "fa:16:3e:00:00:07")
    links.ensure_neigh(ns, two, "10.97.0.8", "fa:16:3e:00:00:08")
    assert sorted(links.list_fdb(ns, one)) == sorted(
        [(links.ZERO_MAC, "10.98.0.7"), ("fa:16:3e:00:00:07", "10.98.0.7")])
    assert links.list_fdb(ns, two) == [("fa:16:3e:00:00:08", "10.98.0.8")]
    assert sorted(links.list_neigh(ns, one)) == [
        ("10.97.0.7", "fa:16:3e:00:00:07"), ("fd00:97::7", "fa:16:3e:00:00:07")]
    assert links.list_neigh(ns, two) == [("10.97.0.8", "fa:16:3e:00:00:08")]
