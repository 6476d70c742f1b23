"""Routers and floating IPs over HTTP (Networking API v2.0: "Routers", "Floating IPs
(floatingips)"; extensions router, ext-gw-mode, extraroute, extraroute-atomic, dvr,
l3-ha, router_availability_zone, fip-port-details).

Policy follows Neutron's defaults: members of a project manage its routers and floating
IPs, readers read them, other projects' are 404; ``external_gateway_info:enable_snat``,
``external_gateway_info:external_fixed_ips``, ``distributed``, ``ha`` and a floating IP's
``floating_ip_address`` are admin-only to set; ``distributed`` and ``ha`` are shown to
admins only. The attributes are defined in :mod:`kumo.network.definitions`.
"""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.common.policy import register
from kumo.network import definitions
from kumo.network import l3, zones
from kumo.network.api import common, service
from kumo.network.api.networks import taggable
from kumo.network.api.root import register_extension

ROUTER, FLOATINGIP = definitions.ROUTER, definitions.FLOATINGIP
register(ROUTER.rules() + FLOATINGIP.rules())

for _alias, _name, _desc in [
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between "
     "L2 Neutron networks and access to external networks via a NAT gateway."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode",
     "Extension of the router abstraction for specifying whether SNAT should occur on "
     "the external gateway"),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("extraroute-atomic", "Atomically add/remove extra routes",
     "Edit extra routes of a router on server side by atomically adding/removing extra "
     "routes"),
    ("dvr", "Distributed Virtual Router", "Enables configuration of Distributed Virtual "
     "Routers."),
    ("l3-ha", "HA Router extension", "Adds HA capability to routers."),
    ("router_availability_zone", "Router Availability Zone",
     "Availability zone support for router."),
    ("fip-port-details", "Floating IP Port Details Extension",
     "Add port_details attribute to Floating IP resource"),
]:
    register_extension(_alias, _name, _desc)

ID = {"type": "string", "maxLength": 36}
INTERFACE = {"type": "object", "properties": {"subnet_id": ID, "port_id": ID}}
EXTRAROUTES = {"type": "object", "required": ["router"], "properties": {
    "router": {"type": "object", "required": ["routes"],
               "properties": {"routes": {"type": "array", "items": definitions.ROUTE}}}}}

taggable("routers", lambda s, ctx, i, net: net.routers.get(s, ctx, i))
taggable("floatingips", lambda s, ctx, i, net: net.floatingips.get(s, ctx, i))


# -- rendering -----------------------------------------------------------------------
def _router_extras(networking, session, rows: list) -> dict:
    return {"tags": networking.tags_of(session, [r.id for r in rows]),
            "gateway_ips": l3.fixed_ips(session, [r.gw_port_id for r in rows
                                                  if r.gw_port_id]),
            "qos_policy_id": networking.qos.bound(session, "router", [r.id for r in rows]),
            "availability_zones": zones.router_zones(session, [r.id for r in rows])}


render_routers = common.renderer(ROUTER, _router_extras)
render_fips = common.renderer(
    FLOATINGIP, lambda networking, session, rows: networking.floatingips.extras(session,
                                                                                 rows))

# -- routers -------------------------------------------------------------------------
common.create_route(ROUTER, "routers", "routers", render_routers, quota="router")
common.list_route(ROUTER, "routers", "routers", render_routers)
common.member_routes(ROUTER, "routers", "routers", render_routers)


def _interface(req: Request, action: str) -> Reply:
    body = req.json(INTERFACE)
    networking = req.cloud.networking
    with networking.write() as s:
        row = networking.routers.get(s, req.context, req.params["router_id"])
        req.context.enforce(action, {"project_id": row.project_id})
        method = (networking.routers.add_interface if action == "add_router_interface"
                  else networking.routers.remove_interface)
        info = method(s, req.context, row, body)
    return Reply(200, info)


@service.route("PUT", "/v2.0/routers/{router_id}/add_router_interface")
def add_router_interface(req: Request) -> Reply:
    return _interface(req, "add_router_interface")


@service.route("PUT", "/v2.0/routers/{router_id}/remove_router_interface")
def remove_router_interface(req: Request) -> Reply:
    return _interface(req, "remove_router_interface")


def _extraroutes(req: Request, adding: bool) -> Reply:
    routes = req.json(EXTRAROUTES)["router"]["routes"]
    networking = req.cloud.networking
    with networking.write() as s:
        row = networking.routers.get(s, req.context, req.params["router_id"])
        req.context.enforce("update_router", {"project_id": row.project_id})
        given = [l3.normalize_route(r) for r in routes]
        current = list(row.routes or [])
        if adding:
            new = current + [r for r in given if r not in current]
        else:
            new = [r for r in current if r not in given]
        networking.routers.update(s, req.context, row, {"routes": new})
        s.flush()
        item = render_routers(req, s, [row])[0]
    return Reply(200, {"router": item})


@service.route("PUT", "/v2.0/routers/{router_id}/add_extraroutes")
def add_extraroutes(req: Request) -> Reply:
    return _extraroutes(req, True)


@service.route("PUT", "/v2.0/routers/{router_id}/remove_extraroutes")
def remove_extraroutes(req: Request) -> Reply:
    return _extraroutes(req, False)


# -- floating IPs --------------------------------------------------------------------
common.create_route(FLOATINGIP, "floatingips", "floatingips", render_fips,
                    quota="floatingip")
common.list_route(FLOATINGIP, "floatingips", "floatingips", render_fips)
common.member_routes(FLOATINGIP, "floatingips", "floatingips", render_fips)
