"""Security group logs in the firewall model (Neutron's ``logging`` extension,
``resource_type: security_group``): which logs cover a port, and the nftables ``log``
statements :mod:`kumo.agent.sgmodel` puts in its chains (see its module doc). Pure
data, no kernel access; :class:`kumo.agent.nflog.LogWriter` reads the packets."""
from __future__ import annotations

import hashlib

from kumo.agent.dataplane import nft

#: The NFLOG group of security group logs (the routers' firewall logs use 17 in their
#: own namespaces; a distinct number keeps the two apart should they share one).
LOG_GROUP = 18
LOG_PREFIX = "kumo"  # kumo.agent.nflog.PREFIX


def logged_chain(chain: str, accept: tuple) -> str:
    """``<chain>-l<digest>`` (``sg-<id>-i-l<digest>``): the copy of group chain
    ``chain`` logging ``accept`` (log ids)."""
    digest = hashlib.sha256(repr(accept).encode()).hexdigest()[:8]
    return f"{chain}-l{digest}"


def log_stmt(log_id: str, action: str) -> dict:
    """``log prefix "kumo <log id> <action>" group LOG_GROUP``."""
    return {"log": {"prefix": f"{LOG_PREFIX} {log_id} {action}", "group": LOG_GROUP}}


def port_logs(port: dict, groups: dict[str, dict]) -> tuple[tuple, tuple]:
    """``(accept log ids, drop log ids)`` (sorted) of the security group logs covering
    ``port``: its groups' logs without a target or targeting it."""
    accept, drop = set(), set()
    for g in port.get("security_groups") or []:
        for lg in (groups.get(g) or {}).get("logs") or []:
            if lg.get("target_id") not in (None, port.get("id")):
                continue
            if lg.get("event") in ("ACCEPT", "ALL"):
                accept.add(lg["id"])
            if lg.get("event") in ("DROP", "ALL"):
                drop.add(lg["id"])
    return tuple(sorted(accept)), tuple(sorted(drop))


def logged(rules: list[list], accept: tuple) -> list[list]:
    """``rules`` with the ACCEPT log statements before each final ``accept``."""
    stmts = [log_stmt(i, "ACCEPT") for i in accept]
    return [r[:-1] + stmts + r[-1:] if r and r[-1] == nft.accept() else r
            for r in rules]
