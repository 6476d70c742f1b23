"""Networks, and tags on every networking resource (Networking API v2.0: "Networks",
"Tag extension")."""
from __future__ import annotations


from kumo.common import exceptions as exc
from kumo.common.collection import Collection
from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.network.api import common, service
from kumo.network.manager import tag_filter
from kumo.network.models import core as models

MEMBER = "rule:admin or rule:project_member"
ADMIN = "rule:admin"

register([
    RuleDefault("create_network", MEMBER),
    RuleDefault("get_network", "@"),  # visibility is enforced by the query
    RuleDefault("update_network", MEMBER),
    RuleDefault("delete_network", MEMBER),
    RuleDefault("update_tags", MEMBER),
] + [RuleDefault(f"{action}_network:{attr}", ADMIN)
     for action in ("create", "update")
     for attr in ("shared", "router:external", "provider:network_type",
                  "provider:physical_network", "provider:segmentation_id", "is_default",
                  "project_id", "tenant_id")])
common.attr_rules([f"{a}_network:{attr}" for a in ("create", "update")
                   for attr in ("shared", "router:external", "provider:network_type",
                                "provider:physical_network", "provider:segmentation_id",
                                "is_default")])

STRING = {"type": ["string", "null"], "maxLength": 255}
NETWORK_PROPS = {
    "name": STRING, "description": STRING, "admin_state_up": {"type": "boolean"},
    "shared": {"type": "boolean"}, "router:external": {"type": "boolean"},
    "mtu": {"type": ["integer", "null"], "minimum": 68},
    "provider:network_type": {"type": ["string", "null"]},
    "provider:physical_network": {"type": ["string", "null"]},
    "provider:segmentation_id": {"type": ["integer", "string", "null"]},
    "port_security_enabled": {"type": "boolean"},
    "availability_zone_hints": {"type": "array", "items": {"type": "string"}},
    "dns_domain": STRING, "is_default": {"type": "boolean"},
    "project_id": {"type": "string"}, "tenant_id": {"type": "string"},
    "qos_policy_id": {"type": "null"},
    "tags": {"type": "array", "items": {"type": "string"}},
}
NETWORK_CREATE = {"type": "object", "properties": NETWORK_PROPS, "additionalProperties": False}
NETWORK_UPDATE = {"type": "object", "properties": {
    k: v for k, v in NETWORK_PROPS.items() if k not in ("project_id", "tenant_id", "tags")},
    "additionalProperties": False}

N = models.Network
COLLECTION = Collection(
    "networks", N,
    columns={"id": N.id, "name": N.name, "description": N.description,
             "project_id": N.project_id, "tenant_id": N.project_id,
             "admin_state_up": N.admin_state_up, "status": N.status, "shared": N.shared,
             "router:external": N.external, "mtu": N.mtu,
             "provider:network_type": N.network_type,
             "provider:physical_network": N.physical_network,
             "provider:segmentation_id": N.segmentation_id,
             "port_security_enabled": N.port_security_enabled,
             "revision_number": N.revision_number, "is_default": N.is_default,
             "created_at": N.created_at, "updated_at": N.updated_at},
    booleans=("admin_state_up", "shared", "router:external", "port_security_enabled",
              "is_default"),
    integers=("mtu", "provider:segmentation_id", "revision_number"),
    sortable=("id", "name", "status", "project_id", "tenant_id", "admin_state_up",
              "mtu", "created_at", "updated_at", "shared"),
    tags=tag_filter(N))


def render(req: Request, session, rows: list) -> list[dict]:
    networking = req.cloud.networking
    ids = [r.id for r in rows]
    tags = networking.tags_of(session, ids)
    subnets_part = networking.parts.get("subnets")
    subnets = subnets_part.ids_by_network(session, ids) if subnets_part else {}
    admin = req.context.is_admin
    out = []
    for r in rows:
        item = common.standard(r, tags[r.id])
        item.update({
            "admin_state_up": r.admin_state_up, "status": r.status,
            "subnets": subnets.get(r.id, []), "shared": r.shared,
            "router:external": r.external, "mtu": r.mtu,
            "port_security_enabled": r.port_security_enabled,
            "availability_zone_hints": list(r.availability_zone_hints or []),
            "availability_zones": ["nova"], "dns_domain": r.dns_domain,
            "ipv4_address_scope": None, "ipv6_address_scope": None,
            "is_default": r.is_default, "l2_adjacency": True, "qos_policy_id": None,
        })
        if admin:
            item.update({"provider:network_type": r.network_type,
                         "provider:physical_network": r.physical_network,
                         "provider:segmentation_id": r.segmentation_id})
        out.append(item)
    return out


def _segmentation(attrs: dict) -> dict:
    seg = attrs.get("provider:segmentation_id")
    if isinstance(seg, str):
        try:
            attrs["provider:segmentation_id"] = int(seg)
        except ValueError:
            raise exc.BadRequest(f"Invalid input for provider:segmentation_id. Reason: "
                                 f"'{seg}' is not an integer.") from None
    return attrs


common.create_route("networks", "network", "networks", NETWORK_CREATE, "networks", render,
                    prepare=_segmentation, quota="network")


common.list_route("networks", "networks", "networks", COLLECTION, render)


common.member_routes("network", "networks", "networks", render, NETWORK_UPDATE,
                     prepare=_segmentation)

# -- tags on any resource -----------------------------------------------------------
#: collection -> fetch(session, ctx, id, networking) returning a visible row (404
#: otherwise).
TAGGABLE: dict = {}


def taggable(collection: str, fetch) -> None:
    """Make ``/v2.0/<collection>/{id}/tags`` work for a resource."""
    TAGGABLE[collection] = fetch


taggable("networks", lambda s, ctx, i, net: net.networks.get(s, ctx, i))


def _tag_row(req: Request, s):
    fetch = TAGGABLE.get(req.params["collection"])
    if fetch is None:
        raise exc.NotFound("The resource could not be found.")
    return fetch(s, req.context, req.params["resource_id"], req.cloud.networking)


def _check_tag(tag: str) -> str:
    if not tag or len(tag) > 255 or "," in tag:
        raise exc.BadRequest(f"Invalid input for tag: '{tag}'.")
    return tag


@service.route("GET", "/v2.0/{collection}/{resource_id}/tags")
def list_tags(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.read() as s:
        row = _tag_row(req, s)
        return Reply(200, {"tags": networking.tags_of(s, [row.id])[row.id]})


@service.route("GET", "/v2.0/{collection}/{resource_id}/tags/{tag}")
def check_tag(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.read() as s:
        row = _tag_row(req, s)
        if req.params["tag"] not in networking.tags_of(s, [row.id])[row.id]:
            raise exc.NotFound(f"Tag {req.params['tag']} could not be found for "
                               f"{req.params['collection'][:-1]} {row.id}.")
    return Reply(204)


@service.route("PUT", "/v2.0/{collection}/{resource_id}/tags")
def replace_tags(req: Request) -> Reply:
    body = req.json({"type": "object", "required": ["tags"],
                     "properties": {"tags": {"type": "array", "items": {"type": "string"}}}})
    tags = [_check_tag(t) for t in body["tags"]]
    networking = req.cloud.networking
    with networking.write() as s:
        row = _tag_row(req, s)
        req.context.enforce("update_tags", {"project_id": row.project_id})
        networking.set_tags(s, row, tags)
    return Reply(200, {"tags": sorted(set(tags))})


@service.route("PUT", "/v2.0/{collection}/{resource_id}/tags/{tag}")
def add_tag(req: Request) -> Reply:
    tag = _check_tag(req.params["tag"])
    networking = req.cloud.networking
    with networking.write() as s:
        row = _tag_row(req, s)
        req.context.enforce("update_tags", {"project_id": row.project_id})
        current = networking.tags_of(s, [row.id])[row.id]
        if tag not in current:
            networking.set_tags(s, row, current + [tag])
    return Reply(201)


@service.route("DELETE", "/v2.0/{collection}/{resource_id}/tags")
def delete_tags(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.write() as s:
        row = _tag_row(req, s)
        req.context.enforce("update_tags", {"project_id": row.project_id})
        networking.set_tags(s, row, [])
    return Reply(204)


@service.route("DELETE", "/v2.0/{collection}/{resource_id}/tags/{tag}")
def delete_tag(req: Request) -> Reply:
    networking = req.cloud.networking
    tag = req.params["tag"]
    with networking.write() as s:
        row = _tag_row(req, s)
        req.context.enforce("update_tags", {"project_id": row.project_id})
        current = networking.tags_of(s, [row.id])[row.id]
        if tag not in current:
            raise exc.NotFound(f"Tag {tag} could not be found.")
        networking.set_tags(s, row, [t for t in current if t != tag])
    return Reply(204)
