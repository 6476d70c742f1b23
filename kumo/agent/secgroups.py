"""Security groups in nftables: the firewall driver (registry name ``firewall``), the
part of Neutron's Linux bridge agent that its ``firewall_driver`` plays.

It filters every port bound to its host whose ``port_security_enabled`` is not false
(``network:*`` ports are trusted, as in Neutron), whether or not its device
``tap<port[:11]>`` exists yet (rules match device names). The kernel layout is
described in :mod:`kumo.agent.sgmodel`: a ``bridge`` table identifies the port by a
packet mark and does anti-spoofing (the bridge family has no conntrack here), an
``inet`` table reached through br_netfilter does the stateful filtering with one chain
per port and direction jumping to one chain per security group and direction, and
remote groups are named sets of member addresses.

**How a change is applied.** Any reconcile (a port, a security group or a network key)
computes the whole desired :class:`~kumo.agent.sgmodel.Model` of the host from the
snapshot (memoized per snapshot object) and diffs it with what the driver knows the
kernel holds: chains are compared by a digest of their rules stored as the comment of
their first rule, sets and maps element by element. Only the difference goes to the
kernel, in **one atomic ``nft -j`` transaction**: new sets and chains, changed set and
map elements, rewritten chains (``flush chain`` + their rules), then removed chains and
sets. The tables are created once and deleted only when no port on the host needs
filtering. So a new rule in a group rewrites one chain whatever the number of ports,
and a member joining a remote group is one set element. The later reconciles of the
same snapshot find nothing to do.

The driver reads the kernel (our tables) at its first use, after any failed
transaction and in :meth:`FirewallDriver.cleanup_orphans` (every resync), and trusts
its record of what it applied in between (transactions are all-or-nothing; orphan
cleanup does not read again what was read in the last ``REREAD_S``, 30 s). Orphan
cleanup then applies the same diff, which removes exactly our tables' chains, sets and
elements that no desired port or group needs (and the tables when nothing is needed).

**Drift is repaired in about a second, and filtering fails closed.**
:meth:`FirewallDriver.watch` (the agent runs it on its own thread) looks at the kernel
every ``check_s`` (1 s): our three tables present with the chains and chain handles it
applied (``nft list chains``), the small guard table's content, and every thirtieth time
the rich tables' content too (chain digests and rule counts, sets, maps). On drift it
corrects its record of the kernel (a missing table is empty, a changed one is read back)
and requeues a filtered port, so the next reconcile puts the difference back in one
transaction. Meanwhile the guard table ``bridge kumo_guard`` (see
:mod:`kumo.agent.sgmodel`) drops every frame from or to a filtered port's tap that our
rich tables did not mark, so a deleted ``bridge``/``inet kumo_sg`` means no traffic for
those ports rather than unfiltered traffic; the guard is created and emptied in the same
transactions as the rich tables.

Port marks (``1..65535``, one per filtered port) and conntrack zones (one per network
with a port on the host) are kept across agent restarts: they are read back from the
``port_marks`` map and the ``zone`` chain.

Security group logs: while the snapshot has a group with logs, an NFLOG socket in the
host's namespace (:class:`kumo.agent.nflog.LogWriter`, group
:data:`~kumo.agent.sgmodel.LOG_GROUP`) writes the logged packets to
``<state_dir>/logs/<log id>.log`` (``<settings.state_dir>/agent/logs`` by default, the
L3 agent's directory), one line per packet with ``host=`` and the taps as ``in``/``out``.

Host setup: br_netfilter is loaded if missing (``modprobe``) and
``net.bridge.bridge-nf-call-iptables``/``-ip6tables`` are set to 1 in the host's
namespace (``where.root``) only.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field

from kumo.agent import nflog, sgmodel, sgrules, snapindex
from kumo.agent.dataplane import links, netns, nft
from kumo.agent.dataplane.errors import KumoDataplaneError
from kumo.agent.dataplane.netns import Host
from kumo.agent.drivers import Driver, Report, register_driver
from kumo.agent.sgmodel import BRIDGE, GUARD, INET, TABLES, Key, Model

LOG = logging.getLogger(__name__)
AGENT_TYPE = "Linux bridge agent"
SYSCTLS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")
_MISSING = object()


@dataclass
class Actual:
    """What the kernel holds in our tables: the tables that exist (keys of
    :data:`~kumo.agent.sgmodel.TABLES`), chain digests and rule counts, set/map names
    (``{key: "set" | "map"}``) and elements, marks and zones."""

    tables: set[str] = field(default_factory=set)
    chains: dict[Key, str] = field(default_factory=dict)
    rules: dict[Key, int] = field(default_factory=dict)
    sets: dict[Key, str] = field(default_factory=dict)
    elements: dict[Key, dict] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)
    zones: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, model: Model) -> "Actual":
        """The state after ``model`` was applied."""
        if model.empty():
            return cls()
        return cls(tables=set(TABLES), chains=model.hashes(),
                   rules={k: len(v) for k, v in model.chains.items()},
                   sets={k: _kind(v) for k, v in model.sets.items()},
                   elements={k: dict(v) for k, v in model.elements.items()},
                   marks=dict(model.marks), zones=dict(model.zones))


def _kind(spec) -> str:
    return "map" if isinstance(spec, nft.Map) else "set"


# -- reading the kernel -----------------------------------------------------------------

def _canon_elem(value) -> list:
    """nft's JSON listing of a set element as our canonical keys (address strings; rule
    set elements as :func:`kumo.agent.sgrules.set_element` keys)."""
    if isinstance(value, dict) and "elem" in value:
        value = value["elem"].get("val")
    if isinstance(value, dict) and "concat" in value:
        return [sgrules.canon_element(value)]
    if isinstance(value, dict) and "prefix" in value:
        return [f"{value['prefix']['addr']}/{value['prefix']['len']}"]
    if isinstance(value, dict) and "range" in value:
        lo, hi = (ipaddress.ip_address(v) for v in value["range"])
        return [str(n) for n in ipaddress.summarize_address_range(lo, hi)]
    return [value]


def _zone_of(rule: dict) -> tuple[str, int] | None:
    br = zone = None
    for e in rule.get("expr", []):
        if "match" in e and e["match"]["left"] == {"meta": {"key": "iifname"}}:
            br = e["match"]["right"]
        elif "mangle" in e and isinstance(e["mangle"]["value"], int):
            zone = e["mangle"]["value"]
    return (br, zone) if br and zone else None


def read_actual(ns: netns.Netns, tables=tuple(TABLES)) -> Actual:
    """Read our tables (``tables``: keys of :data:`~kumo.agent.sgmodel.TABLES`, default
    all) from the kernel in ``ns``."""
    act = Actual()
    for fam in tables:
        objs = nft.list_table(ns, *TABLES[fam])
        if objs is None:
            continue
        act.tables.add(fam)
        for o in objs:
            if "chain" in o:
                act.chains[(fam, o["chain"]["name"])] = "empty"
                act.rules[(fam, o["chain"]["name"])] = 0
            elif "rule" in o:
                r = o["rule"]
                key = (fam, r["chain"])
                act.rules[key] = act.rules.get(key, 0) + 1
                if act.chains.get(key) == "empty":
                    act.chains[key] = r.get("comment") or "unknown"
                if key == (INET, "zone") and (z := _zone_of(r)):
                    act.zones[z[0]] = z[1]
            elif "set" in o or "map" in o:
                kind = "set" if "set" in o else "map"
                s = o[kind]
                key = (fam, s["name"])
                act.sets[key] = kind
                elems: dict = {}
                for e in s.get("elem", []):
                    if kind == "map":
                        elems[e[0]] = e[1]
                    else:
                        for k in _canon_elem(e):
                            elems[k] = None
                act.elements[key] = elems
    act.marks = {k: v for k, v in act.elements.get((BRIDGE, sgmodel.PORT_MARKS),
                                                   {}).items() if isinstance(v, int)}
    return act


# -- the diff ---------------------------------------------------------------------------

def _obj(fam: str, name: str) -> dict:
    family, table = TABLES[fam]
    return {"family": family, "table": table, "name": name}


def _table(fam: str) -> dict:
    family, table = TABLES[fam]
    return {"family": family, "name": table}


def _render(key: Key, k, v, sets: dict) -> object:
    if _kind(sets[key]) == "map":
        return [k, v]
    return _render_key(key, k, "set", sets[key])


def _render_key(key: Key, k, kind: str, spec=None) -> object:
    if kind == "map":
        return k
    if spec is not None and isinstance(spec.type, list):
        return sgrules.render_element(k)
    return nft.addr(k)


def plan(actual: Actual, want: Model) -> list[dict]:
    """The nft commands (one transaction, in order) that turn ``actual`` into ``want``;
    empty when they already match."""
    if want.empty():
        return [nft.cmd("delete", "table", _table(f)) for f in sorted(actual.tables)]
    cmds: list[dict] = []
    for fam in TABLES:
        if fam not in actual.tables:
            cmds.append(nft.cmd("add", "table", _table(fam)))
    for key, spec in want.sets.items():
        if key not in actual.sets:
            cmds.append(nft.cmd("add", _kind(spec), spec.json(*TABLES[key[0]])))
    for key in want.chains:
        if key not in actual.chains:
            base = sgmodel.BASE_CHAINS.get(key) or nft.Chain(key[1])
            cmds.append(nft.cmd("add", "chain", base.json(*TABLES[key[0]])))
    set_adds: list[dict] = []
    map_adds: list[dict] = []
    for key, elems in want.elements.items():
        cur = actual.elements.get(key, {}) if key in actual.sets else {}
        kind = _kind(want.sets[key])
        stale = [k for k, v in cur.items() if elems.get(k, _MISSING) != v]
        if stale:
            cmds.append(nft.element_cmd("delete", *TABLES[key[0]], key[1],
                                        [_render_key(key, k, kind, want.sets[key])
                                         for k in stale]))
        new = [_render(key, k, v, want.sets) for k, v in elems.items()
               if cur.get(k, _MISSING) != v]
        if new:
            (map_adds if kind == "map" else set_adds).append(
                nft.element_cmd("add", *TABLES[key[0]], key[1], new))
    # set elements first (rules may use them), then chains, then map elements (they
    # name chains)
    cmds += set_adds
    digests = want.hashes()
    for key, rules in want.chains.items():
        digest = digests[key]
        if actual.chains.get(key) == digest and \
                actual.rules.get(key, len(rules)) == len(rules):
            continue
        if key in actual.chains:
            cmds.append(nft.cmd("flush", "chain", _obj(*key)))
        for i, expr in enumerate(rules):
            cmds.append(nft.cmd("add", "rule", nft.Rule(
                key[1], expr, comment=digest if i == 0 else None).json(*TABLES[key[0]])))
    cmds += map_adds
    gone = [k for k in actual.chains if k not in want.chains]
    cmds += [nft.cmd("flush", "chain", _obj(*k)) for k in gone]
    cmds += [nft.cmd("delete", "chain", _obj(*k)) for k in gone]
    cmds += [nft.cmd("delete", kind, _obj(*k)) for k, kind in actual.sets.items()
             if k not in want.sets]
    return cmds


# -- the driver -------------------------------------------------------------------------

@register_driver("firewall")
class FirewallDriver(Driver):
    """Security groups of host ``host`` in ``where`` (default: the machine), as
    nftables rules; see the module docstring for the layout and the apply strategy.
    ``reconcile`` returns no statuses (the L2 driver reports the ports)."""

    name = "firewall"
    agent_type = AGENT_TYPE
    binary = "neutron-linuxbridge-agent"
    kinds = ("ports", "security_groups", "networks")

    #: Seconds between two looks at the kernel in :meth:`watch` (tables present, same
    #: handles, the guard's content); every ``VERIFY_EVERY``-th look reads all of our
    #: tables' content (chain digests, rule counts, sets, maps).
    CHECK_S = 1.0
    VERIFY_EVERY = 30
    #: Orphan cleanup reads our tables again unless they were read this recently
    #: (seconds; at 3,000 ports a read takes seconds, and the first cleanup follows the
    #: first reconcile's read at once).
    REREAD_S = 30.0

    def __init__(self, host: str, settings=None, *, where: Host | None = None,
                 client=None, state_dir: str | None = None,
                 check_s: float | None = None):
        self.host = host
        self.check_s = float(check_s if check_s is not None else self.CHECK_S)
        self.where = where or Host()
        self.ns = self.where.root
        self._lock = threading.Lock()
        self._actual: Actual | None = None
        self._read_at = 0.0
        self._memo: tuple[object, Model] | None = None
        #: The model last applied (or found in place) and the record of the kernel it
        #: left: while both are current, a sync has nothing to diff.
        self._applied: Model | None = None
        self._applied_to: Actual | None = None
        self._chain_memo: dict = {}
        self._host_ready = False
        #: A key whose reconcile re-syncs the firewall (a filtered port), for the watch.
        self._requeue_key: tuple[str, str] | None = None
        #: Table handles seen by the watch while ``_actual`` was this object.
        self._handles: tuple[object, dict] | None = None
        #: Drift the watch found (for tests and benchmarks).
        self.drifts = 0
        #: Transactions applied and nft commands sent (for tests and benchmarks).
        self.transactions = 0
        self.commands = 0
        if state_dir is None:
            state_dir = os.path.join(getattr(settings, "state_dir", None) or ".", "agent")
        #: security group logs (see the module doc)
        self.logs = nflog.LogWriter(os.path.join(state_dir, "logs"), sgmodel.LOG_GROUP,
                                    "host")

    def stop(self) -> None:
        self.logs.stop()

    def configurations(self) -> dict:
        return {"firewall_driver": "nftables"}

    def reconcile(self, desired: dict, revision: int) -> Report | None:
        self.sync(desired["state"])
        return None

    def reconcile_many(self, batch: list[dict], revision: int) -> dict:
        """The whole batch is one :meth:`sync` of its snapshot (one nft transaction for
        every port and group of the host); its error, if any, is every key's."""
        if not batch:
            return {}
        try:
            with self._lock:
                self._sync(batch[0]["state"], [(d["kind"], d["id"]) for d in batch])
            result = None
        except Exception as e:  # noqa: BLE001 - the agent records it per key
            result = e
        return {(d["kind"], d["id"]): result for d in batch}

    def cleanup_orphans(self, desired: dict) -> None:
        with self._lock:
            if self._actual is None or time.monotonic() - self._read_at > self.REREAD_S:
                self._actual = None  # read the kernel again (orphans, drift)
            self._sync(desired)

    # -- applying ------------------------------------------------------------------
    def sync(self, state: dict) -> int:
        """Make the kernel match ``state`` (a host snapshot); returns the number of nft
        commands sent (0: nothing to do). Raises :class:`KumoDataplaneError`."""
        with self._lock:
            return self._sync(state)

    def _sync(self, state: dict, keys: list | None = None) -> int:
        """``keys``: the keys this sync is for (a batch); when none of them changed
        anything the model depends on since the snapshot the model was built from,
        that model is reused instead of being rebuilt (a changed key is always in some
        batch, which rebuilds)."""
        if self._actual is None:
            self._actual = read_actual(self.ns)
            self._read_at = time.monotonic()
        actual = self._actual
        if self._memo is not None and (self._memo[0] is state or (
                keys is not None and self._unchanged(keys, state, self._memo[0]))):
            want = self._memo[1]
        else:
            want = sgmodel.build(state, self.host, actual.marks, actual.zones,
                                 self._chain_memo)
            self._memo = (state, want)
            self._requeue_key = next((("ports", p["id"]) for p in state.get("ports", [])
                                      if sgmodel.filtered(p, self.host)), None)
        self._listen(state)
        if self._applied is want and self._applied_to is actual:
            return 0  # this very model was applied (or found in place) since the read
        cmds = plan(actual, want)
        if not cmds:
            self._applied, self._applied_to = want, actual
            return 0
        if not want.empty():
            self._prepare_host()
        try:
            nft.apply(self.ns, cmds)
        except Exception:
            self._actual = None  # re-read the kernel before the retry
            self._memo = None
            raise
        self._actual = Actual.of(want)
        self._applied, self._applied_to = want, self._actual
        self.transactions += 1
        self.commands += len(cmds)
        LOG.debug("%s: firewall: %d nft commands applied", self.host, len(cmds))
        return len(cmds)

    def _listen(self, state: dict) -> None:
        """The NFLOG socket open while some security group of ``state`` has logs."""
        if any(g.get("logs") for g in state.get("security_groups", [])):
            try:
                self.logs.ensure(self.ns, self.host)
            except OSError as e:  # logging never stops filtering
                LOG.warning("%s: security group logs: %s", self.host, e)
        elif self.host in self.logs.serving():
            self.logs.remove(self.host)

    def _unchanged(self, keys: list, state: dict, built: dict) -> bool:
        """Whether the objects at ``keys`` are, for the model, the same in ``state`` as
        in ``built`` (the snapshot the current model was built from): ports compared
        on the fields the model reads (not ``status``, whose reports change every port
        once), security groups whole; networks do not enter the model."""
        now, then = snapindex.of(state), snapindex.of(built)
        for kind, obj_id in keys:
            if kind == "networks":
                continue
            a, b = now.get(kind, obj_id), then.get(kind, obj_id)
            if kind == "ports":
                a, b = _port_view(a), _port_view(b)
            if a != b:
                return False
        return True

    def _prepare_host(self) -> None:
        """br_netfilter loaded and bridged IPv4/IPv6 sent through the inet hooks in the
        host's namespace."""
        if self._host_ready:
            return
        for key in SYSCTLS:
            try:
                value = links.get_sysctl(self.ns, key)
            except KumoDataplaneError:
                netns.run(netns.ROOT, ["modprobe", "br_netfilter"], check=False)
                value = links.get_sysctl(self.ns, key)
            if value.strip() != "1":
                links.set_sysctl(self.ns, key, 1)
        self._host_ready = True

    # -- watching the kernel ---------------------------------------------------------
    def watch(self, requeue, stop) -> None:
        """Every :attr:`check_s` seconds until ``stop``: :meth:`check` the kernel and
        requeue a filtered port's key on drift, so a deleted or changed table is put
        back by the next reconcile within about a second (not at the next resync)."""
        n = 0
        while not stop.wait(self.check_s):
            n += 1
            key = self.check(full=n % self.VERIFY_EVERY == 0)
            if key is not None:
                requeue(key)

    def check(self, full: bool = False) -> tuple[str, str] | None:
        """Compare the kernel with what the driver believes it applied: our tables
        present (or absent) with the same chains and chain handles, and the guard
        table's content (``nft list chains`` and one small listing); ``full`` also reads
        the rich tables' content. On drift, correct the belief to what the kernel
        holds (a missing table is empty, a changed one is read back, the others are
        not re-read) so the next reconcile applies just the difference in one
        transaction, and return the key to requeue; None when all is as applied (or
        nothing was applied yet)."""
        with self._lock:
            act, key = self._actual, self._requeue_key
        if act is None or key is None:
            return None
        # ``nft list chains`` is cheap (``nft list tables`` reads every rule of the
        # ruleset with nft 1.0); a table without chains counts as missing
        chains: dict[str, dict[str, int]] = {}
        where = {ft: fam for fam, ft in TABLES.items()}
        for o in json.loads(netns.run(self.ns, ["nft", "-j", "list", "chains"])
                            .stdout)["nftables"]:
            c = o.get("chain")
            fam = where.get((c["family"], c["table"])) if c else None
            if fam is not None:
                chains.setdefault(fam, {})[c["name"]] = c.get("handle")
        present = set(chains)
        seen = self._handles[1] if self._handles and self._handles[0] is act else {}
        missing = act.tables - present
        suspect = present - act.tables  # ours, not applied by us
        for fam in present & act.tables:
            if set(chains[fam]) != {k[1] for k in act.chains if k[0] == fam} \
                    or (fam in seen and seen[fam] != chains[fam]):
                suspect.add(fam)
        suspect |= present if full else present & {GUARD}
        read = read_actual(self.ns, tuple(sorted(suspect))) if suspect else Actual()
        changed = {f for f in suspect if _view(read, {f}) != _view(act, {f})}
        drift = ", ".join([f"{sorted(missing)} missing"] * bool(missing)
                          + [f"{sorted(changed)} changed"] * bool(changed))
        fixed = act
        if drift:
            # what the kernel holds now: missing tables are empty, changed ones as
            # read back, the others as applied (not re-read)
            fixed = _without(act, missing | changed)
            _merge(fixed, _without(read, set(TABLES) - changed))
        handles = chains
        with self._lock:
            if self._actual is not act:
                return None  # a reconcile applied something meanwhile: look again later
            if not drift:
                self._handles = (act, handles)
                return None
            LOG.warning("%s: firewall: %s; repairing", self.host, drift)
            self.drifts += 1
            self._actual = fixed
            self._handles = None
        return key


#: The port fields :func:`kumo.agent.sgmodel.build` reads.
PORT_FIELDS = ("binding:host_id", "port_security_enabled", "device_owner", "network_id",
               "mac_address", "fixed_ips", "allowed_address_pairs", "security_groups")


def _port_view(port: dict | None) -> tuple | None:
    return None if port is None else tuple(port.get(f) for f in PORT_FIELDS)


def _without(act: Actual, fams) -> Actual:
    """A copy of ``act`` without anything of the tables ``fams``."""
    def keep(d: dict) -> dict:
        return {k: v for k, v in d.items() if k[0] not in fams}
    return Actual(tables=act.tables - set(fams), chains=keep(act.chains),
                  rules=keep(act.rules), sets=keep(act.sets),
                  elements={k: dict(v) for k, v in keep(act.elements).items()},
                  marks=dict(act.marks), zones=dict(act.zones))


def _merge(into: Actual, read: Actual) -> None:
    """Add what ``read`` found (its tables) to ``into``."""
    into.tables |= read.tables
    into.chains.update(read.chains)
    into.rules.update(read.rules)
    into.sets.update(read.sets)
    into.elements.update(read.elements)


def _view(act: Actual, fams) -> tuple:
    """What :meth:`FirewallDriver.check` compares of ``act`` in tables ``fams``."""
    def pick(d: dict) -> dict:
        return {k: v for k, v in d.items() if k[0] in fams}
    return (pick(act.chains), pick(act.rules), pick(act.sets), pick(act.elements))
