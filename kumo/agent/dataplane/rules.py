"""IPv4 policy routing rules (``ip rule``) inside a namespace, for the DVR driver
(:mod:`kumo.agent.dvr`): source-based rules sending a floating IP's or a subnet's
traffic to its own routing table. Through the ``ip`` command (``ip -j rule``), the
rule count per router being small; errors are
:class:`~kumo.agent.dataplane.errors.KumoDataplaneError`."""
from __future__ import annotations

import ipaddress
import json

from kumo.agent.dataplane import netns
from kumo.agent.dataplane.netns import Netns


def list_rules(ns: Netns) -> list[dict]:
    """IPv4 rules: ``[{"priority", "src" (CIDR or "all"), "table" (text)}]``."""
    out = netns.run(ns, ["ip", "-j", "-4", "rule", "show"]).stdout.strip()
    rules = []
    for r in json.loads(out or "[]"):
        src = r.get("src", "all")
        if src != "all":
            src = f"{src}/{r.get('srclen', 32)}"
        rules.append({"priority": int(r.get("priority", 0)), "src": src,
                      "table": str(r.get("table", ""))})
    return rules


def ensure_rules(ns: Netns, want: dict[int, tuple[str, int]], lo: int, hi: int) -> None:
    """Make the rules with a priority in ``[lo, hi)`` exactly ``want``:
    ``{priority: (source CIDR, table)}``; rules outside the range are not touched."""
    have = {r["priority"]: r for r in list_rules(ns) if lo <= r["priority"] < hi}
    norm = {p: (str(ipaddress.ip_network(src, strict=False)), str(table))
            for p, (src, table) in want.items()}
    for prio, r in have.items():
        if norm.get(prio) != (str(ipaddress.ip_network(r["src"], strict=False))
                              if r["src"] != "all" else "all", r["table"]):
            netns.run(ns, ["ip", "-4", "rule", "del", "priority", str(prio)], check=False)
            have[prio] = None
    for prio, (src, table) in norm.items():
        if have.get(prio) is None:
            netns.run(ns, ["ip", "-4", "rule", "add", "from", src, "table", table,
                           "priority", str(prio)])
