"""``kumo trace``'s findings and the pure readers behind some of them.

A :class:`Check` is one line of the trace: the workflow step it belongs to, its status
(``PASS``/``FAIL``/``WARN``), what was found, and the command an operator runs to see
it themselves. :func:`text` and :func:`as_json` render a list of them; :func:`exit_status`
is 0 when nothing failed.

The readers (console log, dnsmasq host file, VXLAN FDB, router NAT table, log lines)
take text or parsed data and return findings, so they are unit-tested without a cloud.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

PASS, FAIL, WARN = "PASS", "FAIL", "WARN"

#: The Sydney 2017 workflow's steps, in order (``kumo trace`` prints its checks under
#: these names; README "Troubleshooting").
STEPS = {
    "resolve": "0. what the target is (API)",
    "logs": "1. server and agent logs: trace|error",
    "port": "2. openstack port show: port bound on its host",
    "agents": "3. openstack network agent list: agents alive",
    "console": "4. openstack console log show: DHCP lease, boot script",
    "secgroups": "5. security groups: ingress is closed by default",
    "dataplane": "6. the data plane on the host: tap, bridge, VXLAN, DHCP, router, NAT",
    "ping": "6. ip netns exec qrouter-/qdhcp- ping <instance ip>",
    "tcpdump": "7. tcpdump: where packets stop",
}


@dataclass
class Check:
    """One finding. ``step``: a key of :data:`STEPS`; ``status``: PASS/FAIL/WARN;
    ``what``: what was checked and found (one line); ``command``: how to see it
    yourself; ``hint``: what to do about a FAIL/WARN (may be empty)."""

    step: str
    status: str
    what: str
    command: str = ""
    hint: str = ""


def text(checks: list[Check]) -> str:
    """One line per check: ``STATUS step: what  $ command``, plus an indented
    ``-> hint`` line where there is a hint, and a summary line."""
    lines = []
    for c in checks:
        line = f"{c.status:4}  {c.step:9} {c.what}"
        if c.command:
            line += f"   $ {c.command}"
        lines.append(line)
        if c.hint:
            lines.append(f"      {'':9} -> {c.hint}")
    counts = {s: sum(1 for c in checks if c.status == s) for s in (PASS, FAIL, WARN)}
    lines.append(f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[WARN]} warnings")
    return "\n".join(lines)


def as_json(target: dict, checks: list[Check]) -> str:
    """``{"target": ..., "ok": bool, "checks": [{step, status, what, command, hint}]}``."""
    return json.dumps({"target": target, "ok": exit_status(checks) == 0,
                       "checks": [asdict(c) for c in checks]}, indent=1)


def exit_status(checks: list[Check]) -> int:
    """0 when no check failed (warnings are things not checked here), else 1."""
    return 1 if any(c.status == FAIL for c in checks) else 0


# -- readers -----------------------------------------------------------------------------

_LEASE = re.compile(r"dhcp: bound: (\S+) (\S+)")
_DHCP = re.compile(r"dhcp|udhcpc|DHCP", re.I)
_USER_DATA = re.compile(r"user.?data|user-data|cloud-init|cirros-init: (?!dhcp)", re.I)


def console_findings(log: str, fixed_ips: list[str]) -> dict:
    """What the console log says: ``lease`` (the address bound by the guest's DHCP
    client, or None), ``lease_ok`` (it is one of ``fixed_ips``), ``dhcp_lines`` and
    ``boot_lines`` (the last few lines about DHCP and the boot/user-data script)."""
    lines = [line.rstrip() for line in log.splitlines() if line.strip()]
    leases = [m.group(2).split("/")[0] for line in lines for m in [_LEASE.search(line)]
              if m]
    lease = leases[-1] if leases else None
    return {"lease": lease, "lease_ok": lease in fixed_ips if lease else False,
            "dhcp_lines": [line for line in lines if _DHCP.search(line)][-3:],
            "boot_lines": [line for line in lines if _USER_DATA.search(line)][-3:]}


def hosts_file_has(content: str, mac: str, ip: str) -> bool:
    """Whether a dnsmasq ``--dhcp-hostsfile`` body has the static lease ``mac`` ->
    ``ip`` (``<mac>,<name>,<ip>[,set:...]``; IPv6 in brackets)."""
    for line in content.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3 and parts[0].lower() == mac.lower() \
                and ip in (parts[2], parts[2].strip("[]")):
            return True
    return False


def fdb_missing(entries: list[tuple[str, str | None]],
                remotes: dict[str, str]) -> list[str]:
    """The hosts of ``remotes`` (``{host: tunneling ip}``) with no flood entry
    (``00:00:00:00:00:00 dst <ip>``) among a VXLAN device's FDB ``entries``."""
    floods = {dst for mac, dst in entries if mac == "00:00:00:00:00:00" and dst}
    return sorted(h for h, ip in remotes.items() if ip not in floods)


def _exprs_text(rule: dict) -> str:
    return json.dumps(rule.get("expr", []), sort_keys=True)


def nat_findings(table: list[dict] | None, floating_ip: str, fixed_ip: str) -> dict:
    """Whether the router's ``ip neutron-l3-agent`` table (as :func:`kumo.agent.
    dataplane.nft.list_table` returns it; ``None`` = absent) has DNAT ``floating_ip``
    -> ``fixed_ip`` and SNAT ``fixed_ip`` -> ``floating_ip``:
    ``{"table": bool, "dnat": bool, "snat": bool}``."""
    out = {"table": table is not None, "dnat": False, "snat": False}
    for obj in table or []:
        rule = obj.get("rule")
        if not rule:
            continue
        body = _exprs_text(rule)
        if '"dnat"' in body and f'"{floating_ip}"' in body and f'"{fixed_ip}"' in body:
            out["dnat"] = True
        if '"snat"' in body and f'"{floating_ip}"' in body and f'"{fixed_ip}"' in body:
            out["snat"] = True
    return out


#: What the workflow's ``trace|error`` means in oslo.log's lines: the level words
#: (ERROR, CRITICAL, and TRACE of older tracebacks) and tracebacks; whole words and
#: case-sensitive, so a host named ``tracehost`` or a message about "errors: []" is not
#: a match.
TROUBLE = r"\b(ERROR|CRITICAL|TRACE)\b|Traceback"
_TROUBLE = re.compile(TROUBLE)


def log_matches(lines, ids: list[str], limit: int = 5) -> tuple[int, list[str]]:
    """Among log ``lines``, those matching :data:`TROUBLE` that name one of ``ids``:
    ``(count, the last `limit`)``."""
    wanted = [i for i in ids if i]
    found = [line.rstrip("\n") for line in lines
             if _TROUBLE.search(line) and any(i in line for i in wanted)]
    return len(found), found[-limit:]


def capture_counts(lines, ip: str) -> tuple[int, int]:
    """From ``tcpdump -n`` text lines, ``(packets to ip, packets from ip)``
    (``IP a > b: ...``; TCP/UDP addresses carry ``.port``)."""
    addr = re.escape(ip)
    to = re.compile(rf"> {addr}(\.\d+)?:")
    frm = re.compile(rf"IP6? {addr}(\.\d+)? >")
    return (sum(1 for line in lines if to.search(line)),
            sum(1 for line in lines if frm.search(line)))


def where_stopped(points: list[tuple[str, int, int]], bridge: str) -> str:
    """Where packets stop, from captures along the path: ``points`` are ``(device,
    packets towards the instance, packets back)`` from the probe's leg to the
    instance's tap; ``bridge`` is the network's bridge between them."""
    if not points:
        return "nothing captured"
    first = points[0]
    if not first[1]:
        return (f"no packet to the instance left by {first[0]}: its address gets no ARP "
                "answer (nothing holds it on the bridge or over VXLAN) or the namespace "
                "has no route to it")
    if len(points) == 1:
        return (f"{first[0]} sees the probe and no answer: the packets stop beyond it "
                "(not captured there: the instance is on another host)")
    last = points[-1]
    if not last[1]:
        return (f"the packets reach {first[0]} but not {last[0]}: dropped on {bridge} "
                "(the security group rules are applied there) or the bridge lacks a "
                "port")
    if not last[2]:
        return (f"{last[0]} delivers the packets and nothing answers: the instance "
                "drops them or has not got its address (console log)")
    if not first[2]:
        return f"the instance answers on {last[0]} but the answers do not reach {first[0]}"
    return "the packets pass both ways now (the failure was intermittent?)"
