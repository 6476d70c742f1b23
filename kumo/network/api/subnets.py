"""Subnets, subnet pools and address scopes (Networking API v2.0: "Subnets", "Subnet
pools", "Address scopes"); the logic is in :mod:`kumo.network.subnets` and
:mod:`kumo.network.subnetpools`."""
from __future__ import annotations


from kumo.common import exceptions as exc
from kumo.common.collection import Collection
from kumo.common.http import Request
from kumo.common.policy import RuleDefault, register
from kumo.network.api import common
from kumo.network.api.networks import taggable
from kumo.network.api.root import register_extension
from kumo.network.manager import tag_filter
from kumo.network.models import ports as models

MEMBER = "rule:admin or rule:project_member"
ADMIN = "rule:admin"

register([
    RuleDefault("create_subnet", "rule:admin or (rule:project_member and "
                                 "project_id:%(network_owner)s)"),
    RuleDefault("get_subnet", "@"),
    RuleDefault("update_subnet", MEMBER),
    RuleDefault("delete_subnet", MEMBER),
    RuleDefault("create_subnetpool", MEMBER),
    RuleDefault("get_subnetpool", "@"),
    RuleDefault("update_subnetpool", MEMBER),
    RuleDefault("delete_subnetpool", MEMBER),
    RuleDefault("create_address_scope", MEMBER),
    RuleDefault("get_address_scope", "@"),
    RuleDefault("update_address_scope", MEMBER),
    RuleDefault("delete_address_scope", MEMBER),
] + [RuleDefault(rule, ADMIN) for rule in (
    "create_subnet:project_id", "create_subnetpool:project_id",
    "create_address_scope:project_id",
    "create_subnetpool:shared", "update_subnetpool:shared",
    "create_subnetpool:is_default", "update_subnetpool:is_default",
    "create_address_scope:shared", "update_address_scope:shared")])
common.attr_rules(["create_subnetpool:shared", "update_subnetpool:shared",
                   "create_subnetpool:is_default", "update_subnetpool:is_default",
                   "create_address_scope:shared", "update_address_scope:shared"])

for _alias, _name, _desc in [
    ("subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a "
                                               "subnet pool"),
    ("address-scope", "Address scope", "Address scopes extension."),
    ("default-subnetpools", "Default Subnetpools",
     "Provides ability to mark and use a subnetpool as the default."),
    ("subnet-service-types", "Subnet service types",
     "Provides ability to set the subnet service_types field"),
]:
    register_extension(_alias, _name, _desc)

STRING = {"type": ["string", "null"], "maxLength": 255}
NULLABLE_STRING = {"type": ["string", "null"]}
POOL = {"type": "object", "properties": {"start": {"type": "string"},
                                         "end": {"type": "string"}},
        "required": ["start", "end"], "additionalProperties": False}
ROUTE = {"type": "object", "properties": {"destination": {"type": "string"},
                                          "nexthop": {"type": "string"}},
         "required": ["destination", "nexthop"], "additionalProperties": False}
IPV6_MODE = {"type": ["string", "null"],
             "enum": ["slaac", "dhcpv6-stateful", "dhcpv6-stateless", None]}
SUBNET_PROPS = {
    "name": STRING, "description": STRING, "network_id": {"type": "string"},
    "ip_version": {"type": "integer", "enum": [4, 6]}, "cidr": NULLABLE_STRING,
    "gateway_ip": NULLABLE_STRING, "enable_dhcp": {"type": "boolean"},
    "allocation_pools": {"type": ["array", "null"], "items": POOL},
    "dns_nameservers": {"type": ["array", "null"], "items": {"type": "string"}},
    "host_routes": {"type": ["array", "null"], "items": ROUTE},
    "service_types": {"type": ["array", "null"], "items": {"type": "string"}},
    "ipv6_ra_mode": IPV6_MODE, "ipv6_address_mode": IPV6_MODE,
    "subnetpool_id": NULLABLE_STRING, "prefixlen": {"type": ["integer", "string"]},
    "use_default_subnetpool": {"type": "boolean"}, "segment_id": {"type": "null"},
    "project_id": {"type": "string"}, "tenant_id": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string"}},
}
SUBNET_CREATE = {"type": "object", "properties": SUBNET_PROPS,
                 "required": ["network_id", "ip_version"], "additionalProperties": False}
SUBNET_UPDATE = {"type": "object", "properties": {k: SUBNET_PROPS[k] for k in (
    "name", "description", "gateway_ip", "enable_dhcp", "allocation_pools",
    "dns_nameservers", "host_routes", "service_types")}, "additionalProperties": False}

PREFIXLEN = {"type": ["integer", "string", "null"]}
#: Neutron's ``type:non_negative`` in an integer column (32 bits).
QUOTA = {"type": ["integer", "null"], "minimum": 0, "maximum": 2 ** 31 - 1}
POOL_PROPS = {
    "name": STRING, "description": STRING,
    "prefixes": {"type": "array", "items": {"type": "string"}},
    "default_prefixlen": PREFIXLEN, "min_prefixlen": PREFIXLEN, "max_prefixlen": PREFIXLEN,
    "shared": {"type": "boolean"}, "is_default": {"type": "boolean"},
    "address_scope_id": NULLABLE_STRING, "default_quota": QUOTA,
    "ip_version": {"type": "integer", "enum": [4, 6]},
    "project_id": {"type": "string"}, "tenant_id": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string"}},
}
POOL_CREATE = {"type": "object", "properties": POOL_PROPS, "required": ["prefixes"],
               "additionalProperties": False}
POOL_UPDATE = {"type": "object", "properties": {
    k: v for k, v in POOL_PROPS.items()
    if k not in ("ip_version", "project_id", "tenant_id", "tags")},
    "additionalProperties": False}
SCOPE_PROPS = {"name": STRING, "description": STRING, "shared": {"type": "boolean"},
               "ip_version": {"type": "integer", "enum": [4, 6]},
               "project_id": {"type": "string"}, "tenant_id": {"type": "string"},
               "tags": {"type": "array", "items": {"type": "string"}}}
SCOPE_CREATE = {"type": "object", "properties": SCOPE_PROPS, "required": ["ip_version"],
                "additionalProperties": False}
SCOPE_UPDATE = {"type": "object", "properties": {k: SCOPE_PROPS[k] for k in (
    "name", "description", "shared")}, "additionalProperties": False}


def _std_columns(M) -> dict:
    return {"id": M.id, "name": M.name, "description": M.description,
            "project_id": M.project_id, "tenant_id": M.project_id,
            "revision_number": M.revision_number, "created_at": M.created_at,
            "updated_at": M.updated_at}


S, SP, AS = models.Subnet, models.SubnetPool, models.AddressScope
SUBNETS = Collection(
    "subnets", S,
    columns={**_std_columns(S), "network_id": S.network_id, "ip_version": S.ip_version,
             "cidr": S.cidr, "gateway_ip": S.gateway_ip, "enable_dhcp": S.enable_dhcp,
             "ipv6_ra_mode": S.ipv6_ra_mode, "ipv6_address_mode": S.ipv6_address_mode,
             "subnetpool_id": S.subnetpool_id},
    booleans=("enable_dhcp",), integers=("ip_version", "revision_number"),
    sortable=("id", "name", "project_id", "tenant_id", "network_id", "ip_version", "cidr",
              "gateway_ip", "enable_dhcp", "created_at", "updated_at"),
    tags=tag_filter(S))
SUBNETPOOLS = Collection(
    "subnetpools", SP,
    columns={**_std_columns(SP), "ip_version": SP.ip_version, "shared": SP.shared,
             "is_default": SP.is_default, "address_scope_id": SP.address_scope_id,
             "default_prefixlen": SP.default_prefixlen, "min_prefixlen": SP.min_prefixlen,
             "max_prefixlen": SP.max_prefixlen},
    booleans=("shared", "is_default"),
    integers=("ip_version", "revision_number", "default_prefixlen", "min_prefixlen",
              "max_prefixlen"),
    sortable=("id", "name", "project_id", "tenant_id", "ip_version", "created_at",
              "updated_at", "default_prefixlen"),
    tags=tag_filter(SP))
SCOPES = Collection(
    "address_scopes", AS,
    columns={**_std_columns(AS), "ip_version": AS.ip_version, "shared": AS.shared},
    booleans=("shared",), integers=("ip_version", "revision_number"),
    sortable=("id", "name", "project_id", "tenant_id", "ip_version", "created_at",
              "updated_at"),
    tags=tag_filter(AS))


def render_subnets(req: Request, s, rows: list) -> list[dict]:
    tags = req.cloud.networking.tags_of(s, [r.id for r in rows])
    out = []
    for r in rows:
        item = common.standard(r, tags[r.id])
        item.update({
            "network_id": r.network_id, "ip_version": r.ip_version, "cidr": r.cidr,
            "gateway_ip": r.gateway_ip, "enable_dhcp": r.enable_dhcp,
            "allocation_pools": list(r.allocation_pools or []),
            "dns_nameservers": list(r.dns_nameservers or []),
            "host_routes": list(r.host_routes or []),
            "service_types": list(r.service_types or []),
            "ipv6_ra_mode": r.ipv6_ra_mode, "ipv6_address_mode": r.ipv6_address_mode,
            "subnetpool_id": r.subnetpool_id, "segment_id": None})
        out.append(item)
    return out


def render_pools(req: Request, s, rows: list) -> list[dict]:
    tags = req.cloud.networking.tags_of(s, [r.id for r in rows])
    out = []
    for r in rows:
        item = common.standard(r, tags[r.id])
        item.update({
            "ip_version": r.ip_version, "prefixes": list(r.prefixes or []),
            "default_prefixlen": r.default_prefixlen, "min_prefixlen": r.min_prefixlen,
            "max_prefixlen": r.max_prefixlen, "shared": r.shared,
            "is_default": r.is_default, "address_scope_id": r.address_scope_id,
            "default_quota": r.default_quota})
        out.append(item)
    return out


def render_scopes(req: Request, s, rows: list) -> list[dict]:
    tags = req.cloud.networking.tags_of(s, [r.id for r in rows])
    out = []
    for r in rows:
        item = common.standard(r, tags[r.id])
        item.update({"ip_version": r.ip_version, "shared": r.shared})
        out.append(item)
    return out


def _prefixlens(attrs: dict) -> dict:
    for key in ("prefixlen", "default_prefixlen", "min_prefixlen", "max_prefixlen"):
        value = attrs.get(key)
        if isinstance(value, str):
            try:
                attrs[key] = int(value)
            except ValueError:
                raise exc.BadRequest(f"Invalid input for {key}. Reason: '{value}' "
                                            "is not an integer.") from None
    return attrs


# -- subnets ------------------------------------------------------------------------
def _make_subnet(req: Request, s, attrs: dict, target: dict):
    networking = req.cloud.networking
    network = networking.networks.get(s, req.context, attrs["network_id"])
    target["network_owner"] = network.project_id
    req.context.enforce("create_subnet", target)
    networking.check_quota(s, target["project_id"], "subnet", 1)
    return networking.subnets.create(s, req.context, network, attrs)


common.create_route("subnets", "subnet", "subnets", SUBNET_CREATE, "subnets", render_subnets,
                    prepare=_prefixlens, make=_make_subnet)


common.list_route("subnets", "subnets", "subnets", SUBNETS, render_subnets)


common.member_routes("subnet", "subnets", "subnets", render_subnets, SUBNET_UPDATE)

# -- subnet pools and address scopes ------------------------------------------------
def _crud(resource: str, collection: str, path: str, listing: Collection,
          part_name: str, create_schema: dict, update_schema: dict, render) -> None:
    """Register the five routes of a simple resource whose logic part has
    get/create/update/delete and a visible clause."""
    common.create_route(path, resource, collection, create_schema, part_name, render,
                        prepare=_prefixlens)
    common.list_route(path, collection, part_name, listing, render)
    common.member_routes(resource, path, part_name, render, update_schema,
                         prepare=_prefixlens)
    taggable(path, lambda s, ctx, i, net: net.parts[part_name].get(s, ctx, i))


_crud("subnetpool", "subnetpools", "subnetpools", SUBNETPOOLS, "subnetpools",
      POOL_CREATE, POOL_UPDATE, render_pools)
_crud("address_scope", "address_scopes", "address-scopes", SCOPES, "address_scopes",
      SCOPE_CREATE, SCOPE_UPDATE, render_scopes)
taggable("subnets", lambda s, ctx, i, net: net.subnets.get(s, ctx, i))
