"""Networks, and tags on every networking resource (Networking API v2.0: "Networks",
"Tag extension"). The network's attributes are defined in
:data:`kumo.network.definitions.NETWORK`."""
from __future__ import annotations


from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.network import definitions
from kumo.network.api import common, service

register(definitions.NETWORK.rules()
         + [RuleDefault("update_tags", definitions.MEMBER)])


def _extras(networking, session, rows: list) -> dict:
    ids = [r.id for r in rows]
    return {"tags": networking.tags_of(session, ids),
            "subnets": networking.subnets.ids_by_network(session, ids),
            "address_scopes": networking.subnets.address_scopes_by_network(session, ids),
            "qos_policy_id": networking.qos.bound(session, "network", ids)}


render = common.renderer(definitions.NETWORK, _extras)
common.create_route(definitions.NETWORK, "networks", "networks", render, quota="network")
common.list_route(definitions.NETWORK, "networks", "networks", render)
common.member_routes(definitions.NETWORK, "networks", "networks", render)

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
