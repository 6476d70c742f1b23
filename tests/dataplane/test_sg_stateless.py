"""Stateless security groups (``stateful: false``, the ``stateful-security-group``
extension) on the kernel: the ports' traffic is not tracked (``notrack`` before
conntrack), so each direction needs its own rule. One simulated host runs an Agent with
the Linux-bridge L2 and the firewall drivers against a real ``kumo up``; two instance
namespaces on one network. Without a rule for the server's reply (TCP from port 22 to
the client's ephemeral port) a connection fails; with the reply rules in both groups'
directions it works, and conntrack holds no entry for it. Moved to a stateful group, the
same connection is tracked again (the check can fail). Everything is removed at the end
by the fixtures, pass or fail."""
from __future__ import annotations

import ipaddress
import shutil
import uuid

from kumo.agent.dataplane import links, netns
from tests.dataplane.test_secgroups import (LOCAL_IP, agents, chains, connects,  # noqa: F401
                                            network, servers, wait_for)
from tests.dataplane import probes

EPHEMERAL = (32768, 60999)  # Linux's default ip_local_port_range


def tracked(where: netns.Host, server_ip: str) -> list[str]:
    """The conntrack entries of the host towards ``server_ip`` port 22 (``conntrack
    -L`` when installed, else ``/proc/net/nf_conntrack``)."""
    if shutil.which("conntrack"):
        out = netns.run(where.root, ["conntrack", "-L", "-p", "tcp"], check=False).stdout
    else:
        out = netns.run(where.root, ["cat", "/proc/net/nf_conntrack"]).stdout
    return [line for line in out.splitlines()
            if f"dst={server_ip} " in line and "dport=22 " in line]


def test_stateless_group_needs_the_reply_rule(admin, network, hosts, agents, servers,
                                              unique):
    net, subnet, groups = network
    name = f"slhost-{uuid.uuid4().hex[:6]}"
    where = hosts("h")
    links.ensure_address(where.root, "lo", f"{LOCAL_IP}/32")
    sg = admin.network.create_security_group(name=unique("sg-sl"), stateful=False)
    groups.append(sg)
    assert sg.stateful is False
    for r in list(admin.network.security_group_rules(security_group_id=sg.id)):
        admin.network.delete_security_group_rule(r.id)

    def allow(direction: str, ports: tuple[int, int], group=sg):
        return admin.network.create_security_group_rule(
            security_group_id=group.id, direction=direction, ethertype="IPv4",
            protocol="tcp", port_range_min=ports[0], port_range_max=ports[1])

    # the client's SYN may leave and enter; nothing admits the server's SYN-ACK
    allow("egress", (22, 22))
    allow("ingress", (22, 22))
    prefixlen = ipaddress.ip_network(subnet.cidr).prefixlen
    port = {i: admin.network.create_port(network_id=net.id, binding_host_id=name,
                                         security_group_ids=[sg.id]) for i in (1, 2)}
    ip = {i: p.fixed_ips[0]["ip_address"] for i, p in port.items()}
    vm = {i: probes.plug(where, f"vm{i}", p, prefixlen) for i, p in port.items()}
    servers(vm[2])
    agents(name, where)
    for i in port:
        wait_for(lambda: admin.network.get_port(port[i].id).status == "ACTIVE",
                 f"port {i} ACTIVE")
    wanted = {"notrack", f"sg-{sg.id}-i", f"sg-{sg.id}-o"}
    wait_for(lambda: wanted <= (chains(where) or set()), "the stateless chains")
    assert not connects(vm[1], ip[2], 22)  # the SYN-ACK is dropped leaving port 2

    # the reply rules: out of the server to ephemeral ports, into the client from them
    allow("egress", EPHEMERAL)
    allow("ingress", EPHEMERAL)
    wait_for(lambda: connects(vm[1], ip[2], 22), "TCP 22 with the reply rules")
    assert tracked(where, ip[2]) == []

    # a stateful group: the same connection is tracked, and no notrack chain is left
    sf = admin.network.create_security_group(name=unique("sg-sf"))
    groups.append(sf)
    allow("ingress", (22, 22), group=sf)
    for p in port.values():
        admin.network.update_port(p.id, security_group_ids=[sf.id])
    wait_for(lambda: "notrack" not in (chains(where) or set()), "notrack chain removed")
    wait_for(lambda: connects(vm[1], ip[2], 22), "TCP 22 through the stateful group")
    assert tracked(where, ip[2])
