"""Subnets, subnet pools and address scopes (Networking API v2.0: "Subnets", "Subnet
pools", "Address scopes"); the logic is in :mod:`kumo.network.subnets` and
:mod:`kumo.network.subnetpools`; their attributes in :mod:`kumo.network.definitions`."""
from __future__ import annotations


from kumo.common.http import Request
from kumo.common.policy import register
from kumo.network import definitions
from kumo.network.api import common
from kumo.network.api.networks import taggable
from kumo.network.api.root import register_extension

register(definitions.SUBNET.rules() + definitions.SUBNETPOOL.rules()
         + definitions.ADDRESS_SCOPE.rules())

for _alias, _name, _desc in [
    ("subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a "
                                               "subnet pool"),
    ("address-scope", "Address scope", "Address scopes extension."),
    ("default-subnetpools", "Default Subnetpools",
     "Provides ability to mark and use a subnetpool as the default."),
    ("subnet-service-types", "Subnet service types",
     "Provides ability to set the subnet service_types field"),
    ("subnet-external-network", "Subnet external network",
     "Informs if the subnet is associated to an external network."),
]:
    register_extension(_alias, _name, _desc)

def _subnet_extras(networking, session, rows: list) -> dict:
    """Tags, and ``router:external`` of each subnet's network (subnet-external-network:
    subnets of external networks are visible to every project, as their networks)."""
    import sqlalchemy as sa

    from kumo.network.models import core
    extras = common.tags_of(networking, session, rows)
    nets = {r.network_id for r in rows}
    external = set(session.scalars(sa.select(core.Network.id).where(
        core.Network.id.in_(nets), core.Network.external))) if nets else set()
    extras["router:external"] = {r.id: r.network_id in external for r in rows}
    return extras


render_subnets = common.renderer(definitions.SUBNET, _subnet_extras)
render_pools = common.renderer(definitions.SUBNETPOOL, common.tags_of)
render_scopes = common.renderer(definitions.ADDRESS_SCOPE, common.tags_of)


# -- subnets ------------------------------------------------------------------------
def _make_subnet(req: Request, s, attrs: dict, target: dict):
    networking = req.cloud.networking
    network = networking.networks.get(s, req.context, attrs["network_id"])
    target["network_owner"] = network.project_id
    req.context.enforce("create_subnet", target)
    networking.check_quota(s, target["project_id"], "subnet", 1)
    return networking.subnets.create(s, req.context, network, attrs)


common.create_route(definitions.SUBNET, "subnets", "subnets", render_subnets,
                    make=_make_subnet)
common.list_route(definitions.SUBNET, "subnets", "subnets", render_subnets)
common.member_routes(definitions.SUBNET, "subnets", "subnets", render_subnets)
taggable("subnets", lambda s, ctx, i, net: net.subnets.get(s, ctx, i))


# -- subnet pools and address scopes ------------------------------------------------
def _crud(definition, path: str, part_name: str, render) -> None:
    """Register the five routes of a simple resource whose logic part has
    get/create/update/delete and a visible clause."""
    common.create_route(definition, path, part_name, render)
    common.list_route(definition, path, part_name, render)
    common.member_routes(definition, path, part_name, render)
    taggable(path, lambda s, ctx, i, net: net.parts[part_name].get(s, ctx, i))


_crud(definitions.SUBNETPOOL, "subnetpools", "subnetpools", render_pools)
_crud(definitions.ADDRESS_SCOPE, "address-scopes", "address_scopes", render_scopes)
