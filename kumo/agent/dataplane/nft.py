"""nftables through its JSON interface (``nft -j -f -``), run inside a namespace.

A thin, typed builder over nft's JSON schema (``man libnftables-json``), not a new
language: expressions and statements are the schema's own dicts, produced by small
helpers (:func:`match`, :func:`saddr`, :func:`dport`, :func:`ct_state`, :func:`accept`,
:func:`snat`...), and a rule is a list of them. :func:`replace_table` installs a whole
table atomically in one transaction (``add table; delete table; add table; add chain...;
add set...; add rule...``), so readers never see a half-built table. Named sets change
with :func:`add_elements`/:func:`delete_elements` without touching rules.

Families: ``inet`` (IPv4+IPv6), ``ip``, ``ip6``, ``bridge``, ``netdev``. Addresses are
strings; CIDRs become ``{"prefix": ...}``; port ranges are ``(first, last)`` tuples.
Failures raise :class:`~kumo.agent.dataplane.errors.KumoDataplaneError` with nft's
message.
"""
from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from kumo.agent.dataplane.errors import KumoDataplaneError
from kumo.agent.dataplane.netns import Netns, run

Expr = dict[str, Any]
_MISSING = ("No such file or directory", "does not exist")
Value = Any  # a string, int, {"prefix"}, {"range"}, {"set"} or "@setname"


# -- values -----------------------------------------------------------------------------

def addr(value: str) -> Value:
    """An address or CIDR as nft JSON: ``"10.0.0.1"`` or ``{"prefix": {...}}``."""
    if "/" not in value:
        return value
    net = ipaddress.ip_network(value, strict=False)
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def port(value: int | tuple[int, int]) -> Value:
    """A port or an inclusive ``(first, last)`` range."""
    if isinstance(value, tuple):
        lo, hi = value
        return lo if lo == hi else {"range": [lo, hi]}
    return value


def anon_set(values: Iterable[Value]) -> Value:
    """An anonymous set ``{ a, b, c }``."""
    return {"set": list(values)}


def set_ref(name: str) -> str:
    """A reference to the named set ``name`` (``@name``)."""
    return "@" + name


# -- expressions and statements ---------------------------------------------------------

def payload(protocol: str, fld: str) -> Expr:
    """A packet header field, e.g. ``payload("ip", "saddr")``, ``("tcp", "dport")``."""
    return {"payload": {"protocol": protocol, "field": fld}}


def meta(key: str) -> Expr:
    """A meta key: ``iifname``, ``oifname``, ``l4proto``, ``nfproto``, ``mark``..."""
    return {"meta": {"key": key}}


def match(left: Expr, right: Value, op: str = "==") -> Expr:
    """``left op right``; ``op`` is ``==``, ``!=``, ``<``, ``>``, ``<=``, ``>=`` or
    ``in`` (set membership, for flags such as ct state)."""
    return {"match": {"op": op, "left": left, "right": right}}


def _family_of(value: str) -> str:
    if value.startswith("@"):
        return "ip"
    return "ip6" if ipaddress.ip_network(value, strict=False).version == 6 else "ip"


def saddr(value: str, family: str | None = None, op: str = "==") -> Expr:
    """Source address match: an address, CIDR, or ``"@set"``; ``family`` ``ip``/``ip6``
    (guessed from the address; give it for sets)."""
    fam = family or _family_of(value)
    right = value if value.startswith("@") else addr(value)
    return match(payload(fam, "saddr"), right, op)


def daddr(value: str, family: str | None = None, op: str = "==") -> Expr:
    """Destination address match, as :func:`saddr`."""
    fam = family or _family_of(value)
    right = value if value.startswith("@") else addr(value)
    return match(payload(fam, "daddr"), right, op)


def l4proto(proto: str | int) -> Expr:
    """``meta l4proto <proto>`` (``tcp``, ``udp``, ``icmp``, ``ipv6-icmp``, a number)."""
    return match(meta("l4proto"), proto)


def dport(proto: str, value: int | tuple[int, int] | str, op: str = "==") -> Expr:
    """``<proto> dport <port|range|@set>`` (proto ``tcp``/``udp``/``sctp``)."""
    right = value if isinstance(value, str) else port(value)
    return match(payload(proto, "dport"), right, op)


def sport(proto: str, value: int | tuple[int, int] | str, op: str = "==") -> Expr:
    """``<proto> sport <port|range|@set>``."""
    right = value if isinstance(value, str) else port(value)
    return match(payload(proto, "sport"), right, op)


def icmp(type_: str | int | None = None, code: int | None = None,
         v6: bool = False) -> list[Expr]:
    """ICMP (``v6``: ICMPv6) with optional type (``"echo-request"`` or a number) and
    code; returns a list of expressions (protocol, then type/code)."""
    proto = "icmpv6" if v6 else "icmp"
    out = [l4proto("ipv6-icmp" if v6 else "icmp")]
    if type_ is not None:
        out.append(match(payload(proto, "type"), type_))
    if code is not None:
        out.append(match(payload(proto, "code"), code))
    return out


def ct_state(*states: str) -> Expr:
    """``ct state { states }`` (``established``, ``related``, ``new``, ``invalid``)."""
    return match({"ct": {"key": "state"}}, list(states) if len(states) > 1 else states[0],
                 "in")


def iifname(name: str, op: str = "==") -> Expr:
    """Input interface name (``"tap*"`` wildcards allowed)."""
    return match(meta("iifname"), name, op)


def oifname(name: str, op: str = "==") -> Expr:
    """Output interface name."""
    return match(meta("oifname"), name, op)


def counter() -> Expr:
    """A packet/byte counter."""
    return {"counter": None}


def notrack() -> Expr:
    """``notrack``: conntrack skips the packet (its ct state is ``untracked``); only in
    a chain that runs before conntrack (priority below -200, raw is -300) and before
    anything that gives the packet a conntrack template (``ct zone set``)."""
    return {"notrack": None}


def accept() -> Expr:
    return {"accept": None}


def drop() -> Expr:
    return {"drop": None}


def reject() -> Expr:
    return {"reject": None}


def jump(chain: str) -> Expr:
    return {"jump": {"target": chain}}


def goto(chain: str) -> Expr:
    return {"goto": {"target": chain}}


def return_() -> Expr:
    return {"return": None}


def _nat(kind: str, address: str | None, port_: int | tuple[int, int] | None,
         family: str | None) -> Expr:
    body: dict[str, Any] = {}
    if address is not None:
        body["addr"] = address
        if family is None:
            family = "ip6" if ipaddress.ip_address(address).version == 6 else "ip"
    if family is not None:
        body["family"] = family
    if port_ is not None:
        body["port"] = port(port_)
    return {kind: body}


def snat(address: str, port_: int | tuple[int, int] | None = None,
         family: str | None = None) -> Expr:
    """``snat to <address>[:port]``; ``family`` (``ip``/``ip6``) is required by nft in
    ``inet`` tables and is derived from the address."""
    return _nat("snat", address, port_, family)


def snat_out(oif: str, sources: Iterable[str], address: str, chain: str = "postrouting",
             comment: str | None = "snat") -> Rule:
    """A router's SNAT: IPv4 packets from any of the ``sources`` CIDRs leaving by
    interface name ``oif`` get source ``address`` (the gateway port's)."""
    return Rule(chain, [oifname(oif),
                        match(payload("ip", "saddr"), anon_set(addr(c) for c in sources)),
                        snat(address)], comment=comment)


def dnat(address: str, port_: int | tuple[int, int] | None = None,
         family: str | None = None) -> Expr:
    """``dnat to <address>[:port]``, as :func:`snat`."""
    return _nat("dnat", address, port_, family)


def masquerade() -> Expr:
    """``masquerade``: SNAT to the output interface's address."""
    return {"masquerade": None}


# -- objects ----------------------------------------------------------------------------

@dataclass
class Chain:
    """A chain. Base chains give ``type`` (``filter``/``nat``/``route``), ``hook``
    (``prerouting``/``input``/``forward``/``output``/``postrouting``), ``prio``
    (integer; lower runs first) and ``policy`` (``accept``/``drop``)."""

    name: str
    type: str | None = None
    hook: str | None = None
    prio: int = 0
    policy: str | None = None

    def json(self, family: str, table: str) -> dict:
        body: dict[str, Any] = {"family": family, "table": table, "name": self.name}
        if self.hook:
            body.update(type=self.type or "filter", hook=self.hook, prio=self.prio,
                        policy=self.policy or "accept")
        return body


@dataclass
class Set:
    """A named set of ``type`` (``ipv4_addr``, ``ipv6_addr``, ``inet_service``,
    ``ether_addr``, ``ifname``...); ``flags`` such as ``["interval"]`` for CIDRs."""

    name: str
    type: str
    flags: list[str] = field(default_factory=list)
    elements: list[Value] = field(default_factory=list)

    def json(self, family: str, table: str) -> dict:
        body: dict[str, Any] = {"family": family, "table": table, "name": self.name,
                                "type": self.type}
        if self.flags:
            body["flags"] = list(self.flags)
        if self.elements:
            body["elem"] = list(self.elements)
        return body


@dataclass
class Rule:
    """A rule in ``chain``: ``expr`` is a list of expressions and statements, in order
    (nested lists, as :func:`icmp` returns, are flattened); optional ``comment``."""

    chain: str
    expr: Sequence[Expr | Sequence[Expr]]
    comment: str | None = None

    def json(self, family: str, table: str) -> dict:
        flat: list[Expr] = []
        for e in self.expr:
            flat.extend(e if isinstance(e, (list, tuple)) else [e])
        body: dict[str, Any] = {"family": family, "table": table, "chain": self.chain,
                                "expr": flat}
        if self.comment:
            body["comment"] = self.comment
        return body


# -- applying ---------------------------------------------------------------------------

def apply(ns: Netns, commands: list[dict]) -> None:
    """Run ``commands`` (nft JSON command objects such as ``{"add": {"table": ...}}``)
    as one atomic transaction inside ``ns``: all or nothing."""
    doc = json.dumps({"nftables": [{"metainfo": {"json_schema_version": 1}},
                                   *commands]})
    run(ns, ["nft", "-j", "-f", "-"], input=doc)


def replace_table(ns: Netns, family: str, name: str, *, chains: Sequence[Chain] = (),
                  sets: Sequence[Set] = (), rules: Sequence[Rule] = ()) -> None:
    """Create or replace table ``family name`` with exactly these chains, sets (with
    their elements) and rules, atomically: one transaction that adds the table (so the
    delete cannot fail), deletes it and adds it back with its contents."""
    table = {"family": family, "name": name}
    cmds: list[dict] = [{"add": {"table": table}}, {"delete": {"table": table}},
                        {"add": {"table": table}}]
    cmds += [{"add": {"chain": c.json(family, name)}} for c in chains]
    cmds += [{"add": {"set": s.json(family, name)}} for s in sets]
    cmds += [{"add": {"rule": r.json(family, name)}} for r in rules]
    apply(ns, cmds)


def list_table(ns: Netns, family: str, name: str) -> list[dict] | None:
    """The table's objects as nft lists them (``[{"table": ...}, {"chain": ...},
    {"set": ...}, {"rule": ...}]``, without metainfo), or ``None`` if absent."""
    proc = run(ns, ["nft", "-j", "list", "table", family, name], check=False)
    if proc.returncode != 0:
        if any(s in proc.stderr for s in _MISSING):
            return None
        raise KumoDataplaneError(f"nft list table {family} {name} (in {ns})",
                                 proc.stderr.strip())
    return [o for o in json.loads(proc.stdout)["nftables"] if "metainfo" not in o]


def list_tables(ns: Netns) -> list[tuple[str, str]]:
    """Every table in ``ns`` as ``(family, name)``."""
    out = json.loads(run(ns, ["nft", "-j", "list", "tables"]).stdout)["nftables"]
    return [(o["table"]["family"], o["table"]["name"]) for o in out if "table" in o]


def delete_table(ns: Netns, family: str, name: str) -> None:
    """Delete the table and everything in it; nothing if absent."""
    table = {"family": family, "name": name}
    apply(ns, [{"add": {"table": table}}, {"delete": {"table": table}}])


def _elem(family: str, table: str, set_name: str, elements: Sequence[Value]) -> dict:
    return {"element": {"family": family, "table": table, "name": set_name,
                        "elem": list(elements)}}


def add_elements(ns: Netns, family: str, table: str, set_name: str,
                 elements: Sequence[Value]) -> None:
    """Add elements to a named set (present ones are kept); rules are untouched."""
    if elements:
        apply(ns, [{"add": _elem(family, table, set_name, elements)}])


def delete_elements(ns: Netns, family: str, table: str, set_name: str,
                    elements: Sequence[Value]) -> None:
    """Remove elements from a named set, ignoring ones that are not in it."""
    if not elements:
        return
    try:
        apply(ns, [{"delete": _elem(family, table, set_name, elements)}])
    except KumoDataplaneError:
        # some element was absent: the transaction did nothing; go one by one
        for e in elements:
            try:
                apply(ns, [{"delete": _elem(family, table, set_name, [e])}])
            except KumoDataplaneError as err:
                if not any(s in err.detail for s in _MISSING):
                    raise


def list_elements(ns: Netns, family: str, table: str, set_name: str) -> list[Value]:
    """The elements of a named set, as nft JSON values."""
    out = json.loads(run(ns, ["nft", "-j", "list", "set", family, table,
                              set_name]).stdout)["nftables"]
    for o in out:
        if "set" in o:
            return list(o["set"].get("elem", []))
    return []


# -- maps, mangling and incremental changes (additive; used by the firewall driver) ----

def th(fld: str) -> Expr:
    """A transport header field of any L4 protocol (``th dport``/``th sport``); put an
    ``l4proto`` match before it."""
    return payload("th", fld)


def band(left: Expr, mask: int) -> Expr:
    """``left & mask`` (a bitwise AND of a register with a constant)."""
    return {"&": [left, mask]}


def mangle(key: Expr, value: Value | Expr) -> Expr:
    """``<key> set <value>``: e.g. ``mangle(meta("mark"), 5)`` is ``meta mark set 5``;
    ``value`` may be an expression such as :func:`map_lookup`."""
    return {"mangle": {"key": key, "value": value}}


def map_lookup(key: Expr, map_name: str) -> Expr:
    """``<key> map @map_name``: the value the named map holds for ``key``; a rule using
    it does not match when the key is absent."""
    return {"map": {"key": key, "data": set_ref(map_name)}}


def vmap(key: Expr, map_name: str) -> Expr:
    """``<key> vmap @map_name``: the verdict (``accept``, ``jump``, ``goto``...) the
    named verdict map holds for ``key``; nothing happens when the key is absent."""
    return {"vmap": {"key": key, "data": set_ref(map_name)}}


def verdict(kind: str, chain: str | None = None) -> Expr:
    """A verdict as a map value: ``verdict("goto", "c")``, ``verdict("drop")``."""
    return {kind: {"target": chain} if chain else None}


@dataclass
class Map:
    """A named map from ``type`` (``ifname``, ``mark``, ``ipv4_addr``...) to ``map``
    (``verdict``, ``mark``...); ``elements`` are ``[key, value]`` pairs."""

    name: str
    type: str
    map: str
    flags: list[str] = field(default_factory=list)
    elements: list[list[Value]] = field(default_factory=list)

    def json(self, family: str, table: str) -> dict:
        body: dict[str, Any] = {"family": family, "table": table, "name": self.name,
                                "type": self.type, "map": self.map}
        if self.flags:
            body["flags"] = list(self.flags)
        if self.elements:
            body["elem"] = [list(e) for e in self.elements]
        return body


def cmd(verb: str, kind: str, body: dict) -> dict:
    """One command of a transaction for :func:`apply`: ``cmd("flush", "chain",
    {"family": ..., "table": ..., "name": ...})``. ``verb``: ``add``, ``create``,
    ``delete``, ``flush``; ``kind``: ``table``, ``chain``, ``set``, ``map``, ``rule``,
    ``element``."""
    return {verb: {kind: body}}


def element_cmd(verb: str, family: str, table: str, name: str,
                elements: Sequence[Value]) -> dict:
    """``add``/``delete`` elements of a named set or map (map elements as ``[key,
    value]`` pairs to add, bare keys to delete) as one transaction command."""
    return {verb: _elem(family, table, name, elements)}


def table_exists(ns: Netns, family: str, name: str) -> bool:
    """Whether table ``family name`` exists in ``ns``."""
    return (family, name) in list_tables(ns)
