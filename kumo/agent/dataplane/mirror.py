"""Port mirroring with ``tc`` (iproute2) for Tap-as-a-Service (:mod:`kumo.agent.taas`).

A mirror copies what crosses a port's host leg (``tap...``) to another device (the tap
service port's ``tap...``, whose far end is the analyzer's NIC) with the ``mirred
egress mirror`` action, ending in ``continue`` so the filters after it (QoS's
redirect to its ifb, :mod:`kumo.agent.dataplane.tc`) still see the packet:

- **OUT** (what the instance sends arrives at the tap's *ingress*): a u32 match-all
  filter on the tap's ``ingress`` qdisc (``ffff:``; made if absent, shared with QoS);
- **IN** (what the instance receives leaves by the tap's *egress*): a u32 match-all
  filter on the tap's root qdisc: QoS's HTB ``1:`` when the port is shaped, else an
  HTB root ``7:`` of our own with no class (every packet goes to HTB's unshaped direct
  queue), which QoS's code does not take for its own.

Our filters are told apart by their handles: priority 1, u32 nodes ``800::100`` to
``800::1ff`` (QoS's redirect is ``800::800``, after ours: u32 runs a hash bucket's
nodes in handle order), one per target device. The kernel here has neither the
``matchall`` classifier nor ``dummy`` devices, hence u32 and veths in the tests.
"""
from __future__ import annotations

import re

from kumo.agent.dataplane import netns
from kumo.agent.dataplane.netns import Netns

#: our HTB root when QoS does not shape the port
ROOT = "7:"
FIRST_NODE, LAST_NODE = 0x100, 0x1FF
_FILTER = re.compile(r"fh 800::([0-9a-f]+) .*?mirred \(Egress Mirror to device (\S+)\)",
                     re.S)


def _tc(ns: Netns, *args: str, check: bool = True):
    return netns.run(ns, ["tc", *args], check=check, timeout=10)


def roots(ns: Netns, dev: str) -> dict[str, bool]:
    """What may carry mirrors on ``dev`` (netlink, no process): ``{"ingress": an
    ingress qdisc, "htb": an HTB root (ours or QoS's)}``; empty when ``dev`` is
    absent."""
    out = {}
    with netns.shared_ipr(ns) as ipr:
        found = ipr.link_lookup(ifname=dev)
        if not found:
            return out
        for msg in ipr.get_qdiscs(index=found[0]):
            kind = msg.get_attr("TCA_KIND")
            if kind == "ingress":
                out["ingress"] = True
            elif kind == "htb" and msg["parent"] == 0xFFFFFFFF:
                out["htb"] = True
    return out


def _root_handle(ns: Netns, dev: str) -> str | None:
    proc = _tc(ns, "qdisc", "show", "dev", dev, "root", check=False)
    m = re.search(r"qdisc htb (\S+) root", proc.stdout or "")
    return m.group(1) if m else None


def mirrors(ns: Netns, dev: str) -> dict[str, dict[str, int]]:
    """Our mirror filters on ``dev``: ``{"OUT": {target: node}, "IN": {target: node}}``."""
    out: dict[str, dict[str, int]] = {"OUT": {}, "IN": {}}
    held = roots(ns, dev)
    if held.get("ingress"):
        proc = _tc(ns, "filter", "show", "dev", dev, "parent", "ffff:", check=False)
        for node, target in _FILTER.findall(proc.stdout or ""):
            if FIRST_NODE <= int(node, 16) <= LAST_NODE:
                out["OUT"][target] = int(node, 16)
    root = _root_handle(ns, dev) if held.get("htb") else None
    if root:
        proc = _tc(ns, "filter", "show", "dev", dev, "parent", root, check=False)
        for node, target in _FILTER.findall(proc.stdout or ""):
            if FIRST_NODE <= int(node, 16) <= LAST_NODE:
                out["IN"][target] = int(node, 16)
    return out


def wanted(mirror_list: list[dict], device_of) -> dict[str, set[str]]:
    """``{"OUT": {target devices}, "IN": {...}}`` of a port's ``tap_mirrors``
    (``device_of(port_id)`` names the target's device)."""
    out: dict[str, set[str]] = {"OUT": set(), "IN": set()}
    for m in mirror_list or []:
        target = device_of(m["to"])
        if m["direction"] in ("OUT", "BOTH"):
            out["OUT"].add(target)
        if m["direction"] in ("IN", "BOTH"):
            out["IN"].add(target)
    return out


def apply(ns: Netns, dev: str, want: dict[str, set[str]]) -> bool:
    """Make ``dev``'s mirror filters exactly ``want``; returns whether anything
    changed."""
    have = mirrors(ns, dev)
    changed = False
    for side in ("OUT", "IN"):
        if set(have[side]) == want[side]:
            continue
        changed = True
        parent = "ffff:" if side == "OUT" else (_root_handle(ns, dev) or ROOT)
        for target, node in have[side].items():
            if target not in want[side]:
                _tc(ns, "filter", "del", "dev", dev, "parent", parent, "protocol", "all",
                    "prio", "1", "handle", f"800::{node:x}", "u32", check=False)
        used = {n for t, n in have[side].items() if t in want[side]}
        free = (n for n in range(FIRST_NODE, LAST_NODE + 1) if n not in used)
        for target in sorted(want[side] - set(have[side])):
            if side == "OUT":
                _tc(ns, "qdisc", "replace", "dev", dev, "handle", "ffff:", "ingress")
            elif _root_handle(ns, dev) is None:
                _tc(ns, "qdisc", "replace", "dev", dev, "root", "handle", ROOT, "htb")
                parent = ROOT
            _tc(ns, "filter", "replace", "dev", dev, "parent", parent, "protocol", "all",
                "prio", "1", "handle", f"800::{next(free):x}", "u32", "match", "u32", "0",
                "0", "action", "mirred", "egress", "mirror", "dev", target, "continue")
    if changed and not want["OUT"] and not want["IN"]:
        tidy(ns, dev)
    return changed


def tidy(ns: Netns, dev: str) -> None:
    """Remove our HTB root ``7:`` and an ingress qdisc left with no filter."""
    if _root_handle(ns, dev) == ROOT:
        _tc(ns, "qdisc", "del", "dev", dev, "root", check=False)
    if roots(ns, dev).get("ingress"):
        proc = _tc(ns, "filter", "show", "dev", dev, "parent", "ffff:", check=False)
        if proc.returncode == 0 and not (proc.stdout or "").strip():
            _tc(ns, "qdisc", "del", "dev", dev, "ingress", check=False)


def clear(ns: Netns, dev: str) -> None:
    """Remove every mirror of ours from ``dev``."""
    apply(ns, dev, {"OUT": set(), "IN": set()})
