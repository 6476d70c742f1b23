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

:func:`wake` makes both fresh where they are needed: when a port is created,
changed or deleted, it appends a ``network`` change (read by the hosts with ports on
its network: their L2 population) and ``security_group`` changes (read by the hosts
whose snapshot holds the groups; :func:`kumo.network.scope.read_routed`), and, for
the port's own host (old and new), the objects entering or leaving its snapshot with
it. Hosts with no stake get nothing.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import sqlalchemy as sa

from kumo.db import Prepared
from kumo.network.models import ports as models
from kumo.network import scope
from kumo.network.models import security as sec_models

L2_AGENT_TYPE = "Linux bridge agent"
_P = P = models.Port
_A = models.IPAllocation
_PSG = models.PortSecurityGroup


def wake(net, session, network_id: str | None, groups: Iterable[str] = (),
         hosts: Iterable[str] = (), port_id: str | None = None) -> None:
    """Feed changes for a port ``port_id`` on ``network_id`` using ``groups`` (old and
    new) that is or was bound to ``hosts`` (old and new ``binding:host_id``; empty for
    an unbound port). Call inside :meth:`kumo.network.manager.Networking.write`, after
    the port's rows were written (or deleted)."""
    hosts = sorted({h for h in hosts if h})
    groups = sorted(set(groups))
    seen = session.info.setdefault("peers_woken", set())
    other = {"p": port_id or ""}
    for host in hosts:
        if network_id and _OTHER_ON_NET.first(session, {**other, "h": host,
                                                        "n": network_id}) is None:
            for kind, obj_id in scope.closure(session, host, network_id, ()):
                net.changed(session, kind, obj_id, host=host)
    if hosts and network_id and ("network", network_id) not in seen:
        seen.add(("network", network_id))
        net.changed(session, "network", network_id)
    for g in groups:
        if ("security_group", g) not in seen:
            seen.add(("security_group", g))
            net.changed(session, "security_group", g)
    for host in hosts:
        fresh = [g for g in groups if _OTHER_IN_GROUP.first(
            session, {**other, "h": host, "g": g}) is None]
        for kind, obj_id in scope.closure(session, host, None, fresh):
            net.changed(session, kind, obj_id, host=host)


#: Another port than ``p`` bound to host ``h``: on network ``n``; using group ``g``
#: (built once: these run on every port change, inside the write transaction).
_OTHER_ON_NET = Prepared(sa.select(P.__table__.c.id).where(
    P.__table__.c.host_id == sa.bindparam("h"), P.__table__.c.network_id == sa.bindparam("n"),
    P.__table__.c.id != sa.bindparam("p")).limit(1))
_OTHER_IN_GROUP = Prepared(sa.select(P.__table__.c.id).join(
    _PSG.__table__, sa.and_(_PSG.__table__.c.port_id == P.__table__.c.id,
                            _PSG.__table__.c.security_group_id == sa.bindparam("g")))
    .where(P.__table__.c.host_id == sa.bindparam("h"), P.__table__.c.id != sa.bindparam("p"))
    .limit(1))


def tunnel_ips(session) -> dict[str, str]:
    """``{host: tunneling_ip}`` from the L2 agents' last heartbeats (alive or not: a
    host whose agent is briefly late keeps its entries)."""
    rows = session.execute(sa.select(sec_models.Agent.host, sec_models.Agent.configurations)
                           .where(sec_models.Agent.agent_type == L2_AGENT_TYPE))
    return {r.host: r.configurations["tunneling_ip"] for r in rows
            if (r.configurations or {}).get("tunneling_ip")}


def l2_population(session, host: str | None,
                  networks: list[str] | None = None) -> dict[str, list[dict]]:
    """``{network_id: [{"port_id", "host", "tunneling_ip", "mac_address",
    "ip_addresses"}]}`` for the ports bound to a host other than ``host`` on the
    networks ``host`` has ports on (every bound port when ``host`` is None), sorted by
    port id; only ``networks`` when given. Ports whose host has no known tunneling
    address are listed with ``tunneling_ip`` None."""
    stmt = (sa.select(_P.id, _P.network_id, _P.host_id, _P.mac_address, _A.ip_address)
            .outerjoin(_A, _A.port_id == _P.id).where(_P.host_id != ""))
    if host is not None:
        stmt = stmt.where(_P.host_id != host, _P.network_id.in_(scope.networks_of(host)))
    if networks is not None:
        stmt = stmt.where(_P.network_id.in_(networks))
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


def group_members(session, groups=None) -> dict[str, list[str]]:
    """``{security_group_id: [address, ...]}``: the fixed IPs (``"10.0.0.5"``) and
    allowed-address-pair addresses (an IP or a CIDR, normalized) of every port using
    the group, sorted and without duplicates. ``groups``: only these group ids (a
    list or a subquery of ids); None: every group."""
    out: dict[str, set[str]] = {}
    fixed = sa.select(_PSG.security_group_id, _A.ip_address).join(
        _A, _A.port_id == _PSG.port_id)
    pairs = (sa.select(_PSG.security_group_id, _P.allowed_address_pairs)
             .join(_P, _P.id == _PSG.port_id).where(_P.allowed_address_pairs.is_not(None)))
    if groups is not None:
        fixed = fixed.where(_PSG.security_group_id.in_(groups))
        pairs = pairs.where(_PSG.security_group_id.in_(groups))
    for r in session.execute(fixed):
        out.setdefault(r.security_group_id, set()).add(r.ip_address)
    for r in session.execute(pairs):
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
    """Host ``host``'s L2 agent reported a new tunneling address: wake the hosts with
    ports on the networks that ``host`` has ports on, so their L2 population follows."""
    with net.write() as session:
        for network_id in list(session.scalars(scope.networks_of(host))):
            net.changed(session, "network", network_id)
