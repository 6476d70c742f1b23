"""What one host must know about the others: L2 population and security group members.

The desired-state feed gives a host its own ports (and unbound ones), but two things
depend on ports bound elsewhere:

- **L2 population** (Neutron's ``l2population`` mechanism driver): a host with ports on
  a VXLAN network needs, for every port of that network on another host, the port's MAC
  and addresses and that host's tunneling address (the ``tunneling_ip`` its Linux
  bridge agent reports in heartbeats). :func:`l2_population` computes it per network
  for the snapshot (``networks[i]["l2_population"]``).
- **Remote security groups**: a rule whose ``remote_group_id`` is a group admits the
  addresses of every member port, wherever it is bound. :func:`group_members` computes
  them per group (``security_groups[i]["members"]``).

:func:`wake` makes both fresh everywhere: when a port that other hosts know about is
created, changed or deleted, it appends host-less ``network`` and ``security_group``
changes to the feed (once per object and transaction), so every agent re-lists and
sees the new rendering at once instead of on its next periodic resync.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import sqlalchemy as sa

from kumo.network.models import ports as models
from kumo.network.models import security as sec_models

L2_AGENT_TYPE = "Linux bridge agent"
_P = models.Port
_A = models.IPAllocation
_PSG = models.PortSecurityGroup


def wake(net, session, network_id: str | None, groups: Iterable[str] = (),
         bound: bool = True) -> None:
    """Feed changes that make other hosts re-read a port's network (when the port is
    or was ``bound`` to a host) and its security ``groups`` (old and new). Call inside
    :meth:`kumo.network.manager.Networking.write`."""
    seen = session.info.setdefault("peers_woken", set())
    wanted = [("security_group", g) for g in groups]
    if bound and network_id:
        wanted.append(("network", network_id))
    for key in wanted:
        if key not in seen:
            seen.add(key)
            net.changed(session, key[0], key[1])


def tunnel_ips(session) -> dict[str, str]:
    """``{host: tunneling_ip}`` from the L2 agents' last heartbeats (alive or not: a
    host whose agent is briefly late keeps its entries)."""
    rows = session.execute(sa.select(sec_models.Agent.host, sec_models.Agent.configurations)
                           .where(sec_models.Agent.agent_type == L2_AGENT_TYPE))
    return {r.host: r.configurations["tunneling_ip"] for r in rows
            if (r.configurations or {}).get("tunneling_ip")}


def l2_population(session, host: str | None) -> dict[str, list[dict]]:
    """``{network_id: [{"port_id", "host", "tunneling_ip", "mac_address",
    "ip_addresses"}]}`` for the ports bound to a host other than ``host`` (every bound
    port when ``host`` is None), sorted by port id. Ports whose host has no known
    tunneling address are listed with ``tunneling_ip`` None."""
    stmt = (sa.select(_P.id, _P.network_id, _P.host_id, _P.mac_address, _A.ip_address)
            .outerjoin(_A, _A.port_id == _P.id).where(_P.host_id != ""))
    if host is not None:
        stmt = stmt.where(_P.host_id != host)
    tunnels = tunnel_ips(session)
    entries: dict[str, dict] = {}
    for r in session.execute(stmt.order_by(_P.id, _A.ip_address)):
        entry = entries.get(r.id)
        if entry is None:
            entry = entries[r.id] = {
                "port_id": r.id, "network_id": r.network_id, "host": r.host_id,
                "tunneling_ip": tunnels.get(r.host_id), "mac_address": r.mac_address,
                "ip_addresses": []}
        if r.ip_address:
            entry["ip_addresses"].append(r.ip_address)
    out: dict[str, list[dict]] = {}
    for entry in entries.values():
        out.setdefault(entry.pop("network_id"), []).append(entry)
    return out


def group_members(session) -> dict[str, list[str]]:
    """``{security_group_id: [address, ...]}``: the fixed IPs (``"10.0.0.5"``) and
    allowed-address-pair addresses (an IP or a CIDR, normalized) of every port using
    the group, sorted and without duplicates."""
    out: dict[str, set[str]] = {}
    for r in session.execute(sa.select(_PSG.security_group_id, _A.ip_address)
                             .join(_A, _A.port_id == _PSG.port_id)):
        out.setdefault(r.security_group_id, set()).add(r.ip_address)
    for r in session.execute(sa.select(_PSG.security_group_id, _P.allowed_address_pairs)
                             .join(_P, _P.id == _PSG.port_id)
                             .where(_P.allowed_address_pairs.is_not(None))):
        for pair in r.allowed_address_pairs or []:
            addr = pair.get("ip_address")
            if not addr:
                continue
            try:
                net = ipaddress.ip_network(addr, strict=False)
            except ValueError:
                continue
            one = net.prefixlen == net.max_prefixlen
            out.setdefault(r.security_group_id, set()).add(
                str(net.network_address) if one else str(net))
    return {g: sorted(addrs, key=_addr_key) for g, addrs in out.items()}


def _addr_key(addr: str):
    net = ipaddress.ip_network(addr, strict=False)
    return (net.version, int(net.network_address), net.prefixlen)


def tunnel_moved(net, host: str) -> None:
    """Host ``host``'s L2 agent reported a new tunneling address: wake every host for
    the networks that ``host`` has ports on, so their L2 population follows."""
    with net.write() as session:
        ids = session.scalars(sa.select(_P.network_id).where(_P.host_id == host).distinct())
        for network_id in ids:
            wake(net, session, network_id)
