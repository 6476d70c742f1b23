"""Ports (Networking API v2.0: "Ports", "Port binding", "Allowed address pairs",
"Extra DHCP option (extra_dhcp_opt) extension"); subnets, subnet pools and address
scopes are served by :mod:`kumo.network.api.subnets`. The logic is in
:mod:`kumo.network.ports`.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.collection import Collection
from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register, sees_all
from kumo.network.api import common, service
from kumo.network.api import subnets as _subnet_routes  # noqa: F401
from kumo.network.api.networks import taggable
from kumo.network.api.root import register_extension
from kumo.network.manager import check_if_match, tag_filter
from kumo.network.models import ports as models

# The service role (the agents: DHCP ports in any project's network, bound to their
# host) may do what Neutron's ``service_api`` rules let it do with ports; it reads every
# port (kumo.common.policy.sees_all). ``binding:profile`` stays settable by admins too.
MEMBER = "rule:admin_or_service or rule:project_member"
ADMIN = "rule:admin_or_service"
NETWORK_OWNER = "rule:admin_or_service or project_id:%(network_owner)s"

register([
    RuleDefault("create_port", MEMBER),
    RuleDefault("get_port", "@"),  # visibility is enforced by the query
    RuleDefault("update_port", MEMBER + " or (role:member and "
                                        "project_id:%(network_owner)s)"),
    RuleDefault("delete_port", MEMBER + " or (role:member and "
                                        "project_id:%(network_owner)s)"),
    RuleDefault("create_port:project_id", ADMIN),
    RuleDefault("create_port:mac_address", NETWORK_OWNER),
    RuleDefault("create_port:fixed_ips:ip_address", NETWORK_OWNER),
    RuleDefault("update_port:mac_address", ADMIN),
    RuleDefault("update_port:fixed_ips:ip_address", NETWORK_OWNER),
] + [RuleDefault(f"{action}_port:{attr}", ADMIN) for action in ("create", "update")
     for attr in ("binding:host_id", "binding:profile")])
common.attr_rules([f"{action}_port:{attr}" for action in ("create", "update")
                   for attr in ("binding:host_id", "binding:profile", "mac_address")])

for _alias, _name, _desc in [
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external "
                                "application"),
    ("allowed-address-pairs", "Allowed Address Pairs",
     "Provides allowed address pairs"),
    ("extra_dhcp_opt", "Neutron Extra DHCP options",
     "Extra options configuration for DHCP. For example PXE boot options to DHCP "
     "clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)"),
    ("port-security-groups-filtering", "Port filtering on security groups",
     "Provides security groups filtering when listing ports"),
]:
    register_extension(_alias, _name, _desc)

STRING = {"type": ["string", "null"], "maxLength": 255}
FIXED_IP = {"type": "object", "properties": {"subnet_id": {"type": "string"},
                                             "ip_address": {"type": "string"}},
            "additionalProperties": False}
PAIR = {"type": "object", "properties": {"ip_address": {"type": "string"},
                                         "mac_address": {"type": ["string", "null"]}},
        "required": ["ip_address"], "additionalProperties": False}
DHCP_OPT = {"type": "object", "properties": {
    "opt_name": {"type": "string"}, "opt_value": {"type": ["string", "null"]},
    "ip_version": {"type": ["integer", "string", "null"]}},
    "required": ["opt_name"], "additionalProperties": False}
PORT_PROPS = {
    "name": STRING, "description": STRING, "network_id": {"type": "string"},
    "admin_state_up": {"type": "boolean"}, "mac_address": {"type": "string"},
    "fixed_ips": {"type": ["array", "null"], "items": FIXED_IP},
    "device_id": STRING, "device_owner": STRING,
    "security_groups": {"type": ["array", "null"], "items": {"type": "string"}},
    "port_security_enabled": {"type": ["boolean", "null"]},
    "allowed_address_pairs": {"type": ["array", "null"], "items": PAIR},
    "extra_dhcp_opts": {"type": ["array", "null"], "items": DHCP_OPT},
    "binding:host_id": STRING, "binding:vnic_type": {"type": ["string", "null"]},
    "binding:profile": {"type": ["object", "null"]},
    "project_id": {"type": "string"}, "tenant_id": {"type": "string"},
    "qos_policy_id": {"type": "null"},
    "tags": {"type": "array", "items": {"type": "string"}},
}
PORT_CREATE = {"type": "object", "properties": PORT_PROPS, "required": ["network_id"],
               "additionalProperties": False}
PORT_UPDATE = {"type": "object", "properties": {
    k: v for k, v in PORT_PROPS.items()
    if k not in ("network_id", "project_id", "tenant_id", "tags")},
    "additionalProperties": False}

P, IA = models.Port, models.IPAllocation


def _fixed_ips_filter(stmt, values: list[str]):
    """``fixed_ips=ip_address=X`` / ``fixed_ips=subnet_id=Y`` (repeated values of one
    key are OR, different keys must hold for the same address)."""
    wanted: dict[str, list[str]] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or key not in ("ip_address", "subnet_id"):
            raise exc.BadRequest(f"Invalid input for fixed_ips. Reason: '{value}' is not "
                                 "ip_address=<ip> or subnet_id=<id>.")
        wanted.setdefault(key, []).append(val)
    sub = sa.select(IA.port_id)
    for key, vals in wanted.items():
        sub = sub.where(getattr(IA, key).in_(vals))
    return stmt.where(P.id.in_(sub))


def _groups_filter(stmt, values: list[str]):
    PSG = models.PortSecurityGroup
    return stmt.where(P.id.in_(sa.select(PSG.port_id).where(
        PSG.security_group_id.in_(values))))


PORTS = Collection(
    "ports", P,
    columns={"id": P.id, "name": P.name, "description": P.description,
             "project_id": P.project_id, "tenant_id": P.project_id,
             "network_id": P.network_id, "mac_address": P.mac_address,
             "admin_state_up": P.admin_state_up, "status": P.status,
             "device_id": P.device_id, "device_owner": P.device_owner,
             "port_security_enabled": P.port_security_enabled,
             "binding:host_id": P.host_id, "binding:vnic_type": P.vnic_type,
             "revision_number": P.revision_number, "created_at": P.created_at,
             "updated_at": P.updated_at},
    booleans=("admin_state_up", "port_security_enabled"),
    integers=("revision_number",),
    sortable=("id", "name", "project_id", "tenant_id", "network_id", "mac_address",
              "admin_state_up", "status", "device_id", "device_owner", "created_at",
              "updated_at"),
    tags=tag_filter(P),
    custom={"fixed_ips": _fixed_ips_filter, "security_groups": _groups_filter})


def render(req: Request, s, rows: list) -> list[dict]:
    return req.cloud.networking.ports.render_rows(s, rows, sees_all(req.context))


def _enforce_owner_attrs(req: Request, action: str, attrs: dict, target: dict) -> None:
    if action == "create" and "mac_address" in attrs:
        req.context.enforce("create_port:mac_address", target)
    if any(ip.get("ip_address") for ip in attrs.get("fixed_ips") or []):
        req.context.enforce(f"{action}_port:fixed_ips:ip_address", target)


@service.route("POST", "/v2.0/ports")
def create_port(req: Request) -> Reply:
    entries, bulk = common.items(req, "port", "ports", PORT_CREATE)
    networking = req.cloud.networking
    with networking.write() as s:
        rows, tags = [], {}
        for attrs in entries:
            target = common.target_of(req, attrs)
            req.context.enforce("create_port", target)
            if target["project_id"] != req.context.project_id:
                req.context.enforce("create_port:project_id", target)
            network = networking.ports.network_for(s, req.context, attrs["network_id"],
                                                   target["project_id"])
            target["network_owner"] = network.project_id
            common.enforce_attrs(req, "create_port", {k: v for k, v in attrs.items()
                                                      if k != "mac_address"}, target)
            _enforce_owner_attrs(req, "create", attrs, target)
            networking.check_quota(s, target["project_id"], "port", 1)
            row = networking.ports.create(s, req.context, attrs, network)
            if attrs.get("tags"):
                tags[row.id] = networking.add_tags(s, row.id, attrs["tags"])
            rows.append(row)
        rendered = networking.ports.render_new(s, rows, sees_all(req.context), tags)
    return common.created(req, "port", "ports", rendered, bulk)


@service.route("GET", "/v2.0/ports")
def list_ports(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.read() as s:
        # Core rows, not ORM objects: a list of 10,000 ports loads several times faster.
        stmt = sa.select(P.__table__).where(networking.ports.visible(req.context))
        rows, links = PORTS.query(s, stmt, req.query, req.url("/v2.0/ports"))
        rendered = render(req, s, rows)
    return common.listing(req, "ports", rendered, links)


@service.route("GET", "/v2.0/ports/{port_id}")
def show_port(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.read() as s:
        row = networking.ports.get(s, req.context, req.params["port_id"])
        item = render(req, s, [row])[0]
    return common.show(req, "port", item)


def _target(s, row) -> dict:
    from kumo.network.models import core

    network = s.get(core.Network, row.network_id)
    return {"project_id": row.project_id,
            "network_owner": network.project_id if network else row.project_id}


@service.route("PUT", "/v2.0/ports/{port_id}")
def update_port(req: Request) -> Reply:
    attrs = common.one(req, "port", PORT_UPDATE)
    networking = req.cloud.networking
    with networking.write() as s:
        row = networking.ports.get(s, req.context, req.params["port_id"])
        target = _target(s, row)
        req.context.enforce("update_port", target)
        common.enforce_attrs(req, "update_port", attrs, target)
        _enforce_owner_attrs(req, "update", attrs, target)
        check_if_match(row, req.headers.get("if-match"))
        networking.ports.update(s, req.context, row, attrs)
        s.flush()
        item = render(req, s, [row])[0]
    return common.show(req, "port", item)


@service.route("DELETE", "/v2.0/ports/{port_id}")
def delete_port(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.write() as s:
        row = networking.ports.get_row(s, req.context, req.params["port_id"])
        req.context.enforce("delete_port", {
            "project_id": row.project_id,
            "network_owner": row.network_owner or row.project_id})
        check_if_match(row, req.headers.get("if-match"))
        # ports owned by routers and floating IPs are refused (409) by the PORT
        # BEFORE_DELETE subscription (kumo.network.manager)
        networking.ports.delete(s, req.context, row)
    return Reply(204)


taggable("ports", lambda s, ctx, i, net: net.ports.get(s, ctx, i))
