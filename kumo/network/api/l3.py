"""Routers and floating IPs over HTTP (Networking API v2.0: "Routers", "Floating IPs
(floatingips)"; extensions router, ext-gw-mode, extraroute, extraroute-atomic, dvr,
l3-ha, router_availability_zone, fip-port-details).

Policy follows Neutron's defaults: members of a project manage its routers and floating
IPs, readers read them, other projects' are 404; ``external_gateway_info:enable_snat``,
``external_gateway_info:external_fixed_ips``, ``distributed``, ``ha`` and a floating IP's
``floating_ip_address`` are admin-only to set; ``distributed`` and ``ha`` are shown to
admins only.
"""
from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.collection import Collection
from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.network import l3
from kumo.network.api import common, service
from kumo.network.api.networks import taggable
from kumo.network.api.root import register_extension
from kumo.network.manager import tag_filter
from kumo.network.models import l3 as models
from kumo.network.models import ports as pmodels

MEMBER = "rule:admin or rule:project_member"
ADMIN = "rule:admin"
_ROUTER_ADMIN_ATTRS = ("external_gateway_info:enable_snat",
                       "external_gateway_info:external_fixed_ips", "distributed", "ha")

register([
    RuleDefault("create_router", MEMBER), RuleDefault("get_router", "@"),
    RuleDefault("update_router", MEMBER), RuleDefault("delete_router", MEMBER),
    RuleDefault("add_router_interface", MEMBER),
    RuleDefault("remove_router_interface", MEMBER),
    RuleDefault("get_router:distributed", ADMIN), RuleDefault("get_router:ha", ADMIN),
    RuleDefault("create_floatingip", MEMBER), RuleDefault("get_floatingip", "@"),
    RuleDefault("update_floatingip", MEMBER), RuleDefault("delete_floatingip", MEMBER),
    RuleDefault("create_floatingip:floating_ip_address", ADMIN),
    RuleDefault("create_router:project_id", ADMIN),
    RuleDefault("create_floatingip:project_id", ADMIN),
] + [RuleDefault(f"{a}_router:{attr}", ADMIN) for a in ("create", "update")
     for attr in _ROUTER_ADMIN_ATTRS])
common.attr_rules([f"{a}_router:{attr}" for a in ("create", "update")
                   for attr in _ROUTER_ADMIN_ATTRS]
                  + ["create_floatingip:floating_ip_address"])

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

STRING = {"type": ["string", "null"], "maxLength": 255}
ID = {"type": "string", "maxLength": 36}
FIXED_IP = {"type": "object", "additionalProperties": False,
            "properties": {"subnet_id": ID, "ip_address": {"type": "string"}}}
GATEWAY = {"type": ["object", "null"], "additionalProperties": False, "properties": {
    "network_id": ID, "enable_snat": {"type": "boolean"},
    "external_fixed_ips": {"type": "array", "items": FIXED_IP}}}
ROUTE = {"type": "object", "additionalProperties": False,
         "required": ["destination", "nexthop"],
         "properties": {"destination": {"type": "string"}, "nexthop": {"type": "string"}}}
ROUTES = {"type": ["array", "null"], "items": ROUTE}
ROUTER_PROPS = {
    "name": STRING, "description": STRING, "admin_state_up": {"type": "boolean"},
    "external_gateway_info": GATEWAY, "distributed": {"type": "boolean"},
    "ha": {"type": "boolean"}, "flavor_id": {"type": "null"},
    "availability_zone_hints": {"type": "array", "items": {"type": "string"}},
    "project_id": {"type": "string"}, "tenant_id": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string"}},
}
ROUTER_CREATE = {"type": "object", "properties": ROUTER_PROPS, "additionalProperties": False}
ROUTER_UPDATE = {"type": "object", "additionalProperties": False, "properties": {
    **{k: v for k, v in ROUTER_PROPS.items()
       if k not in ("project_id", "tenant_id", "tags", "availability_zone_hints")},
    "routes": ROUTES}}
INTERFACE = {"type": "object", "properties": {"subnet_id": ID, "port_id": ID}}
EXTRAROUTES = {"type": "object", "required": ["router"], "properties": {
    "router": {"type": "object", "required": ["routes"],
               "properties": {"routes": {"type": "array", "items": ROUTE}}}}}
FIP_CREATE = {"type": "object", "additionalProperties": False,
              "required": ["floating_network_id"], "properties": {
                  "floating_network_id": ID, "floating_ip_address": {"type": "string"},
                  "subnet_id": ID, "port_id": {"type": ["string", "null"]},
                  "fixed_ip_address": {"type": ["string", "null"]}, "description": STRING,
                  "project_id": {"type": "string"}, "tenant_id": {"type": "string"},
                  "dns_name": STRING, "dns_domain": STRING,
                  "qos_policy_id": {"type": "null"},
                  "tags": {"type": "array", "items": {"type": "string"}}}}
FIP_UPDATE = {"type": "object", "additionalProperties": False, "properties": {
    "port_id": {"type": ["string", "null"]}, "fixed_ip_address": {"type": ["string", "null"]},
    "description": STRING, "qos_policy_id": {"type": "null"}}}

RT, F = models.Router, models.FloatingIP
ROUTERS = Collection(
    "routers", RT,
    columns={"id": RT.id, "name": RT.name, "description": RT.description,
             "project_id": RT.project_id, "tenant_id": RT.project_id,
             "admin_state_up": RT.admin_state_up, "status": RT.status,
             "distributed": RT.distributed, "ha": RT.ha,
             "revision_number": RT.revision_number, "created_at": RT.created_at,
             "updated_at": RT.updated_at},
    booleans=("admin_state_up", "distributed", "ha"), integers=("revision_number",),
    sortable=("id", "name", "status", "project_id", "tenant_id", "admin_state_up",
              "created_at", "updated_at"),
    tags=tag_filter(RT))
FLOATINGIPS = Collection(
    "floatingips", F,
    columns={"id": F.id, "description": F.description, "project_id": F.project_id,
             "tenant_id": F.project_id, "status": F.status,
             "floating_ip_address": F.floating_ip_address,
             "floating_network_id": F.floating_network_id, "router_id": F.router_id,
             "port_id": F.fixed_port_id, "fixed_ip_address": F.fixed_ip_address,
             "revision_number": F.revision_number, "created_at": F.created_at,
             "updated_at": F.updated_at},
    integers=("revision_number",),
    sortable=("id", "status", "project_id", "tenant_id", "floating_ip_address",
              "floating_network_id", "router_id", "port_id", "fixed_ip_address",
              "created_at", "updated_at"),
    tags=tag_filter(F))

taggable("routers", lambda s, ctx, i, net: net.routers.get(s, ctx, i))
taggable("floatingips", lambda s, ctx, i, net: net.floatingips.get(s, ctx, i))


# -- rendering -----------------------------------------------------------------------
def render_routers(req: Request, session, rows: list) -> list[dict]:
    networking = req.cloud.networking
    tags = networking.tags_of(session, [r.id for r in rows])
    gw = l3.fixed_ips(session, [r.gw_port_id for r in rows if r.gw_port_id])
    out = []
    for r in rows:
        item = common.standard(r, tags[r.id])
        info = None
        if r.gw_port_id:
            info = {"network_id": r.gw_network_id, "enable_snat": r.enable_snat,
                    "external_fixed_ips": [{"subnet_id": i["subnet_id"],
                                            "ip_address": i["ip_address"]}
                                           for i in gw.get(r.gw_port_id, [])]}
        item.update({"admin_state_up": r.admin_state_up, "status": r.status,
                     "external_gateway_info": info, "routes": list(r.routes or []),
                     "availability_zone_hints": list(r.availability_zone_hints or []),
                     "availability_zones": ["nova"], "flavor_id": None})
        target = {"project_id": r.project_id}
        if req.context.can("get_router:distributed", target):
            item["distributed"] = r.distributed
        if req.context.can("get_router:ha", target):
            item["ha"] = r.ha
        out.append(item)
    return out


def render_fips(req: Request, session, rows: list) -> list[dict]:
    networking = req.cloud.networking
    tags = networking.tags_of(session, [r.id for r in rows])
    port_ids = [r.fixed_port_id for r in rows if r.fixed_port_id]
    ports = {p.id: p for p in session.scalars(
        sa.select(pmodels.Port).where(pmodels.Port.id.in_(port_ids)))} if port_ids else {}
    out = []
    for r in rows:
        item = common.standard(r, tags[r.id])
        del item["name"]
        port = ports.get(r.fixed_port_id)
        details = None
        if port is not None:
            details = {"name": port.name, "network_id": port.network_id,
                       "mac_address": port.mac_address,
                       "admin_state_up": port.admin_state_up, "status": port.status,
                       "device_id": port.device_id, "device_owner": port.device_owner}
        item.update({"floating_ip_address": r.floating_ip_address,
                     "floating_network_id": r.floating_network_id,
                     "router_id": r.router_id if port else None,
                     "port_id": r.fixed_port_id,
                     "fixed_ip_address": r.fixed_ip_address if port else None,
                     "status": r.status, "port_details": details, "port_forwardings": [],
                     "dns_name": r.dns_name, "dns_domain": r.dns_domain})
        out.append(item)
    return out


def _check_ip(value, attr: str) -> None:
    if value is None:
        return
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise exc.BadRequest(f"Invalid input for {attr}. Reason: '{value}' is not a valid "
                             f"IP address.") from None


def _enforce_router_attrs(req: Request, action: str, attrs: dict, target: dict) -> None:
    flat = dict(attrs)
    for key in (attrs.get("external_gateway_info") or {}):
        flat[f"external_gateway_info:{key}"] = True
    common.enforce_attrs(req, action, flat, target)


def _gateway_ips(attrs: dict) -> None:
    for spec in (attrs.get("external_gateway_info") or {}).get("external_fixed_ips") or []:
        _check_ip(spec.get("ip_address"), "external_fixed_ips")


# -- routers -------------------------------------------------------------------------
common.create_route("routers", "router", "routers", ROUTER_CREATE, "routers",
                    render_routers, prepare=_gateway_ips,
                    enforce_create=_enforce_router_attrs, quota="router")


common.list_route("routers", "routers", "routers", ROUTERS, render_routers)


common.member_routes("router", "routers", "routers", render_routers, ROUTER_UPDATE,
                     prepare=_gateway_ips, enforce_update=_enforce_router_attrs)

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
def _fip_addresses(attrs: dict) -> None:
    _check_ip(attrs.get("floating_ip_address"), "floating_ip_address")
    _check_ip(attrs.get("fixed_ip_address"), "fixed_ip_address")


common.create_route("floatingips", "floatingip", "floatingips", FIP_CREATE, "floatingips",
                    render_fips, prepare=_fip_addresses, quota="floatingip")


common.list_route("floatingips", "floatingips", "floatingips", FLOATINGIPS,
                  render_fips)


common.member_routes("floatingip", "floatingips", "floatingips", render_fips, FIP_UPDATE,
                     prepare=lambda attrs: _check_ip(attrs.get("fixed_ip_address"),
                                                     "fixed_ip_address"))
