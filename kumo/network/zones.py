"""Availability zones of networks and routers (Networking API v2.0: "Availability
zones", "Network availability zone", "Router availability zone").

A zone exists for networks when a DHCP agent reports it, for routers when an L3 agent
does (an agent's zone is its ``agent_availability_zone`` setting); ``nova`` always
exists for both (the zone of agents that report none, and of a cloud with no agents
yet). ``availability_zone_hints`` naming an unknown zone are a 404
(``AvailabilityZoneNotFound``, as Neutron); the L3 scheduler hosts a router with hints
only on agents of those zones.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.network.models import security as smodels

DEFAULT_ZONE = "nova"
#: the resource a zone serves -> the agent type reporting it
AGENT_OF = {"network": "DHCP agent", "router": "L3 agent"}


class AvailabilityZoneNotFound(exc.NotFound):
    message = "AvailabilityZone %(availability_zone)s could not be found."


def zones(session) -> list[dict]:
    """Every zone: ``{name, resource, state}`` (``available`` while an enabled agent
    of the zone is up, ``nova`` always ``available``)."""
    A = smodels.Agent
    out = {(DEFAULT_ZONE, r): "available" for r in AGENT_OF}
    for r in session.execute(sa.select(A.availability_zone, A.agent_type,
                                       A.admin_state_up).where(
            A.agent_type.in_(list(AGENT_OF.values())), A.availability_zone.is_not(None))):
        resource = next(k for k, v in AGENT_OF.items() if v == r.agent_type)
        key = (r.availability_zone, resource)
        if out.get(key) != "available":
            out[key] = "available" if r.admin_state_up else "unavailable"
    return [{"name": n, "resource": res, "state": st}
            for (n, res), st in sorted(out.items())]


def check_hints(session, resource: str, hints) -> list[str]:
    """``hints`` (a network's or router's ``availability_zone_hints``) if every zone
    exists for ``resource``; 404 AvailabilityZoneNotFound for the first that does not."""
    hints = list(hints or [])
    if not hints:
        return hints
    known = {z["name"] for z in zones(session) if z["resource"] == resource}
    for hint in hints:
        if hint not in known:
            raise AvailabilityZoneNotFound(availability_zone=hint)
    return hints


def router_zones(session, router_ids: list[str]) -> dict[str, list[str]]:
    """Routers' ``availability_zones``: the zones of the L3 agents hosting each (sorted,
    ``nova`` for an agent reporting none; empty while unhosted), as Neutron's
    ``router_availability_zone`` extension."""
    from kumo.network.models.l3_agent import RouterL3AgentBinding as B

    A = smodels.Agent
    out: dict[str, set[str]] = {r: set() for r in router_ids}
    if not router_ids:
        return {}
    for chunk in range(0, len(router_ids), 500):
        for rid, zone in session.execute(
                sa.select(B.router_id, A.availability_zone).join(A, A.id == B.l3_agent_id)
                .where(B.router_id.in_(router_ids[chunk:chunk + 500]))):
            out[rid].add(zone or DEFAULT_ZONE)
    return {r: sorted(z) for r, z in out.items()}
