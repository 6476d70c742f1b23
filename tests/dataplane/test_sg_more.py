"""Security groups on the kernel, the newer parts: remote address groups as nftables
sets, and stateless groups.

Remote address groups (``remote_address_group_id``): a rule admitting TCP 22 from an
address group lets in the addresses the group holds and no other; adding and removing
addresses through the API changes who gets in (set elements), without touching a chain.

Stateless security groups (``stateful: false``, the ``stateful-security-group``
extension): the ports' traffic is not tracked (``notrack`` before
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

from kumo.agent.dataplane import links, netns, nft
from kumo.agent.dataplane.errors import KumoDataplaneError
from kumo.agent.sgmodel import TABLE
from tests.dataplane.test_secgroups import (LOCAL_IP, agents, chains, connects,  # noqa: F401
                                            network, servers, wait_for)
from tests.dataplane import probes

EPHEMERAL = (32768, 60999)  # Linux's default ip_local_port_range


def untracking(where: netns.Host) -> bool:
    """Whether the zone chain has our ``notrack`` rules."""
    return any("notrack" in e for o in nft.list_table(where.root, "inet", TABLE) or []
               if o.get("rule", {}).get("chain") == "zone" for e in o["rule"]["expr"])


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
    wanted = {f"sg-{sg.id}-i", f"sg-{sg.id}-o"}
    wait_for(lambda: wanted <= (chains(where) or set()) and untracking(where),
             "the stateless chains")
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
    wait_for(lambda: not untracking(where), "the notrack rules removed")
    wait_for(lambda: connects(vm[1], ip[2], 22), "TCP 22 through the stateful group")
    assert tracked(where, ip[2])


def elements(where: netns.Host, name: str) -> set[str] | None:
    """The set's elements (None while it does not exist)."""
    try:
        return {str(e) for e in nft.list_elements(where.root, "inet", TABLE, name)}
    except KumoDataplaneError:
        return None


def test_remote_address_group_in_an_nft_set(admin, network, hosts, agents, servers,
                                            unique):
    net, subnet, groups = network
    name = f"aghost-{uuid.uuid4().hex[:6]}"
    where = hosts("h")
    links.ensure_address(where.root, "lo", f"{LOCAL_IP}/32")
    sg_srv = admin.network.create_security_group(name=unique("sg-srv"))
    sg_cli = admin.network.create_security_group(name=unique("sg-cli"))
    groups += [sg_srv, sg_cli]
    prefixlen = ipaddress.ip_network(subnet.cidr).prefixlen
    port = {1: admin.network.create_port(network_id=net.id, binding_host_id=name,
                                         security_group_ids=[sg_cli.id]),
            2: admin.network.create_port(network_id=net.id, binding_host_id=name,
                                         security_group_ids=[sg_srv.id]),
            3: admin.network.create_port(network_id=net.id, binding_host_id=name,
                                         security_group_ids=[sg_cli.id])}
    ip = {i: p.fixed_ips[0]["ip_address"] for i, p in port.items()}
    ag = admin.network.create_address_group(name=unique("ag"), addresses=[ip[3]])
    rule = admin.network.create_security_group_rule(
        security_group_id=sg_srv.id, direction="ingress", ethertype="IPv4",
        protocol="tcp", port_range_min=22, port_range_max=22,
        remote_address_group_id=ag.id)
    try:
        vm = {i: probes.plug(where, f"vm{i}", p, prefixlen) for i, p in port.items()}
        servers(vm[2])
        agents(name, where)
        for i in port:
            wait_for(lambda: admin.network.get_port(port[i].id).status == "ACTIVE",
                     f"port {i} ACTIVE")
        set_name = f"ag-{ag.id}-v4"
        wait_for(lambda: elements(where, set_name) == {ip[3]}, "the address group's set")
        wait_for(lambda: connects(vm[3], ip[2], 22), "TCP 22 from an address in the group")
        assert not connects(vm[1], ip[2], 22)
        # new addresses reach the set (one element), the chain stays as it was
        handles = {o["chain"]["name"]: o["chain"]["handle"] for o in nft.list_table(
            where.root, "inet", TABLE) if "chain" in o}
        admin.network.add_addresses_to_address_group(ag, [ip[1]])
        wait_for(lambda: connects(vm[1], ip[2], 22), "TCP 22 once the address is added")
        admin.network.remove_addresses_from_address_group(ag, [f"{ip[3]}/32"])
        wait_for(lambda: elements(where, set_name) == {ip[1]}, "the address removed")
        assert not connects(vm[3], ip[2], 22)
        assert connects(vm[1], ip[2], 22)
        after = {o["chain"]["name"]: o["chain"]["handle"] for o in nft.list_table(
            where.root, "inet", TABLE) if "chain" in o}
        assert after[f"sg-{sg_srv.id}-i"] == handles[f"sg-{sg_srv.id}-i"]
        # the rule gone: no more set
        admin.network.delete_security_group_rule(rule.id)
        rule = None
        wait_for(lambda: f"sg-{sg_srv.id}-i" in (chains(where) or set()) and not any(
            o.get("set", {}).get("name") == set_name for o in nft.list_table(
                where.root, "inet", TABLE) or []), "the set removed with the rule")
    finally:
        for p in port.values():
            admin.network.delete_port(p.id)
        if rule is not None:
            admin.network.delete_security_group_rule(rule.id)
        admin.network.delete_address_group(ag.id)
