"""Security group rules as nftables expressions and set elements (pure data, no
kernel access): :func:`group_rules` is a group's ``sg-<id>-i``/``-o`` chain, one lookup
in each of its concatenated rule sets (:func:`rule_set`, elements from
:func:`set_element`) and then the rules that do not fit a set (:func:`rule_exprs`);
:func:`render_element`/:func:`canon_element` convert set element keys to and from nft's
JSON. :mod:`kumo.agent.sgmodel` builds the whole firewall model from these.

Protocols follow Neutron's names and numbers (``neutron_lib.constants``); ``icmp`` with
ethertype IPv6 means ICMPv6, as in Neutron.
"""
from __future__ import annotations

import ipaddress

from kumo.agent.dataplane import nft

#: Neutron's protocol names (neutron_lib.constants.IP_PROTOCOL_MAP).
PROTOCOLS = {"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0,
             "icmp": 1, "igmp": 2, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44,
             "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60,
             "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132,
             "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112}
PORTED = {6, 17, 33, 132, 136}  # protocols whose rules may carry a port range


def group_set(group_id: str, v6: bool) -> str:
    """``sg-<id>-v4``/``-v6``: the group's member addresses."""
    return f"sg-{group_id}-{'v6' if v6 else 'v4'}"


def address_set(address_group_id: str, v6: bool) -> str:
    """``ag-<id>-v4``/``-v6``: an address group's CIDRs."""
    return f"ag-{address_group_id}-{'v6' if v6 else 'v4'}"


# -- security group rules ---------------------------------------------------------------

def _protocol(value, v6: bool) -> int | None | bool:
    """Protocol number; None for any; False when unknown."""
    if value in (None, "", "any"):
        return None
    text = str(value).lower()
    num = int(text) if text.isdigit() else PROTOCOLS.get(text)
    if num is None:
        return False
    if v6 and num == 1:
        num = 58  # Neutron: "icmp" with ethertype IPv6 means ICMPv6
    return num


def rule_exprs(rule: dict, direction: str) -> list | None:
    """One security group rule as nft expressions ending in ``accept``, for its group's
    chain of ``direction``; None when it cannot match (unknown protocol, a remote prefix
    of the other family)."""
    v6 = rule.get("ethertype") == "IPv6"
    fam = "ip6" if v6 else "ip"
    out: list = [nft.match(nft.meta("nfproto"), "ipv6" if v6 else "ipv4")]
    num = _protocol(rule.get("protocol"), v6)
    if num is False:
        return None
    lo, hi = rule.get("port_range_min"), rule.get("port_range_max")
    if num is not None:
        out.append(nft.match(nft.meta("l4proto"), num))
        if num in PORTED and (lo is not None or hi is not None):
            lo = lo if lo is not None else 1
            hi = hi if hi is not None else 65535
            out.append(nft.match(nft.th("dport"), nft.port((int(lo), int(hi)))))
        elif num in (1, 58) and lo is not None:
            icmp = "icmpv6" if num == 58 else "icmp"
            out.append(nft.match(nft.payload(icmp, "type"), int(lo)))
            if hi is not None:
                out.append(nft.match(nft.payload(icmp, "code"), int(hi)))
    field_ = "saddr" if direction == "ingress" else "daddr"
    prefix = rule.get("remote_ip_prefix")
    if prefix:
        net = ipaddress.ip_network(prefix, strict=False)
        if (net.version == 6) != v6:
            return None
        if net.prefixlen:
            out.append(nft.match(nft.payload(fam, field_), nft.addr(prefix)))
    elif rule.get("remote_group_id"):
        out.append(nft.match(nft.payload(fam, field_),
                             nft.set_ref(group_set(rule["remote_group_id"], v6))))
    elif rule.get("remote_address_group_id"):
        out.append(nft.match(nft.payload(fam, field_), nft.set_ref(
            address_set(rule["remote_address_group_id"], v6))))
    out.append(nft.accept())
    return out


#: The type of a group's rule set: protocol . destination port . remote address.
RULE_SET_TYPE = {False: ["inet_proto", "inet_service", "ipv4_addr"],
                 True: ["inet_proto", "inet_service", "ipv6_addr"]}


def rule_set(group_id: str, direction: str, v6: bool) -> str:
    """``sg-<id>-i-r4`` (``-o``, ``-r6``): the group's port/prefix rules of a direction
    and family as elements of one concatenated interval set."""
    return f"sg-{group_id}-{'i' if direction == 'ingress' else 'o'}-r{'6' if v6 else '4'}"


def set_element(rule: dict) -> tuple[bool, str] | None:
    """``(v6, "proto.lo-hi.cidr")``: the rule as an element of its group's rule set, when
    it has that shape (a protocol with ports, TCP/UDP/SCTP/DCCP/UDP-Lite, with or without
    port range and remote prefix, no remote group or address group); else None."""
    if rule.get("remote_group_id") or rule.get("remote_address_group_id"):
        return None
    v6 = rule.get("ethertype") == "IPv6"
    num = _protocol(rule.get("protocol"), v6)
    if num is None or num is False or num not in PORTED:
        return None
    lo, hi = rule.get("port_range_min"), rule.get("port_range_max")
    lo = int(lo) if lo is not None else (1 if hi is not None else 0)
    hi = int(hi) if hi is not None else 65535
    net = ipaddress.ip_network(rule.get("remote_ip_prefix") or ("::/0" if v6 else
                                                                "0.0.0.0/0"), strict=False)
    if (net.version == 6) != v6:
        return None
    return v6, f"{num}.{lo}-{hi}.{net}"


def group_rules(group: dict, direction: str) -> list[list]:
    """The group's chain for ``direction``: one lookup in each of its rule sets
    (:func:`rule_set`, when it has elements), then the other rules one by one. Every
    rule accepts, so their order does not matter."""
    out = []
    fields = {"ingress": "saddr", "egress": "daddr"}
    sets = {False: False, True: False}
    linear = []
    for rule in sorted(group.get("rules") or [], key=lambda r: r["id"]):
        if rule.get("direction") != direction:
            continue
        elem = set_element(rule)
        if elem is not None:
            sets[elem[0]] = True
            continue
        exprs = rule_exprs(rule, direction)
        if exprs is not None:
            linear.append(exprs)
    for v6 in (False, True):
        if sets[v6]:
            fam = "ip6" if v6 else "ip"
            out.append([nft.match(nft.meta("nfproto"), "ipv6" if v6 else "ipv4"),
                        nft.match({"concat": [nft.meta("l4proto"), nft.th("dport"),
                                              nft.payload(fam, fields[direction])]},
                                  nft.set_ref(rule_set(group["id"], direction, v6))),
                        nft.accept()])
    return out + linear


def rule_set_elements(group: dict, direction: str) -> dict[bool, dict[str, None]]:
    """``{v6: {element: None}}`` of the group's rule sets for ``direction``."""
    out: dict[bool, dict[str, None]] = {False: {}, True: {}}
    for rule in group.get("rules") or []:
        if rule.get("direction") == direction:
            elem = set_element(rule)
            if elem is not None:
                out[elem[0]][elem[1]] = None
    return out


def render_element(key: str) -> dict:
    """A rule set element key (see :func:`set_element`) as nft JSON."""
    proto, ports, net = key.split(".", 2)
    lo, hi = (int(x) for x in ports.split("-"))
    return {"concat": [int(proto), lo if lo == hi else {"range": [lo, hi]},
                       nft.addr(net)]}


def canon_element(value: dict) -> str:
    """nft's JSON listing of a rule set element as its key (see :func:`set_element`)."""
    proto, port, addr = value["concat"]
    if isinstance(proto, str):
        proto = PROTOCOLS.get(proto, proto)
    lo, hi = port["range"] if isinstance(port, dict) else (port, port)
    if isinstance(addr, dict):
        net = ipaddress.ip_network(f"{addr['prefix']['addr']}/{addr['prefix']['len']}")
    else:
        net = ipaddress.ip_network(addr)
    return f"{proto}.{lo}-{hi}.{net}"
