"""Firewall groups (FWaaS v2) and metering labels in a router's namespace, realized by
the L3 driver (:mod:`kumo.agent.l3`) after its NAT table, from the router item's
``firewall`` and ``metering_labels`` (:meth:`kumo.network.fwaas.FirewallGroups.decorate`,
:meth:`kumo.network.metering.MeteringLabels.decorate`).

**Firewall** (table ``inet kumo_fwaas``, chain ``forward`` at filter priority 0): per
router port in a firewall group, Neutron's directions as its iptables driver has them:
*egress* is traffic the router receives on the port (``iifname qr-...``, leaving the
port's network), *ingress* traffic it sends out of the port (``oifname qr-...``,
entering the network). Each direction of each port is a chain ``e-``/``i-<port[:11]>``:

- ``ct state established,related return`` (replies pass), ``ct state invalid drop``;
- the policy's enabled rules in policy order: the match (``meta nfproto``, addresses,
  ``meta l4proto``, ports), then ``allow`` -> ``return`` (the packet goes on to the
  other port's chain, so a packet between two firewalled ports passes both), ``deny``
  -> ``drop``, ``reject`` -> ``reject`` (ICMP port unreachable, TCP reset for TCP);
- ``drop``: what no rule allowed, and everything in a direction without a policy (as
  Neutron's default chain of a port in a group).

A group with ``admin_state_up`` false blocks all its ports' traffic (one ``drop`` per
chain, replies included), as the API reference says.

The forward chain jumps to every egress chain first, then every ingress chain; its
policy is accept, so ports in no group are not filtered. Rules carry the comment
``fwr <rule id>``. Network logs of a port's group (``logs`` of its entry) add
``log prefix "kumo <log id> ACCEPT|DROP" group 17`` before the verdicts of that event
(allow rules for ACCEPT; deny/reject rules and the default drop for DROP; ``ALL``
both); :mod:`kumo.agent.nflog` writes them to the log's file. Only the first packet
of a connection reaches the rules (replies and later packets return earlier), so an
ACCEPT line is a connection.

**Metering** (table ``inet kumo_metering``, chain ``forward`` at priority -10, before
the firewall, so dropped traffic is counted too): per label a named counter
``l-<label id>`` and chains ``m-<label[:8]>-i``/``-e`` jumped to from
``iifname qg-...`` (ingress) / ``oifname qg-...`` (egress); in each, the label's
excluded rules of that direction ``return`` first, then a packet matching an included
rule is counted once. Only routers with a gateway are metered. Counters restart when a
router's labels or rules change (the table is replaced); the operator reads them with
``ip netns exec qrouter-<id> nft list counters table inet kumo_metering``.

Both tables are replaced atomically and only when their content changes (a digest per
router, re-checked against the table list each sync so a deleted table comes back), and
deleted when nothing is wanted. They live in the router namespace and go with it.
"""
from __future__ import annotations

import hashlib
import json
import threading

from kumo.agent import nflog
from kumo.agent.dataplane import names, nft
from kumo.agent.dataplane.netns import Netns

FAMILY = "inet"
FW_TABLE = "kumo_fwaas"
METER_TABLE = "kumo_metering"
_PROTO_V6 = {"icmp": "ipv6-icmp"}


def _ports(text: str | None):
    if not text:
        return None
    if ":" in text:
        lo, hi = (int(p) for p in text.split(":", 1))
        return (lo, hi)
    return int(text)


def match_rule(rule: dict) -> list:
    """The match expressions of one firewall rule (``rule_item`` of the feed)."""
    v6 = rule.get("ip_version") == 6
    fam = "ip6" if v6 else "ip"
    out: list = [nft.match(nft.meta("nfproto"), "ipv6" if v6 else "ipv4")]
    if rule.get("source_ip_address"):
        out.append(nft.saddr(rule["source_ip_address"], fam))
    if rule.get("destination_ip_address"):
        out.append(nft.daddr(rule["destination_ip_address"], fam))
    proto = rule.get("protocol")
    if proto is not None:
        proto = _PROTO_V6.get(proto, proto) if v6 else proto
        out.append(nft.l4proto(int(proto) if str(proto).isdigit() else proto))
        if proto in ("tcp", "udp"):
            if rule.get("source_port"):
                out.append(nft.sport(proto, _ports(rule["source_port"])))
            if rule.get("destination_port"):
                out.append(nft.dport(proto, _ports(rule["destination_port"])))
    return out


_VERDICT = {"allow": nft.return_, "deny": nft.drop, "reject": nft.reject}


def log_statements(logs: list[dict], verdict: str) -> list:
    """``log prefix "kumo <log id> <verdict>" group N`` for each log of that event."""
    return [{"log": {"prefix": f"{nflog.PREFIX} {lg['id']} {verdict}", "group": nflog.GROUP}}
            for lg in logs if lg["event"] in (verdict, "ALL")]


def firewall(router: dict) -> tuple[list[nft.Chain], list[nft.Rule]] | None:
    """The ``inet kumo_fwaas`` content of a router item, or None (no port in a group)."""
    entries = router.get("firewall") or []
    if not entries:
        return None
    chains = [nft.Chain("forward", "filter", "forward", 0)]
    jumps_e, jumps_i, rules = [], [], []
    for entry in entries:
        leg = names.router_interface(entry["port_id"])
        for direction, prefix, jumps, match in (
                ("egress", "e-", jumps_e, nft.iifname),
                ("ingress", "i-", jumps_i, nft.oifname)):
            chain = prefix + entry["port_id"][:11]
            chains.append(nft.Chain(chain))
            jumps.append(nft.Rule("forward", [match(leg), nft.jump(chain)],
                                  comment=f"fwg {entry['firewall_group_id']}"))
            logs = entry.get("logs") or []
            if entry.get("admin_state_up") is False:  # the group blocks all traffic
                rules.append(nft.Rule(chain, [*log_statements(logs, "DROP"), nft.drop()],
                                      comment="group down"))
                continue
            rules.append(nft.Rule(chain, [nft.ct_state("established", "related"),
                                          nft.return_()]))
            rules.append(nft.Rule(chain, [nft.ct_state("invalid"), nft.drop()]))
            for rule in entry.get(direction) or []:
                verdict = "ACCEPT" if rule["action"] == "allow" else "DROP"
                rules.append(nft.Rule(chain, [*match_rule(rule), *log_statements(logs, verdict),
                                              _VERDICT[rule["action"]]()],
                                      comment=f"fwr {rule['id']}"))
            rules.append(nft.Rule(chain, [*log_statements(logs, "DROP"), nft.drop()],
                                  comment="default drop"))
    return chains, jumps_e + jumps_i + rules


def metering(router: dict, qg: str | None):
    """The ``inet kumo_metering`` content (chains, rules, counter names), or None."""
    labels = router.get("metering_labels") or []
    if not qg or not labels:
        return None
    chains = [nft.Chain("forward", "filter", "forward", -10)]
    rules, counters = [], []
    for label in labels:
        counter = f"l-{label['id']}"
        counters.append(counter)
        for direction, suffix, match in (("ingress", "i", nft.iifname),
                                         ("egress", "e", nft.oifname)):
            mine = [r for r in label["rules"] if r["direction"] == direction]
            if not mine:
                continue
            chain = f"m-{label['id'][:8]}-{suffix}"
            chains.append(nft.Chain(chain))
            rules.append(nft.Rule("forward", [match(qg), nft.jump(chain)],
                                  comment=f"label {label['id']}"))
            for r in sorted(mine, key=lambda r: not r["excluded"]):
                expr = []
                for key, side in (("source_ip_prefix", nft.saddr),
                                  ("destination_ip_prefix", nft.daddr)):
                    if r.get(key):
                        expr.append(side(r[key]))
                tail = [nft.return_()] if r["excluded"] else \
                    [{"counter": counter}, nft.return_()]
                rules.append(nft.Rule(chain, [*expr, *tail], comment=f"rule {r['id']}"))
    return chains, rules, counters


def _replace(ns: Netns, table: str, chains, rules, counters=()) -> None:
    t = {"family": FAMILY, "name": table}
    cmds: list[dict] = [{"add": {"table": t}}, {"delete": {"table": t}},
                        {"add": {"table": t}}]
    cmds += [{"add": {"counter": {"family": FAMILY, "table": table, "name": c}}}
             for c in counters]
    cmds += [{"add": {"chain": c.json(FAMILY, table)}} for c in chains]
    cmds += [{"add": {"rule": r.json(FAMILY, table)}} for r in rules]
    nft.apply(ns, cmds)


def counters(ns: Netns) -> dict[str, dict]:
    """The metering counters of a router namespace: label id -> ``{"packets",
    "bytes"}`` (empty without the table)."""
    from kumo.agent.dataplane.netns import run

    proc = run(ns, ["nft", "-j", "list", "counters", "table", FAMILY, METER_TABLE],
               check=False)
    if proc.returncode != 0:
        return {}
    out = {}
    for o in json.loads(proc.stdout).get("nftables", []):
        c = o.get("counter")
        if c and c.get("name", "").startswith("l-"):
            out[c["name"][2:]] = {"packets": c.get("packets", 0), "bytes": c.get("bytes", 0)}
    return out


class RouterTables:
    """The two tables of each router realized on this host (see the module doc)."""

    def __init__(self, writer: nflog.LogWriter | None = None):
        self._applied: dict[tuple[str, str], str] = {}  # (router id, table) -> digest
        self._guard = threading.Lock()
        #: network logs: the NFLOG reader writing ``<logs dir>/<log id>.log``
        self.writer = writer

    def sync(self, ns: Netns, router: dict, qg: str | None) -> None:
        """Make ``ns``'s firewall and metering tables match the router item."""
        tables = set(nft.list_tables(ns))
        fw = firewall(router)
        if self.writer is not None:
            if any(e.get("logs") for e in router.get("firewall") or []):
                self.writer.ensure(ns, router["id"])
            else:
                self.writer.remove(router["id"])
        meter = metering(router, qg)
        for table, content in ((FW_TABLE, fw), (METER_TABLE, meter)):
            key = (router["id"], table)
            if content is None:
                if (FAMILY, table) in tables:
                    nft.delete_table(ns, FAMILY, table)
                with self._guard:
                    self._applied.pop(key, None)
                continue
            chains, rules, *rest = content
            text = json.dumps([[c.json(FAMILY, table) for c in chains],
                               [r.json(FAMILY, table) for r in rules], rest],
                              sort_keys=True)
            digest = hashlib.sha256(text.encode()).hexdigest()
            with self._guard:
                same = self._applied.get(key) == digest
            if same and (FAMILY, table) in tables:
                continue
            _replace(ns, table, chains, rules, *rest)
            with self._guard:
                self._applied[key] = digest

    def forget(self, router_id: str) -> None:
        if self.writer is not None:
            self.writer.remove(router_id)
        with self._guard:
            for key in [k for k in self._applied if k[0] == router_id]:
                del self._applied[key]

    def stop(self) -> None:
        if self.writer is not None:
            self.writer.stop()
