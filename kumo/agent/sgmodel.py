"""The firewall's desired nftables objects, computed from a host's desired state.

Pure data, no kernel access: :func:`build` turns the snapshot (ports bound to the host,
security groups with rules and members) into a :class:`Model` -- every chain with its
rules, every named set and map with its elements -- which
:class:`kumo.agent.secgroups.FirewallDriver` diffs against what the kernel holds. The
layout (two tables named :data:`TABLE`, one ``bridge``, one ``inet``, and the guard
table :data:`GUARD_TABLE`):

``bridge kumo_sg`` (no conntrack here, per-port identity and anti-spoofing)
  - ``prerouting`` (hook prerouting, priority -200, before br_netfilter's 0):
    ``iifname vmap @port_spoof`` goes to the port's ``s-<tap>`` chain, which accepts only
    the port's own MAC/IP pairs (fixed IPs, allowed address pairs; ARP from them, DHCP
    discovery from 0.0.0.0, IPv6 link-local and DAD), drops DHCP server replies and
    router advertisements sent by the instance and everything else, and on accept sets
    ``meta mark`` to the port's mark; other traffic gets mark 0.
  - ``forward`` (hook forward, priority -200, before br_netfilter's -1):
    ``meta mark set oifname map @port_marks`` (0 when the output is no filtered port).
  - ``input`` (hook input): mark 0, so a frame the host routes onwards (a flat network
    on ``br-ex``) is not taken for traffic towards the sending port.

``inet kumo_sg`` (stateful, through br_netfilter: ``bridge-nf-call-ip(6)tables`` = 1)
  - ``zone`` (prerouting, priority -300, raw, before conntrack): first, while a port
    with a stateless group is on the host, ``ether saddr``/``ether daddr`` in the set
    ``stateless`` (the MACs of ports with a ``stateful: false`` group) ``notrack
    accept``, so conntrack never sees their traffic, as Neutron's drivers do for
    stateless groups (the iptables driver's ``CT --notrack`` in the raw table); the
    ``accept`` matters: a later ``ct zone set`` would attach a conntrack template to
    the untracked packet and conntrack would track it after all. Then
    ``iifname <brq> ct zone set <n>``: one conntrack zone per network bridge (through
    br_netfilter the input device is the bridge), so overlapping addresses never share
    entries.
  - ``prerouting`` (priority 0, after conntrack): a packet carrying a port mark gets the
    :data:`SEEN` bit (``meta mark set meta mark | 0x10000``), then ``meta mark & 0xffff
    vmap @port_egress`` goes to the sending port's ``o-<tap>`` chain, whose one rule
    goes to the chain ``ps-<digest>-o`` that every port with the same security groups
    shares: established/related accepted, invalid dropped, DHCP/ND client traffic
    accepted, then ``jump sg-<group>-o`` per security group, then drop.
  - ``forward`` (priority 0): the same bit, then ``meta mark & 0xffff vmap
    @port_ingress`` goes to the receiving port's ``i-<tap>`` chain and on to
    ``ps-<digest>-i``, likewise with ``sg-<group>-i`` (DHCP replies and ND/RA accepted
    as Neutron does). Sharing these chains keeps a host's rule count (what ``nft``
    spends its time on) at about a dozen per port.

``bridge kumo_guard`` (fail closed: small, fixed, present whenever a port is filtered)
  - set ``guarded``: the filtered ports' taps (changed in the same transaction as their
    chains in ``kumo_sg``).
  - ``pre-reset``/``fwd-reset`` (prerouting/forward, priority -300): frames from/to a
    guarded tap start with mark 0, so only our tables can mark them.
  - ``prerouting``/``forward`` (priority 100, after br_netfilter ran the inet hooks):
    a frame from/to a guarded tap goes to ``check``, which drops it unless it carries a
    port mark (set only by ``bridge kumo_sg``) and, for IPv4/IPv6, the :data:`SEEN` bit
    (set only by ``inet kumo_sg``). So while either rich table is missing (deleted,
    flushed), instance traffic is dropped instead of passed; ARP needs only the bridge
    table (it never reaches the inet hooks). Frames of unfiltered ports (``network:*``,
    port security off) are not in the set and pass untouched.
  - ``sg-<group>-i``/``sg-<group>-o``: first one lookup per family in the group's rule
    set ``sg-<group>-i-r4``/``-r6`` (``meta l4proto . th dport . ip saddr`` in a
    concatenated interval set whose elements are the group's TCP/UDP/SCTP/DCCP/UDP-Lite
    rules with their port range and remote prefix, :func:`set_element`), then one rule
    per other security group rule (ICMP, any protocol, remote groups), each ending in
    ``accept``; remote groups match the named sets ``sg-<group>-v4``/``-v6`` (interval
    sets of the group's members), so a member joining changes one element; remote
    address groups (``remote_address_group_id``) match ``ag-<id>-v4``/``-v6``, whose
    elements are the address group's CIDRs (the snapshot gives them per security group
    as ``address_groups: {id: [cidr]}``), so adding an address changes one element.

**Security group logs** (Neutron's ``logging`` extension, ``resource_type:
security_group``; the snapshot gives each group's enabled logs as ``logs: [{"id",
"event", "target_id"}]``, a ``target_id`` log applying to that port only): a port's
logs (:func:`kumo.agent.sglogs.port_logs`) enter its shared chain's signature, so
logged ports get their own ``ps-`` chain. ``DROP`` logs put ``log prefix "kumo <log
id> DROP" group`` :data:`~kumo.agent.sglogs.LOG_GROUP` before the chain's final drop;
``ACCEPT`` logs jump to a copy of each group chain, ``sg-<id>-i-l<digest>``, whose every accepting rule logs ``kumo <log id>
ACCEPT`` first. The conntrack shortcut (established/related) stays ahead, so an ACCEPT
line is a new connection (every packet for a port with stateless groups). The agent's
:class:`~kumo.agent.nflog.LogWriter` reads that group in the host's namespace.

Ports filtered: bound to the host, ``port_security_enabled`` not false and
``device_owner`` not ``network:*`` (Neutron trusts network-owned ports). A port with
only stateless groups (``stateful`` false) gets no conntrack shortcut: both directions
need rules. A conntrack entry is per packet, not per port: a packet between a stateless
and a stateful port is untracked for both, so the stateful port's rules see it as a new
packet (no ``established`` shortcut), as with Neutron's iptables driver.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from kumo.agent.dataplane import names
from kumo.agent.dataplane import nft
from kumo.agent.sglogs import (LOG_GROUP, log_stmt, logged,  # noqa: F401
                               logged_chain, port_logs)
from kumo.agent.sgrules import (RULE_SET_TYPE, address_set, group_rules, group_set,
                                rule_set, rule_set_elements)

TABLE = "kumo_sg"
GUARD_TABLE = "kumo_guard"
#: Model keys are ``(family, name)``; ``GUARD`` stands for the table ``bridge
#: kumo_guard`` (see :data:`TABLES`).
BRIDGE, INET, GUARD = "bridge", "inet", "guard"
TABLES: dict[str, tuple[str, str]] = {BRIDGE: (BRIDGE, TABLE), INET: (INET, TABLE),
                                      GUARD: (BRIDGE, GUARD_TABLE)}
PORT_SPOOF, PORT_MARKS = "port_spoof", "port_marks"
GUARDED = "guarded"
PORT_MASK = 0xFFFF
#: The mark bit the inet table sets on every packet of a filtered port it examines; the
#: guard drops IP packets of filtered ports that lack it (the inet table is missing).
SEEN = 0x10000
PORT_EGRESS, PORT_INGRESS = "port_egress", "port_ingress"
STATELESS = "stateless"
MARK_MAX = 0xFFFF
ZONE_MAX = 0xFFFF

# ICMPv6 types let through regardless of groups (Neutron's firewall does the same).
ND_EGRESS = [131, 133, 135, 136, 143]   # MLD report, RS, NS, NA, MLDv2 report
ND_INGRESS = [130, 131, 132, 134, 135, 136, 143]  # MLD, RA, NS, NA

Key = tuple[str, str]  # (family, name)


@dataclass
class Model:
    """nftables objects of our three tables (keys: :data:`TABLES`). ``chains``:
    ``{(family, name): [rule expr lists]}`` (base chains included); ``sets``:
    ``{(family, name): nft.Set | nft.Map}`` (definitions, without elements);
    ``elements``: ``{(family, name): {key: value}}`` (``value`` None for plain sets);
    ``marks``/``zones``: ``{tap or bridge: number}``."""

    chains: dict[Key, list[list]] = field(default_factory=dict)
    digests: dict[Key, str] = field(default_factory=dict)
    sets: dict[Key, Any] = field(default_factory=dict)
    elements: dict[Key, dict] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)
    zones: dict[str, int] = field(default_factory=dict)

    def empty(self) -> bool:
        """No port to filter: the tables should not exist."""
        return not self.marks

    def hashes(self) -> dict[Key, str]:
        """``{chain: digest}`` (see :func:`chain_hash`), computed once."""
        for k, v in self.chains.items():
            if k not in self.digests:
                self.digests[k] = chain_hash(v)
        return self.digests


BASE_CHAINS: dict[Key, nft.Chain] = {
    (BRIDGE, "prerouting"): nft.Chain("prerouting", "filter", "prerouting", -200),
    (BRIDGE, "forward"): nft.Chain("forward", "filter", "forward", -200),
    (BRIDGE, "input"): nft.Chain("input", "filter", "input", -200),
    (INET, "zone"): nft.Chain("zone", "filter", "prerouting", -300),
    (INET, "prerouting"): nft.Chain("prerouting", "filter", "prerouting", 0),
    (INET, "forward"): nft.Chain("forward", "filter", "forward", 0),
    (GUARD, "pre-reset"): nft.Chain("pre-reset", "filter", "prerouting", -300),
    (GUARD, "fwd-reset"): nft.Chain("fwd-reset", "filter", "forward", -300),
    (GUARD, "prerouting"): nft.Chain("prerouting", "filter", "prerouting", 100),
    (GUARD, "forward"): nft.Chain("forward", "filter", "forward", 100),
}
STATIC_MAPS: dict[Key, nft.Map] = {
    (BRIDGE, PORT_SPOOF): nft.Map(PORT_SPOOF, "ifname", "verdict"),
    (BRIDGE, PORT_MARKS): nft.Map(PORT_MARKS, "ifname", "mark"),
    (INET, PORT_EGRESS): nft.Map(PORT_EGRESS, "mark", "verdict"),
    (INET, PORT_INGRESS): nft.Map(PORT_INGRESS, "mark", "verdict"),
    (GUARD, GUARDED): nft.Set(GUARDED, "ifname"),
}
#: The MACs of stateless ports; present only while there is one on the host.
NOTRACK_SET = nft.Set(STATELESS, "ether_addr")
MARK = nft.meta("mark")
PORT_OF_MARK = nft.band(MARK, PORT_MASK)


def zone_rules(zones: dict[str, int]) -> list[list]:
    """``iifname <bridge> ct zone set <n>`` per network bridge (nft 1.0's JSON cannot
    declare a map to ct zones, so a short chain: one rule per network on the host)."""
    return [[nft.iifname(br), nft.mangle({"ct": {"key": "zone"}}, z)]
            for br, z in sorted(zones.items())]


def base_rules() -> dict[Key, list[list]]:
    """The fixed rules of the base chains (and the guard's chains)."""
    seen = [nft.match(PORT_OF_MARK, 0, "!="),
            nft.mangle(MARK, {"|": [MARK, SEEN]})]
    return {
        (BRIDGE, "prerouting"): [[nft.vmap(nft.meta("iifname"), PORT_SPOOF)],
                                 [nft.mangle(MARK, 0)]],
        (BRIDGE, "forward"): [[nft.mangle(MARK, 0)],
                              [nft.mangle(MARK, nft.map_lookup(nft.meta("oifname"),
                                                               PORT_MARKS))]],
        (BRIDGE, "input"): [[nft.mangle(MARK, 0)]],
        (INET, "prerouting"): [seen, [nft.vmap(PORT_OF_MARK, PORT_EGRESS)]],
        (INET, "forward"): [seen, [nft.vmap(PORT_OF_MARK, PORT_INGRESS)]],
        **guard_rules(),
    }


def guard_rules() -> dict[Key, list[list]]:
    """The fixed chains of ``bridge kumo_guard`` (see the module doc)."""
    guarded = nft.set_ref(GUARDED)
    return {
        (GUARD, "pre-reset"): [[nft.match(nft.meta("iifname"), guarded),
                                nft.mangle(MARK, 0)]],
        (GUARD, "fwd-reset"): [[nft.match(nft.meta("oifname"), guarded),
                                nft.mangle(MARK, 0)]],
        (GUARD, "prerouting"): [[nft.match(nft.meta("iifname"), guarded),
                                 nft.jump("check")]],
        (GUARD, "forward"): [[nft.match(nft.meta("oifname"), guarded),
                              nft.jump("check")]],
        (GUARD, "check"): [
            [nft.match(PORT_OF_MARK, 0), nft.drop()],
            [nft.match(nft.payload("ether", "type"), nft.anon_set(["ip", "ip6"])),
             nft.match(nft.band(MARK, SEEN), 0), nft.drop()]],
    }


def notrack_rules() -> list[list]:
    """The first rules of the ``zone`` chain while a stateless port is on the host:
    frames from or to its MACs are untracked, and skip the zone rules."""
    return [[nft.match(nft.payload("ether", f), nft.set_ref(STATELESS)), nft.notrack(),
             nft.accept()] for f in ("saddr", "daddr")]


def stateless(port: dict, groups: dict[str, dict]) -> bool:
    """Whether ``port`` has a stateless group (Neutron refuses to mix stateful and
    stateless groups on a port; :func:`port_rules` drops the conntrack shortcuts then)."""
    return any(groups[g].get("stateful", True) is False
               for g in port.get("security_groups") or [] if g in groups)


def chain_hash(rules: list[list]) -> str:
    """A short digest of a chain's rules; stored as the comment of its first rule, so
    the kernel tells which version a chain holds without parsing its rules back."""
    if not rules:
        return "empty"
    doc = json.dumps(rules, sort_keys=True, separators=(",", ":"))
    return "kumo:" + hashlib.sha256(doc.encode()).hexdigest()[:16]


# -- names ------------------------------------------------------------------------------

def spoof_chain(tap: str) -> str:
    return "s-" + tap


def egress_chain(tap: str) -> str:
    return "o-" + tap


def ingress_chain(tap: str) -> str:
    return "i-" + tap


def group_chain(group_id: str, direction: str) -> str:
    """``sg-<id>-i`` (ingress) or ``sg-<id>-o`` (egress)."""
    return f"sg-{group_id}-{'i' if direction == 'ingress' else 'o'}"


def groups_chain(sig: tuple, direction: str) -> str:
    """``ps-<digest>-i``/``-o``: the shared port chain of ports with the same security
    groups (``sig``: the group ids in the port's order and their ``stateful``)."""
    digest = hashlib.sha256(repr(sig).encode()).hexdigest()[:16]
    return f"ps-{digest}-{'i' if direction == 'ingress' else 'o'}"


# -- which ports and members ------------------------------------------------------------

def filtered(port: dict, host: str) -> bool:
    """Whether the firewall filters ``port`` on ``host``."""
    return (port.get("binding:host_id") == host
            and port.get("port_security_enabled", True) is not False
            and not (port.get("device_owner") or "").startswith("network:"))


def _port_addresses(port: dict) -> list[str]:
    out = [ip["ip_address"] for ip in port.get("fixed_ips") or []]
    out += [p["ip_address"] for p in port.get("allowed_address_pairs") or []]
    return out


def members(state: dict, group: dict) -> list[str]:
    """The group's member addresses: ``group["members"]`` when the controller gives
    them, else every snapshot port in the group (fixed IPs and address pairs)."""
    if "members" in group and group["members"] is not None:
        return list(group["members"])
    return [a for p in state.get("ports", [])
            if group["id"] in (p.get("security_groups") or [])
            for a in _port_addresses(p)]


def collapse(addresses: list[str], v6: bool) -> dict[str, None]:
    """Addresses/CIDRs of one family as canonical strings with those inside another one
    left out (an interval set refuses overlapping elements); neighbours are not merged,
    so a member joining or leaving is one element: ``{"10.0.0.5": None, ...}``."""
    nets = set()
    for a in addresses:
        try:
            n = ipaddress.ip_network(a, strict=False)
        except ValueError:
            continue
        if (n.version == 6) == v6:
            nets.add(n)
    out: dict[str, None] = {}
    end = None
    for n in sorted(nets, key=lambda n: (n.network_address, n.prefixlen)):
        if end is not None and n.network_address <= end:
            continue  # CIDRs nest or are disjoint: this one is inside the last kept
        end = n.broadcast_address
        out[str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)] = None
    return out


# -- per-port chains --------------------------------------------------------------------

def _lla(mac: str) -> str:
    """The EUI-64 IPv6 link-local address of ``mac``."""
    b = bytearray(int(x, 16) for x in mac.split(":"))
    b[0] ^= 2
    eui = bytes(b[:3]) + b"\xff\xfe" + bytes(b[3:])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui))


def _ether(t: str) -> dict:
    return nft.match(nft.payload("ether", "type"), t)


def _smac(mac: str) -> dict:
    return nft.match(nft.payload("ether", "saddr"), mac)


def _udp(fam: str, sport: int, dport: int) -> list:
    return [_ether(fam), nft.match(nft.meta("l4proto"), 17),
            nft.match(nft.payload("udp", "sport"), sport),
            nft.match(nft.payload("udp", "dport"), dport)]


def spoof_rules(port: dict, mark: int) -> list[list]:
    """The bridge-side anti-spoofing chain of a filtered port: only its own MAC/IP
    pairs leave it; accepted packets (ARP too) carry the port's mark, which the guard
    table requires."""
    mac = port["mac_address"].lower()
    pairs = [(mac, ip["ip_address"]) for ip in port.get("fixed_ips") or []]
    pairs += [((p.get("mac_address") or mac).lower(), p["ip_address"])
              for p in port.get("allowed_address_pairs") or []]
    macs = list(dict.fromkeys([mac] + [m for m, _ in pairs]))
    setmark = nft.mangle(nft.meta("mark"), mark)
    out: list[list] = []
    nets = [(m, ipaddress.ip_network(a, strict=False)) for m, a in pairs]
    for m, n in nets:
        if n.version == 4:
            out.append([_ether("arp"), _smac(m),
                        nft.match(nft.payload("arp", "saddr ether"), m),
                        nft.match(nft.payload("arp", "saddr ip"), nft.addr(str(n))),
                        setmark, nft.accept()])
    for m in macs:  # ARP probes (address conflict detection) come from 0.0.0.0
        out.append([_ether("arp"), _smac(m),
                    nft.match(nft.payload("arp", "saddr ether"), m),
                    nft.match(nft.payload("arp", "saddr ip"), "0.0.0.0"), setmark,
                    nft.accept()])
    out.append([_ether("arp"), nft.drop()])
    out.append(_udp("ip", 67, 68) + [nft.drop()])      # no DHCP server in instances
    out.append(_udp("ip6", 547, 546) + [nft.drop()])
    out.append([_ether("ip6"), nft.match(nft.meta("l4proto"), 58),
                nft.match(nft.payload("icmpv6", "type"), 134), nft.drop()])  # no RA
    for m, n in nets:
        fam = "ip6" if n.version == 6 else "ip"
        out.append([_ether(fam), _smac(m), nft.match(nft.payload(fam, "saddr"),
                                                     nft.addr(str(n))),
                    setmark, nft.accept()])
    for m in macs:
        out.append(_udp("ip", 68, 67)[:1] + [
            _smac(m), nft.match(nft.payload("ip", "saddr"), "0.0.0.0"),
            nft.match(nft.payload("ip", "daddr"), "255.255.255.255")]
            + _udp("ip", 68, 67)[1:] + [setmark, nft.accept()])
        out.append([_ether("ip6"), _smac(m), nft.match(nft.payload("ip6", "saddr"),
                                                       _lla(m)), setmark, nft.accept()])
        out.append([_ether("ip6"), _smac(m),
                    nft.match(nft.payload("ip6", "saddr"), "::"),
                    nft.match(nft.meta("l4proto"), 58), setmark, nft.accept()])
    out.append([nft.drop()])
    return out


def _icmpv6(types: list[int]) -> list:
    return [nft.match(nft.meta("l4proto"), 58),
            nft.match(nft.payload("icmpv6", "type"), nft.anon_set(types)), nft.accept()]


def port_rules(port: dict, groups: dict[str, dict], direction: str,
               logs: tuple[tuple, tuple] = ((), ())) -> list[list]:
    """The inet-side chain of a filtered port for ``direction``: conntrack shortcuts
    (stateful groups), the always-allowed DHCP/ND traffic, a jump per group (to its
    logging copy with ACCEPT ``logs``), drop (logged with DROP ``logs``)."""
    accept, drop = logs
    gids = [g for g in port.get("security_groups") or [] if g in groups]
    stateful = all(groups[g].get("stateful", True) is not False for g in gids)
    out: list[list] = []
    if stateful:
        out.append([nft.ct_state("established", "related"), nft.accept()])
        out.append([nft.ct_state("invalid"), nft.drop()])
    udp = lambda s, d: [nft.match(nft.meta("l4proto"), 17),  # noqa: E731
                        nft.match(nft.payload("udp", "sport"), s),
                        nft.match(nft.payload("udp", "dport"), d), nft.accept()]
    if direction == "egress":
        out.append([nft.match(nft.meta("nfproto"), "ipv4")] + udp(68, 67))
        out.append([nft.match(nft.meta("nfproto"), "ipv6")] + udp(546, 547))
        out.append(_icmpv6(ND_EGRESS))
    else:
        out.append([nft.match(nft.meta("nfproto"), "ipv4")] + udp(67, 68))
        out.append([nft.match(nft.meta("nfproto"), "ipv6")] + udp(547, 546))
        out.append(_icmpv6(ND_INGRESS))
    for g in gids:
        out.append([nft.jump(logged_chain(group_chain(g, direction), accept) if accept
                             else group_chain(g, direction))])
    out.append([log_stmt(i, "DROP") for i in drop] + [nft.drop()])
    return out


# -- the whole model --------------------------------------------------------------------

def _allocate(wanted: list[str], current: dict[str, int], limit: int) -> dict[str, int]:
    """Keep the numbers ``current`` gives, give the lowest free ones to the rest."""
    out = {k: current[k] for k in wanted if k in current}
    used = set(out.values())
    free = (i for i in range(1, limit + 1) if i not in used)
    for k in wanted:
        if k not in out:
            try:
                out[k] = next(free)
            except StopIteration:
                raise RuntimeError(f"more than {limit} filtered ports/networks") from None
    return out


def _cached(memo: dict, key, sig, make) -> tuple[list[list], str]:
    """``make()`` and its digest, reused from ``memo`` while ``sig`` is unchanged."""
    memo.setdefault("used", set()).add(key)
    hit = memo.get(key)
    if hit is not None and hit[0] == sig:
        return hit[1], hit[2]
    rules = make()
    digest = chain_hash(rules)
    memo[key] = (sig, rules, digest)
    return rules, digest


def build(state: dict, host: str, marks: dict[str, int], zones: dict[str, int],
          memo: dict | None = None) -> Model:
    """The desired :class:`Model` of ``host`` for snapshot ``state``. ``marks``
    (``{tap: mark}``) and ``zones`` (``{bridge: zone}``) are the numbers in use; they
    are kept, new ports and networks get free ones. ``memo`` (a dict the caller keeps
    between calls) caches chains whose inputs did not change, so a new snapshot with
    1,000 unchanged ports costs little."""
    memo = {} if memo is None else memo
    memo["used"] = set()
    groups = {g["id"]: g for g in state.get("security_groups", [])}
    ports = sorted((p for p in state.get("ports", []) if filtered(p, host)),
                   key=lambda p: p["id"])
    m = Model()
    if not ports:
        memo.clear()
        return m
    m.marks = _allocate([names.tap(p["id"]) for p in ports], marks, MARK_MAX)
    nets = {p["network_id"] for p in state.get("ports", [])
            if p.get("binding:host_id") == host}
    m.zones = _allocate(sorted(names.bridge(n) for n in nets), zones, ZONE_MAX)
    for key, rules in base_rules().items():
        m.chains[key] = rules
    for key, spec in STATIC_MAPS.items():
        m.sets[key] = spec
        m.elements[key] = {}
    m.chains[(INET, "zone")] = zone_rules(m.zones)
    used: set[str] = set()
    logged_chains: set[tuple[str, tuple]] = set()  # (group id, ACCEPT log ids)
    for p in ports:
        tap = names.tap(p["id"])
        mark = m.marks[tap]
        gids = tuple(g for g in p.get("security_groups") or [] if g in groups)
        used.update(gids)
        sig = (mark, p["mac_address"], repr(p.get("fixed_ips")),
               repr(p.get("allowed_address_pairs")))
        key = (BRIDGE, spoof_chain(tap))
        m.chains[key], m.digests[key] = _cached(memo, key, sig,
                                                lambda: spoof_rules(p, mark))
        logs = port_logs(p, groups)
        sig = (gids, tuple(groups[g].get("stateful", True) for g in gids))
        if logs != ((), ()):
            sig += (logs,)  # logged ports get their own shared chains
            if logs[0]:
                for g in gids:
                    logged_chains.add((g, logs[0]))
        for direction, name in (("egress", egress_chain(tap)),
                                ("ingress", ingress_chain(tap))):
            shared = groups_chain(sig, direction)
            if (INET, shared) not in m.chains:
                rules, digest = _cached(memo, ("port", direction, sig), sig,
                                        lambda: port_rules({"security_groups": list(gids)},
                                                           groups, direction, logs))
                m.chains[(INET, shared)], m.digests[(INET, shared)] = rules, digest
            rules, digest = _cached(memo, ("goto", shared), shared,
                                    lambda: [[nft.goto(shared)]])
            m.chains[(INET, name)], m.digests[(INET, name)] = rules, digest
        m.elements[(BRIDGE, PORT_SPOOF)][tap] = nft.verdict("goto", spoof_chain(tap))
        m.elements[(BRIDGE, PORT_MARKS)][tap] = mark
        m.elements[(INET, PORT_EGRESS)][mark] = nft.verdict("goto", egress_chain(tap))
        m.elements[(INET, PORT_INGRESS)][mark] = nft.verdict("goto", ingress_chain(tap))
        m.elements[(GUARD, GUARDED)][tap] = None
    macs = {m.lower(): None for p in ports if stateless(p, groups)
            for m in [p["mac_address"]] + [a.get("mac_address") or p["mac_address"]
                                           for a in p.get("allowed_address_pairs") or []]}
    if macs:
        m.chains[(INET, "zone")] = notrack_rules() + m.chains[(INET, "zone")]
        m.sets[(INET, STATELESS)] = NOTRACK_SET
        m.elements[(INET, STATELESS)] = macs
    for gid, accept in sorted(logged_chains):
        for direction in ("ingress", "egress"):
            key = (INET, logged_chain(group_chain(gid, direction), accept))
            m.chains[key], m.digests[key] = _cached(
                memo, key, repr(groups[gid].get("rules")),
                lambda: logged(group_rules(groups[gid], direction), accept))
    remote: set[str] = set()
    for gid in sorted(used):
        for direction in ("ingress", "egress"):
            key = (INET, group_chain(gid, direction))
            m.chains[key], m.digests[key] = _cached(
                memo, key, repr(groups[gid].get("rules")),
                lambda: group_rules(groups[gid], direction))
            for v6, elems in rule_set_elements(groups[gid], direction).items():
                if elems:
                    name = rule_set(gid, direction, v6)
                    m.sets[(INET, name)] = nft.Set(name, RULE_SET_TYPE[v6], ["interval"])
                    m.elements[(INET, name)] = elems
        remote.update(r["remote_group_id"] for r in groups[gid].get("rules") or []
                      if r.get("remote_group_id") and not r.get("remote_ip_prefix"))
    for gid in sorted(remote):
        addrs = members(state, groups[gid]) if gid in groups else []
        for v6 in (False, True):
            name = group_set(gid, v6)
            m.sets[(INET, name)] = nft.Set(name, "ipv6_addr" if v6 else "ipv4_addr",
                                           ["interval"])
            m.elements[(INET, name)] = collapse(addrs, v6)
    address_groups: dict[str, list[str]] = {}
    for gid in sorted(used):
        for r in groups[gid].get("rules") or []:
            agid = r.get("remote_address_group_id")
            if agid and not r.get("remote_ip_prefix") and not r.get("remote_group_id"):
                address_groups[agid] = list(
                    (groups[gid].get("address_groups") or {}).get(agid) or [])
    for agid, addrs in sorted(address_groups.items()):
        for v6 in (False, True):
            name = address_set(agid, v6)
            m.sets[(INET, name)] = nft.Set(name, "ipv6_addr" if v6 else "ipv4_addr",
                                           ["interval"])
            m.elements[(INET, name)] = collapse(addrs, v6)
    used_keys = memo.pop("used")
    for k in [k for k in memo if k not in used_keys]:
        del memo[k]
    return m
