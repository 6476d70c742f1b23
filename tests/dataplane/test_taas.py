"""Tap-as-a-Service on the kernel for real: one simulated host running an Agent with
the Linux-bridge L2 driver and the TaaS driver against a real ``kumo up`` server; three
instance namespaces on one network (static addresses, no DHCP, no firewall): vm1 pings
vm2, vm3 is the analyzer behind the tap service's port. tcpdump inside vm3 sees vm1's
echo requests with an ``OUT`` flow (and not vm2's replies), the replies with an ``IN``
flow, both with ``BOTH``, and nothing once the flow is deleted (the tc filters are
gone). Every namespace (and so every link, filter and process) is removed at the end,
pass or fail."""
from __future__ import annotations

import ipaddress
import re
import subprocess
import uuid

import pytest

from kumo.agent.dataplane import links, mirror, names, netns
from kumo.agent.l2 import LinuxBridgeDriver
from kumo.agent.qos import QosDriver
from kumo.agent.taas import TaasDriver
from tests import waiting
from tests.dataplane import probes

WAIT_S = 90.0
LOCAL_IP = "10.98.7.4"


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout)


@pytest.fixture
def network(admin, unique):
    net = admin.network.create_network(name=unique("taas-net"))
    subnet = admin.network.create_subnet(network_id=net.id, cidr="10.64.0.0/24",
                                         ip_version=4, enable_dhcp=False)
    yield net, subnet
    for flow in admin.network.tap_flows():
        admin.network.delete_tap_flow(flow, ignore_missing=True)
    for port in admin.network.ports(network_id=net.id):
        admin.network.delete_port(port.id)
    admin.network.delete_network(net.id)
    for policy in admin.network.qos_policies(name="taas-qos"):
        admin.network.delete_qos_policy(policy, ignore_missing=True)


def capture(analyzer: netns.Netns, pinger: netns.Netns, target: str) -> list[str]:
    """What tcpdump on the analyzer's eth0 sees of ICMP echoes while ``pinger`` pings
    ``target`` 4 times: one ``"<src> > <dst> <request|reply>"`` per packet."""
    proc = subprocess.Popen(
        ["timeout", "8", "nsenter", f"--net={analyzer.path}", "tcpdump", "-i", "eth0",
         "-n", "-l", "-p", "icmp"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)
    try:
        # tcpdump says "listening on eth0" once its socket is open
        lines = [proc.stderr.readline() for _ in range(1)]
        while "listening" not in lines[-1] and lines[-1] and len(lines) < 5:
            lines.append(proc.stderr.readline())
        assert "listening" in lines[-1], lines
        probes.pings(pinger, target, count=4, interval=0.2)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    seen = []
    for m in re.finditer(r"IP (\S+) > (\S+): ICMP echo (request|reply)", out):
        seen.append(f"{m.group(1)} > {m.group(2).rstrip(':')} {m.group(3)}")
    return seen


def test_tap_flow_mirrors_to_the_service_port(admin, network, hosts, run_agent):
    net, subnet = network
    name = f"taashost-{uuid.uuid4().hex[:6]}"
    where = hosts("h")
    links.ensure_address(where.root, "lo", f"{LOCAL_IP}/32")
    prefixlen = ipaddress.ip_network(subnet.cidr).prefixlen
    port = {i: admin.network.create_port(network_id=net.id, binding_host_id=name,
                                         port_security_enabled=False)
            for i in (1, 2, 3)}
    ip = {i: p.fixed_ips[0]["ip_address"] for i, p in port.items()}
    vm = {i: probes.plug(where, f"vm{i}", p, prefixlen) for i, p in port.items()}
    run_agent(name, lambda client: [LinuxBridgeDriver(name, where=where,
                                                      local_ip=LOCAL_IP),
                                    QosDriver(name, where=where),
                                    TaasDriver(name, where=where)], 2.0)
    for i in port:
        wait_for(lambda: admin.network.get_port(port[i].id).status == "ACTIVE",
                 f"port {i} ACTIVE")
    wait_for(lambda: probes.pings(vm[1], ip[2]), "vm1 reaches vm2")
    # no flow yet: the analyzer sees none of vm1's and vm2's echoes
    assert capture(vm[3], vm[1], ip[2]) == []

    service = admin.network.create_tap_service(name="ids", port_id=port[3].id)
    tap, to = names.tap(port[1].id), names.tap(port[3].id)
    request, reply = f"{ip[1]} > {ip[2]} request", f"{ip[2]} > {ip[1]} reply"
    for direction, want in (("OUT", {request}), ("IN", {reply}),
                            ("BOTH", {request, reply})):
        flow = admin.network.create_tap_flow(tap_service_id=service.id,
                                             source_port=port[1].id, direction=direction)
        wait_for(lambda: admin.network.get_tap_flow(flow.id).status == "ACTIVE",
                 "the flow ACTIVE")
        sides = {"OUT": {"OUT"}, "IN": {"IN"}, "BOTH": {"OUT", "IN"}}[direction]
        wait_for(lambda: {s for s, t in mirror.mirrors(where.root, tap).items()
                          if to in t} == sides, f"the {direction} filters")
        seen = capture(vm[3], vm[1], ip[2])
        print(f"\n{direction}: the analyzer saw {len(seen)} packets: {sorted(set(seen))}")
        assert set(seen) == want, seen
        admin.network.delete_tap_flow(flow)
        wait_for(lambda: mirror.mirrors(where.root, tap) == {"OUT": {}, "IN": {}},
                 "the filters gone")
    # deleted: nothing mirrored, no qdisc of ours left, traffic still flows
    assert capture(vm[3], vm[1], ip[2]) == []
    qdiscs = netns.run(where.root, ["tc", "qdisc", "show", "dev", tap]).stdout
    assert "ingress" not in qdiscs and "htb" not in qdiscs, qdiscs
    assert probes.pings(vm[1], ip[2])

    # beside QoS on the same tap (its HTB root and its ingress redirect to the ifb):
    # the mirror still sees both directions, and QoS's shaping stays
    policy = admin.network.create_qos_policy(name="taas-qos")
    admin.network.create_qos_bandwidth_limit_rule(policy, max_kbps=50000,
                                                  direction="egress")
    admin.network.create_qos_bandwidth_limit_rule(policy, max_kbps=50000,
                                                  direction="ingress")
    admin.network.update_port(port[1].id, qos_policy_id=policy.id)
    ifb = names.qos_ifb(port[1].id)
    wait_for(lambda: links.get_link(where.root, ifb) is not None
             and "htb 1:" in netns.run(where.root, ["tc", "qdisc", "show", "dev",
                                                     tap]).stdout, "QoS on the tap")
    flow = admin.network.create_tap_flow(tap_service_id=service.id,
                                         source_port=port[1].id, direction="BOTH")
    wait_for(lambda: {s for s, t in mirror.mirrors(where.root, tap).items()
                      if to in t} == {"OUT", "IN"}, "the filters beside QoS")
    seen = capture(vm[3], vm[1], ip[2])
    print(f"BOTH beside QoS: the analyzer saw {len(seen)} packets")
    assert set(seen) == {request, reply}, seen
    filters = netns.run(where.root, ["tc", "filter", "show", "dev", tap, "parent",
                                     "ffff:"]).stdout
    assert f"redirect to device {ifb})" in filters.lower(), filters
    assert "rate 50Mbit" in netns.run(where.root, ["tc", "class", "show", "dev",
                                                   tap]).stdout
    admin.network.delete_tap_flow(flow)
    wait_for(lambda: mirror.mirrors(where.root, tap) == {"OUT": {}, "IN": {}},
             "the filters gone, QoS's kept")
    assert links.get_link(where.root, ifb) is not None
    assert "htb 1:" in netns.run(where.root, ["tc", "qdisc", "show", "dev", tap]).stdout
    assert probes.pings(vm[1], ip[2])


def test_tap_flow_across_hosts(admin, network, hosts, run_agent):
    """vm1 and vm2 on host A, the analyzer vm3 on host B (a veth underlay between
    them): the mirror travels in the tap service's VXLAN device ``tsv<vni>``; deleting
    the flow removes the devices on both hosts."""
    net, subnet = network
    suffix = uuid.uuid4().hex[:6]
    name = {"A": f"taasA-{suffix}", "B": f"taasB-{suffix}"}
    under = {"A": "10.98.9.1", "B": "10.98.9.2"}
    where = {"A": hosts("a"), "B": hosts("b")}
    links.ensure_veth(where["A"].root, "ul-a", "ul-b", where["B"].root)
    for h, dev in (("A", "ul-a"), ("B", "ul-b")):
        links.ensure_address(where[h].root, dev, f"{under[h]}/24")
    prefixlen = ipaddress.ip_network(subnet.cidr).prefixlen
    on = {1: "A", 2: "A", 3: "B"}
    port = {i: admin.network.create_port(network_id=net.id, binding_host_id=name[h],
                                         port_security_enabled=False)
            for i, h in on.items()}
    ip = {i: p.fixed_ips[0]["ip_address"] for i, p in port.items()}
    vm = {i: probes.plug(where[on[i]], f"vm{i}", p, prefixlen) for i, p in port.items()}
    for h in "AB":
        run_agent(name[h], lambda client, h=h: [
            LinuxBridgeDriver(name[h], where=where[h], local_ip=under[h]),
            TaasDriver(name[h], where=where[h], local_ip=under[h])], 2.0)
    for i in port:
        wait_for(lambda: admin.network.get_port(port[i].id).status == "ACTIVE",
                 f"port {i} ACTIVE")
    wait_for(lambda: probes.pings(vm[1], ip[2]), "vm1 reaches vm2")
    wait_for(lambda: probes.pings(vm[1], ip[3]), "vm1 reaches vm3 across hosts")
    assert capture(vm[3], vm[1], ip[2]) == []

    service = admin.network.create_tap_service(name="ids-remote", port_id=port[3].id)
    flow = admin.network.create_tap_flow(tap_service_id=service.id,
                                         source_port=port[1].id, direction="BOTH")
    wait_for(lambda: admin.network.get_tap_flow(flow.id).status == "ACTIVE",
             "the flow ACTIVE")
    tap = names.tap(port[1].id)

    def tunnels(h):
        return [lk.name for lk in links.scan_links(where[h].root).values()
                if lk.name.startswith(names.TAAS_TUNNEL)]
    wait_for(lambda: len(tunnels("A")) == 1 and tunnels("A") == tunnels("B"),
             "the tap service's VXLAN device on both hosts")
    dev = tunnels("A")[0]
    wait_for(lambda: {s for s, t in mirror.mirrors(where["A"].root, tap).items()
                      if dev in t} == {"OUT", "IN"}, "the filters into the tunnel")
    request, reply = f"{ip[1]} > {ip[2]} request", f"{ip[2]} > {ip[1]} reply"
    seen = wait_for(lambda: (s := capture(vm[3], vm[1], ip[2])) and s, "mirrored frames")
    print(f"\nacross hosts: the analyzer saw {len(seen)} packets: {sorted(set(seen))}")
    assert set(seen) == {request, reply}, seen

    admin.network.delete_tap_flow(flow)
    wait_for(lambda: tunnels("A") == [] and tunnels("B") == [],
             "the tunnel devices gone on both hosts")
    assert mirror.mirrors(where["A"].root, tap) == {"OUT": {}, "IN": {}}
    assert capture(vm[3], vm[1], ip[2]) == []
