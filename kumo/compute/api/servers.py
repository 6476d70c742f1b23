"""Servers (Compute API "Servers (servers)"): create, list, list with details, show,
update and delete."""
from __future__ import annotations

import secrets
import uuid

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.listing import link, plain
from kumo.compute import schemas
from kumo.compute.api import at_least, render, service
from kumo.compute.listing import ServerQuery
from kumo.compute.models import Instance
from kumo.compute.servers import disk_config_of

P = "os_compute_api:servers:"


@service.route("POST", "/v2.1/servers")
def create(req: Request) -> Reply:
    ctx = req.context
    data = req.json(schemas.SERVER_CREATE)
    body = dict(data["server"])
    body["os:scheduler_hints"] = data.get("os:scheduler_hints") or data.get(
        "OS-SCH-HNT:scheduler_hints") or {}
    ctx.enforce(P + "create", {"project_id": ctx.project_id})
    if "networks" not in body and at_least(req, "2.37"):
        raise exc.BadRequest("Invalid input for field/attribute networks: 'networks' is "
                             "a required property")
    if isinstance(body.get("networks"), str) and not at_least(req, "2.37"):
        raise exc.BadRequest("Invalid input for field/attribute networks.")
    for key, version in (("tags", "2.52"), ("description", "2.19"),
                         ("hostname", "2.90")):
        if key in body and not at_least(req, version):
            raise exc.BadRequest(f"Additional properties are not allowed ('{key}' was "
                                 "unexpected)")
    if body.get("personality"):
        raise exc.BadRequest("Personality files are not supported.")
    for key in ("min_count", "max_count"):
        if key in body:
            body[key] = int(body[key])
    compute = req.cloud.compute
    bdm = []  # boot from volume: kumo/compute/api/volumes.py
    from kumo.compute.api import volumes
    volumes.image_mappings(req, body)  # a volume-backed server's snapshot image
    imaged = bool(body.get("imageRef"))
    if body.get("block_device_mapping_v2"):
        if body.get("max_count", 1) > 1 or body.get("min_count", 1) > 1:
            raise exc.BadRequest("Block device mappings need a single server "
                                 "(max_count 1).")
        bdm = volumes.prepare_bdm(req, body)
    server_id = str(uuid.uuid4())
    try:
        plan = compute.servers.prepare(ctx, body, auto_networks=at_least(req, "2.37"))
        if bdm and not imaged:  # shown with no image, as Nova (image_ref "")
            plan["system_metadata"] = {"boot_from_volume": "1"}
        if bdm:
            # attached before the server row exists, so the host's first sight of
            # the server already has its boot volume (it never starts from the image)
            plan["server_id"] = server_id
            volumes.attach_bdm(req, server_id, None, bdm)
        rows = compute.servers.create(ctx, body, plan, req.request_id)
    except BaseException:
        if bdm:
            req.cloud.volumes.attachments.detach_instance(server_id)
            volumes.discard_bdm(req, bdm)
        raise
    if bdm:
        req.cloud.volumes.attachments.set_host(server_id, rows[0].host)
    if str(body.get("return_reservation_id", "")).lower() in ("true", "1"):
        return Reply(202, {"reservation_id": rows[0].reservation_id})
    row = rows[0]
    server = {"id": row.id, "links": render.links(req, "servers", row.id),
              "OS-DCF:diskConfig": disk_config_of(row),
              "security_groups": [{"name": n} for n in row.security_groups],
              "adminPass": body.get("adminPass") or secrets.token_urlsafe(9)}
    return Reply(202, {"server": server},
                 {"Location": req.url(f"/v2.1/servers/{row.id}")})


def _host_status(req: Request) -> dict:
    hosts = req.cloud.compute.hosts
    out = {}
    for h in hosts.all():
        out[h.host] = ("MAINTENANCE" if h.disabled else
                       "UP" if hosts.is_up(h) else "DOWN")
    return out


def query_servers(req: Request) -> tuple[list[Instance], bool]:
    """The page of servers a list asks for (filters, sorting and paging as
    :meth:`kumo.compute.listing.Lists.servers` describes); returns ``(rows, more)``."""
    how = ServerQuery(admin=req.context.can(P + "index:get_all_tenants"),
                      changes_before=at_least(req, "2.66"),
                      strict_status=at_least(req, "2.38"), tags=at_least(req, "2.26"),
                      locked=at_least(req, "2.73"), user_filters=at_least(req, "2.83"))
    return req.cloud.compute.lists.servers(req.context, plain(req.query), how)


def next_links(req: Request, rows, more: bool, path: str, marker=None) -> list[dict]:
    """Nova's ``<collection>_links``: when more rows follow the page, a ``next`` link
    with the request's parameters and the last row's id (``marker(row)`` if given) as
    the marker, URL-encoded."""
    if not more or not rows:
        return []
    last = rows[-1].id if marker is None else marker(rows[-1])
    return [link(req.url(f"/v2.1/{path}"), req.query, "next", last,
                 req.query.get("limit"))]


@service.route("GET", "/v2.1/servers")
def index(req: Request) -> Reply:
    req.context.enforce(P + "index", {"project_id": req.context.project_id})
    rows, more = query_servers(req)
    body = {"servers": [{"id": r.id, "name": r.display_name,
                         "links": render.links(req, "servers", r.id)} for r in rows]}
    links = next_links(req, rows, more, "servers")
    if links:
        body["servers_links"] = links
    return Reply(200, body)


def render_many(req: Request, rows: list[Instance]) -> list[dict]:
    with req.cloud.compute.read() as s:
        addresses = req.cloud.compute.servers.addresses(s, rows)
    host_up = _host_status(req) if at_least(req, "2.16") else None
    return [render.server(req, r, addresses[r.id], host_up) for r in rows]


@service.route("GET", "/v2.1/servers/detail")
def detail(req: Request) -> Reply:
    req.context.enforce(P + "detail", {"project_id": req.context.project_id})
    rows, more = query_servers(req)
    body = {"servers": render_many(req, rows)}
    for item in body["servers"]:  # Nova's list view has no server_groups (2.71+)
        item.pop("server_groups", None)
    links = next_links(req, rows, more, "servers/detail")
    if links:
        body["servers_links"] = links
    return Reply(200, body)


def get_row(req: Request, deleted: bool = False) -> Instance:
    with req.cloud.compute.read() as s:
        return req.cloud.compute.servers.get(s, req.context, req.params["server_id"],
                                             deleted)


@service.route("GET", "/v2.1/servers/{server_id}")
def show(req: Request) -> Reply:
    row = get_row(req)
    req.context.enforce(P + "show", {"project_id": row.project_id})
    return Reply(200, {"server": render_many(req, [row])[0]})


@service.route("PUT", "/v2.1/servers/{server_id}")
def update(req: Request) -> Reply:
    row = get_row(req)
    req.context.enforce(P + "update", {"project_id": row.project_id})
    attrs = req.json(schemas.SERVER_UPDATE)["server"]
    for key, version in (("description", "2.19"), ("hostname", "2.90")):
        if key in attrs and not at_least(req, version):
            raise exc.BadRequest(f"Additional properties are not allowed ('{key}' was "
                                 "unexpected)")
    row = req.cloud.compute.servers.update(req.context, row.id, attrs)
    return Reply(200, {"server": render.base_view(req, render_many(req, [row])[0])})


@service.route("DELETE", "/v2.1/servers/{server_id}")
def delete(req: Request) -> Reply:
    row = get_row(req)
    req.context.enforce(P + "delete", {"project_id": row.project_id})
    req.cloud.compute.servers.delete(req.context, row.id, req.request_id)
    return Reply(204)
