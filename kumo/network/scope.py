"""What each host realizes, and so which hosts a change concerns (the feed's scope).

A host's agent realizes only what its own ports need, so the desired-state snapshot
for ``host`` H (:meth:`kumo.network.feed.Feed.snapshot`) holds, as SQL built here:

- **ports** bound to H (``binding:host_id``), and the unbound ports of H's networks
  (their addresses are DHCP static leases for the networks H serves);
- **networks** H has a bound port on (:func:`networks_of`), with their **subnets**,
  and their ``l2_population``: the other hosts' ports on them;
- **security groups** used by H's bound ports (:func:`groups_of`) and the groups
  their rules name as remote group (:func:`remote_of`); ``members`` is computed only
  for the latter;
- **routers** scheduled to H, and routers with an interface on one of H's networks
  (the DHCP driver serves metadata itself on networks no router is attached to);
- **floating IPs** of the routers scheduled to H, and those of distributed routers
  whose fixed port is bound to H (:func:`dvr_floatingips`: a ``dvr`` host realizes
  them itself, :mod:`kumo.network.dvr`).

The change feed routes each change to the hosts whose snapshot it alters, and to no
other. Changes of networks and security groups (which a port change anywhere causes:
L2 population, members) are one host-less row each, routed when read
(:func:`read_routed`: to the hosts holding the object then), so a port create costs
three rows however many hosts share its network. Other changes are routed when
written (:func:`hosts_for`, used by :meth:`kumo.network.manager.Networking.changed`):
one ``network_change`` row per concerned host, or one host-less row, seen only by
unfiltered watchers, when none is. An object leaving a host is always announced to
that host by a row of its own: writers that shrink the set of concerned hosts (a port
leaving a host, a router changing host, a floating IP leaving a router, a group
deleted) announce the change before the change as well (rows are de-duplicated per
transaction), and a port coming or going announces to its host what enters or leaves
its state with it (:func:`closure`).
"""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from kumo.network.models import l3 as l3models
from kumo.network.models import ports as pmodels
from kumo.network.models import security as smodels
from kumo.network.models.l3_agent import RouterL3AgentBinding

P = pmodels.Port
PSG = pmodels.PortSecurityGroup
RULE = smodels.SecurityGroupRule
R = l3models.Router
F = l3models.FloatingIP
B = RouterL3AgentBinding
A = smodels.Agent
IF_OWNER = "network:router_interface"

#: Change ``resource_type`` -> snapshot collection (the agent's key kinds).
COLLECTIONS = {"port": "ports", "network": "networks", "subnet": "subnets",
               "security_group": "security_groups", "router": "routers",
               "floatingip": "floatingips"}


def keyed(stmt, keys: dict | None, collection: str, column):
    """``stmt`` limited to the ids ``keys[collection]`` (a snapshot by key,
    :meth:`kumo.network.feed.Feed.snapshot`); ``stmt`` itself when ``keys`` is None,
    None when ``keys`` names no ``collection`` (the snapshot is then ``{}``)."""
    if keys is None:
        return stmt
    if collection not in keys:
        return None
    return stmt.where(column.in_(keys[collection]))


# -- a host's scope, as SQL (subqueries of ids) -----------------------------------------

def networks_of(host: str):
    """Ids of the networks ``host`` has a bound port on, and the other interface
    networks of the distributed routers attached to those (a ``dvr`` host routes onto
    them itself, so it needs their L2: :func:`dvr_networks`)."""
    return sa.union(sa.select(P.network_id).where(P.host_id == host), dvr_networks(host))


def dvr_networks(host: str):
    """Ids of the interface networks of the distributed routers with an interface on
    a network ``host`` has a bound port on."""
    routers = (sa.select(P.device_id).where(
        P.device_owner == IF_OWNER,
        P.network_id.in_(sa.select(P.network_id).where(P.host_id == host)),
        P.device_id.in_(sa.select(R.id).where(R.distributed.is_(True)))))
    return sa.select(P.network_id).where(P.device_owner == IF_OWNER,
                                         P.device_id.in_(routers))


def ports_clause(host: str):
    """Ports in ``host``'s snapshot: bound to it, or unbound on its networks."""
    return sa.or_(P.host_id == host,
                  sa.and_(P.host_id == "", P.network_id.in_(networks_of(host))))


def groups_of(host: str):
    """Ids of the security groups ``host``'s bound ports use."""
    return (sa.select(PSG.security_group_id).join(P, P.id == PSG.port_id)
            .where(P.host_id == host).distinct())


def remote_of(host: str):
    """Ids of the groups that rules of ``host``'s groups name as remote group (their
    ``members`` are what the host's firewall needs)."""
    return (sa.select(RULE.remote_group_id)
            .where(RULE.security_group_id.in_(groups_of(host)),
                   RULE.remote_group_id.is_not(None)).distinct())


def held_groups(host: str):
    """Ids of the groups in ``host``'s snapshot: :func:`groups_of` and :func:`remote_of`."""
    return sa.union(groups_of(host), remote_of(host))


#: Change types routed when read (:func:`read_routed`), not when written.
READ_ROUTED = ("network", "security_group")


def read_routed(C, host: str):
    """SQL over the change model ``C`` for the rows ``host`` gets: its own, and the
    host-less changes of the networks it has ports on and of the groups it holds."""
    return sa.or_(C.host == host, sa.and_(C.host.is_(None), sa.or_(
        sa.and_(C.resource_type == "network", C.resource_id.in_(networks_of(host))),
        sa.and_(C.resource_type == "security_group",
                C.resource_id.in_(held_groups(host))))))


def hosted_routers(host: str):
    """Ids of the routers scheduled to ``host``."""
    return sa.select(B.router_id).join(A, A.id == B.l3_agent_id).where(A.host == host)


def dvr_floatingips(host: str):
    """Ids of the floating IPs of distributed routers whose fixed port is bound to
    ``host`` (the host answers for them through its ``fip-`` namespace)."""
    return (sa.select(F.id).join(P, P.id == F.fixed_port_id).join(R, R.id == F.router_id)
            .where(P.host_id == host, R.distributed.is_(True)))


def attached_routers(host: str):
    """Ids of the routers with an interface on one of ``host``'s networks."""
    return (sa.select(P.device_id).where(P.device_owner == IF_OWNER,
                                         P.network_id.in_(networks_of(host))).distinct())


# -- which hosts a change concerns -----------------------------------------------------

# These run on every port change, inside the serialized write transaction, so they
# must not cost the number of ports: the distinct hosts are walked with a loose index
# scan (a recursive CTE taking the next host_id above the last one from the index,
# one probe per host), and a group's users are the hosts with one port in it (found
# by probing the hosts' ports, not by joining every member: 0.8 ms instead of 5-14 ms
# with 3,000 members on SQLite).
_NET_HOSTS = sa.text("""
WITH RECURSIVE h(x) AS (
  SELECT MIN(host_id) FROM network_port WHERE network_id = :net AND host_id > ''
  UNION ALL
  SELECT (SELECT MIN(host_id) FROM network_port WHERE network_id = :net AND host_id > h.x)
  FROM h WHERE h.x IS NOT NULL)
SELECT x FROM h WHERE x IS NOT NULL""")
_GROUP_USERS = sa.text("""
WITH RECURSIVE h(x) AS (
  SELECT MIN(host_id) FROM network_port WHERE host_id > ''
  UNION ALL
  SELECT (SELECT MIN(host_id) FROM network_port WHERE host_id > h.x)
  FROM h WHERE h.x IS NOT NULL)
SELECT x FROM h WHERE x IS NOT NULL AND EXISTS (
  SELECT 1 FROM network_port p WHERE p.host_id = h.x AND EXISTS (
    SELECT 1 FROM network_port_security_group s
    WHERE s.port_id = p.id AND s.security_group_id IN :groups))""").bindparams(
    sa.bindparam("groups", expanding=True))


def network_hosts(session, network_ids: Iterable[str]) -> set[str]:
    """Hosts with a bound port on one of ``network_ids``."""
    out: set[str] = set()
    for net in dict.fromkeys(network_ids):
        out.update(h for h in session.scalars(_NET_HOSTS, {"net": net}) if h)
    return out


def group_users(session, group_ids: Iterable[str]) -> set[str]:
    """Hosts whose bound ports use one of ``group_ids``."""
    ids = sorted(set(group_ids))
    if not ids:
        return set()
    return {h for h in session.scalars(_GROUP_USERS, {"groups": ids}) if h}


def group_hosts(session, group_ids: Iterable[str]) -> set[str]:
    """Hosts whose snapshot holds one of ``group_ids``: those using it, and those using
    a group with a rule naming it as remote group."""
    ids = set(group_ids)
    if not ids:
        return set()
    referrers = set(session.scalars(sa.select(RULE.security_group_id).where(
        RULE.remote_group_id.in_(ids)).distinct()))
    return group_users(session, ids | referrers)


def remote_groups(session, group_ids: Iterable[str]) -> set[str]:
    """The groups rules of ``group_ids`` name as remote group."""
    ids = list(group_ids)
    if not ids:
        return set()
    return {g for g in session.scalars(sa.select(RULE.remote_group_id).where(
        RULE.security_group_id.in_(ids), RULE.remote_group_id.is_not(None)).distinct())
        if g}


def router_host(session, router_id: str | None) -> str | None:
    """The host ``router_id`` is scheduled to (None: unhosted)."""
    if not router_id:
        return None
    return session.scalar(sa.select(A.host).join(B, B.l3_agent_id == A.id)
                          .where(B.router_id == router_id).order_by(A.host).limit(1))


def router_hosts(session, router_id: str) -> set[str]:
    """The router's host and the hosts with ports on its interfaces' networks."""
    nets = session.scalars(sa.select(P.network_id).where(
        P.device_id == router_id, P.device_owner == IF_OWNER).distinct())
    out = network_hosts(session, nets)
    out.update(router_agent_hosts(session, router_id))
    return out


def router_agent_hosts(session, router_id: str | None) -> set[str]:
    """Every host ``router_id`` is scheduled to (an HA router has several)."""
    if not router_id:
        return set()
    return set(session.scalars(sa.select(A.host).join(B, B.l3_agent_id == A.id)
                               .where(B.router_id == router_id)))


def hosts_for(session, resource_type: str, resource_id: str) -> set[str] | None:
    """The hosts whose snapshot a change of ``resource_type``/``resource_id`` alters,
    from the transaction's current state; None when the change is routed when read
    (:data:`READ_ROUTED`), the type is not in snapshots or the object is gone (the
    caller then writes a host-less row)."""
    if resource_type in READ_ROUTED:
        return None
    if resource_type == "subnet":
        net = session.scalar(sa.select(pmodels.Subnet.network_id).where(
            pmodels.Subnet.id == resource_id))
        return None if net is None else network_hosts(session, [net])
    if resource_type == "port":
        row = session.execute(sa.select(P.host_id, P.network_id).where(
            P.id == resource_id)).first()
        if row is None:
            return None
        return {row.host_id} if row.host_id else network_hosts(session, [row.network_id])
    if resource_type == "security_group":
        return group_hosts(session, [resource_id])
    if resource_type == "router":
        return router_hosts(session, resource_id)
    if resource_type == "floatingip":
        row = session.execute(sa.select(F.router_id, P.host_id, R.distributed)
                              .select_from(F).outerjoin(P, P.id == F.fixed_port_id)
                              .outerjoin(R, R.id == F.router_id)
                              .where(F.id == resource_id)).first()
        if row is None:
            return set()
        out = set(router_agent_hosts(session, row.router_id))
        if row.distributed and row.host_id:
            out.add(row.host_id)  # a distributed router's floating IP lives there
        return out
    return None


def closure(session, host: str, network_id: str | None,
            group_ids: Iterable[str]) -> list[tuple[str, str]]:
    """``[(resource_type, id)]`` that may enter or leave ``host``'s snapshot when one of
    its ports on ``network_id`` using ``group_ids`` comes or goes: the network, its
    subnets, the routers attached to it, the groups and their remote groups."""
    out: list[tuple[str, str]] = []
    if network_id:
        out.append(("network", network_id))
        out += [("subnet", s) for s in session.scalars(sa.select(pmodels.Subnet.id).where(
            pmodels.Subnet.network_id == network_id))]
        routers = list(session.scalars(sa.select(P.device_id).where(
            P.network_id == network_id, P.device_owner == IF_OWNER).distinct()))
        out += [("router", r) for r in routers]
        # a distributed router's other networks come (and go) with it
        for net in session.scalars(sa.select(P.network_id).where(
                P.device_owner == IF_OWNER, P.device_id.in_(routers),
                P.network_id != network_id,
                P.device_id.in_(sa.select(R.id).where(R.distributed.is_(True))))
                .distinct()):
            out.append(("network", net))
            out += [("subnet", s) for s in session.scalars(
                sa.select(pmodels.Subnet.id).where(pmodels.Subnet.network_id == net))]
    groups = set(group_ids)
    for g in sorted(groups | remote_groups(session, groups)):
        out.append(("security_group", g))
    return out
