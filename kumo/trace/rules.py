"""Whether a port's security groups let a probe in: pure functions over the API's
rule dicts (``openstack security group rule list``), as the firewall driver
(:mod:`kumo.agent.sgmodel`) turns them into nftables rules.

A probe is what ``kumo trace`` asks about: a protocol (``icmp``, ``tcp``, ``udp``), a
destination port (TCP/UDP; ``None`` = any port will do) and a source: an address with
the security groups of the ports holding it, or ``EXTERNAL`` (an address outside the
cloud: only a rule admitting every address, no remote group, lets it in).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kumo.agent.sgrules import PROTOCOLS

EXTERNAL = "external"
ICMP_ECHO_REQUEST = 8
ICMPV6_ECHO_REQUEST = 128
PORTED = ("tcp", "udp")


@dataclass(frozen=True)
class Probe:
    """What must get in. ``protocol``: ``icmp``/``tcp``/``udp``; ``port``: the TCP/UDP
    destination port (``None``: any); ``source``: an IP address or :data:`EXTERNAL`;
    ``source_groups``: ids of the security groups of the ports holding ``source``;
    ``ipv6``: whether the destination (and so the rule's ethertype) is IPv6."""

    protocol: str
    port: int | None = None
    source: str = EXTERNAL
    source_groups: frozenset = field(default_factory=frozenset)
    ipv6: bool = False


def _number(protocol, ipv6: bool) -> int | None | bool:
    """A rule's protocol as a number (ICMP becomes ICMPv6 for IPv6 rules, as Neutron
    does); ``None`` for any; ``False`` when unknown."""
    if protocol in (None, "", "any"):
        return None
    text = str(protocol).lower()
    num = int(text) if text.isdigit() else PROTOCOLS.get(text)
    if num is None:
        return False
    return 58 if ipv6 and num == 1 else num


def _wanted(probe: Probe) -> int:
    if probe.protocol == "icmp":
        return 58 if probe.ipv6 else 1
    return PROTOCOLS[probe.protocol]


def rule_admits(rule: dict, probe: Probe) -> bool:
    """Whether one security group rule lets ``probe`` in (ingress, same ethertype,
    protocol, port range or ICMP type/code of an echo request, remote prefix or
    remote group)."""
    if rule.get("direction") != "ingress":
        return False
    if (rule.get("ethertype") or "IPv4") != ("IPv6" if probe.ipv6 else "IPv4"):
        return False
    num = _number(rule.get("protocol"), probe.ipv6)
    if num is False:
        return False
    lo, hi = rule.get("port_range_min"), rule.get("port_range_max")
    if num is not None:
        if num != _wanted(probe):
            return False
        if probe.protocol in PORTED and (lo is not None or hi is not None):
            lo = 1 if lo is None else int(lo)
            hi = 65535 if hi is None else int(hi)
            if probe.port is not None and not lo <= probe.port <= hi:
                return False
        elif probe.protocol == "icmp" and lo is not None:
            echo = ICMPV6_ECHO_REQUEST if probe.ipv6 else ICMP_ECHO_REQUEST
            if int(lo) != echo or (hi is not None and int(hi) != 0):
                return False
    prefix = rule.get("remote_ip_prefix")
    if prefix:
        net = ipaddress.ip_network(prefix, strict=False)
        if (net.version == 6) != probe.ipv6:
            return False
        if probe.source == EXTERNAL:
            return net.prefixlen == 0
        try:
            return ipaddress.ip_address(probe.source) in net
        except ValueError:
            return False
    if rule.get("remote_group_id"):
        return probe.source != EXTERNAL and rule["remote_group_id"] in probe.source_groups
    return True


def admitting(rules: list[dict], probe: Probe) -> list[dict]:
    """The rules (of every group of the port) that let ``probe`` in."""
    return [r for r in rules if rule_admits(r, probe)]


def describe(rule: dict) -> str:
    """A rule as one short phrase: ``ingress icmp from 0.0.0.0/0`` (group ``1a2b...``)."""
    proto = rule.get("protocol") or "any protocol"
    lo, hi = rule.get("port_range_min"), rule.get("port_range_max")
    ports = ""
    if lo is not None or hi is not None:
        ports = f" port {lo}" if lo == hi or hi is None else f" ports {lo}-{hi}"
        if str(proto).lower() in ("icmp", "ipv6-icmp", "icmpv6", "1", "58"):
            ports = f" type {lo}" + (f" code {hi}" if hi is not None else "")
    if rule.get("remote_ip_prefix"):
        src = rule["remote_ip_prefix"]
    elif rule.get("remote_group_id"):
        src = f"members of group {rule['remote_group_id'][:8]}"
    else:
        src = "any address"
    return (f"{rule.get('ethertype') or 'IPv4'} {rule.get('direction')} {proto}{ports} "
            f"from {src} (group {str(rule.get('security_group_id', ''))[:8]})")


def hint(group: str, probe: Probe, remote_ip: str | None = None) -> str:
    """The command that opens ``group`` to ``probe``, as Neutron's CLI takes it; from
    ``remote_ip`` only (an address) when given, else from anywhere (the CLI's
    default remote prefix)."""
    parts = ["openstack", "security", "group", "rule", "create", group,
             "--protocol", probe.protocol]
    if probe.ipv6:
        parts += ["--ethertype", "IPv6"]
    if probe.protocol in PORTED and probe.port is not None:
        parts += ["--dst-port", str(probe.port)]
    if remote_ip and remote_ip != EXTERNAL:
        parts += ["--remote-ip", str(ipaddress.ip_network(remote_ip))]
    return " ".join(parts)
