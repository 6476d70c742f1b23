"""Read-only views of networks (Networking API v2.0: "Network IP availability and usage
stats", "Segments", "Service providers"). Each is computed from the networks, subnets
and IP allocations; none has a table of its own.

- **Segments**: a Kumo network has exactly one segment (its ``provider:*``
  attributes); the segment's id is the network's id (ids are unique per resource
  type, and one segment per network makes the network's id a stable, unique segment
  id with no table to keep in step). Creating another segment, changing or deleting
  one is refused: multi-segment networks (routed provider networks) are not
  supported.
- **IP availability**: per network and subnet, ``total_ips`` (the addresses in the
  subnet's allocation pools) and ``used_ips`` (its allocated addresses).
"""
from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network.models import core, ports as pmodels

#: ``GET /v2.0/service-providers``: what serves each service type (Neutron lists the
#: drivers of its service plugins; Kumo's routers are one in-tree implementation).
SERVICE_PROVIDERS = [
    {"service_type": "L3_ROUTER_NAT", "name": "single_node", "default": True},
    {"service_type": "L3_ROUTER_NAT", "name": "ha", "default": False},
]


class SegmentNotFound(exc.NotFound):
    message = "Segment %(id)s could not be found."


class NetworkIPAvailabilityNotFound(exc.NotFound):
    message = "Network %(id)s could not be found."


def _admin_clause(ctx: RequestContext, rule: str):
    """Every network for those the ``rule`` (admin only by default) allows, none for
    others (Neutron filters a list by the get policy; a show is a 404)."""
    return sa.true() if ctx.can(rule, {"project_id": ctx.project_id}) else sa.false()


class Segments:
    """The segments view (see the module doc)."""

    def __init__(self, net):
        self.net = net

    def visible(self, ctx: RequestContext):
        return _admin_clause(ctx, "get_segment")

    def get(self, session, ctx: RequestContext, segment_id: str) -> core.Network:
        row = session.get(core.Network, segment_id) if ctx.can(
            "get_segment", {"project_id": ctx.project_id}) else None
        if row is None:
            raise SegmentNotFound(id=segment_id)
        return row

    def create(self, session, ctx: RequestContext, attrs: dict):
        network = self.net.networks.get(session, ctx, attrs["network_id"])
        raise exc.BadRequest(f"Network {network.id} already has a segment: multi-segment "
                             "networks (routed provider networks) are not supported.")

    def update(self, session, ctx: RequestContext, row, attrs: dict) -> None:
        raise exc.BadRequest(f"Segment {row.id} cannot be updated: a network's segment "
                             "follows its provider attributes.")

    def delete(self, session, ctx: RequestContext, row) -> None:
        raise exc.Conflict(f"Segment '{row.id}' cannot be deleted: it is the only "
                           f"segment of network {row.id}.")


class IPAvailability:
    """The IP availability view (see the module doc)."""

    def __init__(self, net):
        self.net = net

    def visible(self, ctx: RequestContext):
        return _admin_clause(ctx, "get_network_ip_availability")

    def get(self, session, ctx: RequestContext, network_id: str) -> core.Network:
        row = session.get(core.Network, network_id) if ctx.can(
            "get_network_ip_availability", {"project_id": ctx.project_id}) else None
        if row is None:
            raise NetworkIPAvailabilityNotFound(id=network_id)
        return row

    def usage(self, session, network_ids: list[str], ip_version: int | None = None
              ) -> dict[str, list[dict]]:
        """``{network_id: [{subnet_id, subnet_name, cidr, ip_version, total_ips,
        used_ips}]}`` (subnets in creation order, of ``ip_version`` when given)."""
        out: dict[str, list[dict]] = {i: [] for i in network_ids}
        S, A = pmodels.Subnet, pmodels.IPAllocation
        for chunk in range(0, len(network_ids), 500):
            ids = network_ids[chunk:chunk + 500]
            stmt = sa.select(S).where(S.network_id.in_(ids)).order_by(S.created_at, S.id)
            if ip_version is not None:
                stmt = stmt.where(S.ip_version == ip_version)
            subnets = list(session.scalars(stmt))
            used = dict(session.execute(
                sa.select(A.subnet_id, sa.func.count()).where(
                    A.subnet_id.in_([s.id for s in subnets])).group_by(A.subnet_id)).all()
            ) if subnets else {}
            for s in subnets:
                total = sum(int(ipaddress.ip_address(p["end"]))
                            - int(ipaddress.ip_address(p["start"])) + 1
                            for p in (s.allocation_pools or []))
                out[s.network_id].append({
                    "subnet_id": s.id, "subnet_name": s.name, "cidr": s.cidr,
                    "ip_version": s.ip_version, "total_ips": total,
                    "used_ips": used.get(s.id, 0)})
        return out
