"""Servers (Compute API "Servers (servers)"): create, list, list with details, show,
update and delete."""
from __future__ import annotations

import re
import secrets

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.timeutils import parse_isotime
from kumo.compute import schemas
from kumo.compute.api import at_least, render, service
from kumo.compute.models import Instance

P = "os_compute_api:servers:"
MAX_LIMIT = 1000


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
    if body.get("block_device_mapping_v2"):
        from kumo.compute.api import volumes
        if body.get("max_count", 1) > 1 or body.get("min_count", 1) > 1:
            raise exc.BadRequest("Block device mappings need a single server "
                                 "(max_count 1).")
        bdm = volumes.prepare_bdm(req, body)
    try:
        plan = compute.servers.prepare(ctx, body, auto_networks=at_least(req, "2.37"))
        rows = compute.servers.create(ctx, body, plan, req.request_id)
    except BaseException:
        if bdm:
            volumes.discard_bdm(req, bdm)
        raise
    if bdm:
        volumes.attach_bdm(req, rows[0].id, rows[0].host, bdm)
    if str(body.get("return_reservation_id", "")).lower() in ("true", "1"):
        return Reply(202, {"reservation_id": rows[0].reservation_id})
    row = rows[0]
    server = {"id": row.id, "links": render.links(req, "servers", row.id),
              "OS-DCF:diskConfig": "MANUAL",
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


def _query_time(name: str, text: str | None):
    """A ``changes-since``/``changes-before`` value as naive UTC; 400 unless it is an
    ISO 8601 time that exists in UTC (``0001-01-01T00:00:00+01:00`` does not)."""
    if not text:
        return None
    try:
        return parse_isotime(text)
    except (ValueError, OverflowError):
        raise exc.BadRequest(f"Invalid input for query parameters {name}. Value: "
                             f"{text}. It is not a 'date-time'.") from None


def query_servers(req: Request) -> tuple[list[Instance], bool]:
    """The servers a list asks for (the reference's filters); returns ``(rows,
    more)``."""
    ctx, q = req.context, req.query
    admin = ctx.can(P + "index:get_all_tenants")
    I = Instance
    stmt = sa.select(I)
    all_tenants = "all_tenants" in q and q.get("all_tenants", "").lower() not in (
        "0", "false", "off", "no") and admin
    project = q.get("project_id") or q.get("tenant_id")
    if not admin or not all_tenants:
        stmt = stmt.where(I.project_id == ((project if admin and project else None)
                                           or ctx.project_id or ""))
    elif project:
        stmt = stmt.where(I.project_id == project)
    since = q.get("changes-since")
    before = q.get("changes-before") if at_least(req, "2.66") else None
    since_t = _query_time("changes-since", since)
    before_t = _query_time("changes-before", before)
    if since_t is not None and before_t is not None and since_t > before_t:
        raise exc.BadRequest("The value of changes-since must be less than or equal to "
                             "changes-before.")
    if since_t is not None:
        stmt = stmt.where(I.updated_at >= since_t)
    if before_t is not None:
        stmt = stmt.where(I.updated_at <= before_t)
    deleted = q.get("deleted", "").lower() in ("true", "1", "yes") and admin
    if since_t is None and before_t is None and not deleted:
        stmt = stmt.where(I.deleted.is_(False))
    elif deleted:
        stmt = stmt.where(I.deleted.is_(True))
    if "status" in q:
        wanted = [s.upper() for s in q.getlist("status")]
        bad = [s for s in wanted if s not in render.STATUS_FILTER]
        if bad and at_least(req, "2.38"):
            raise exc.BadRequest("Invalid status value")
        states = [render.STATUS_FILTER[s] for s in wanted if s in render.STATUS_FILTER]
        if not states:
            return [], False
        stmt = stmt.where(I.vm_state.in_([s[0] for s in states]))
        if "DELETED" in wanted:
            stmt = stmt.where(I.deleted.is_(True)) if wanted == ["DELETED"] else stmt
    for key, column in (("reservation_id", I.reservation_id), ("key_name", I.key_name),
                        ("availability_zone", I.availability_zone),
                        ("user_id", I.user_id), ("uuid", I.id)):
        if key in q:
            stmt = stmt.where(column == q[key])
    if "image" in q:
        stmt = stmt.where(I.image_id == q["image"].rstrip("/").rsplit("/", 1)[-1])
    if admin:
        for key, column in (("host", I.host), ("node", I.node)):
            if key in q:
                stmt = stmt.where(column == q[key])
    sort_key = q.get("sort_key", "created_at")
    columns = {"created_at": I.created_at, "display_name": I.display_name,
               "uuid": I.id, "updated_at": I.updated_at, "launched_at": I.launched_at,
               "vm_state": I.vm_state, "task_state": I.task_state,
               "power_state": I.power_state, "hostname": I.hostname,
               "display_description": I.description, "key_name": I.key_name,
               "image_ref": I.image_id, "availability_zone": I.availability_zone,
               "project_id": I.project_id, "user_id": I.user_id,
               "host": I.host, "node": I.node, "terminated_at": I.terminated_at,
               "locked": I.locked, "instance_type_id": I.memory_mb}
    if sort_key not in columns:
        raise exc.BadRequest(f"Invalid sort_key {sort_key}") if at_least(req, "2.1") \
            else None
    if sort_key in ("host", "node") and not admin:
        raise exc.Forbidden(f"Only administrators can sort servers by {sort_key}")
    direction = q.get("sort_dir", "desc")
    if direction not in ("asc", "desc"):
        raise exc.BadRequest(f"Invalid sort_dir {direction}")
    col = columns[sort_key]
    stmt = stmt.order_by(col.desc() if direction == "desc" else col.asc(),
                         I.seq.desc() if direction == "desc" else I.seq.asc())
    with req.cloud.compute.read() as s:
        rows = list(s.scalars(stmt))
    rows = _python_filters(req, rows)
    if "marker" in q:
        ids = [r.id for r in rows]
        if q["marker"] not in ids:
            raise exc.BadRequest(f"marker [{q['marker']}] not found")
        rows = rows[ids.index(q["marker"]) + 1:]
    limit = MAX_LIMIT
    if "limit" in q:
        try:
            limit = int(q["limit"])
        except ValueError:
            raise exc.BadRequest("limit param must be an integer") from None
        if limit < 0:
            raise exc.BadRequest("limit param must be positive")
        limit = min(limit, MAX_LIMIT)
    return rows[:limit], len(rows) > limit


def _python_filters(req: Request, rows: list[Instance]) -> list[Instance]:
    q = req.query
    if "name" in q:
        try:
            pattern = re.compile(q["name"])
        except re.error:
            raise exc.BadRequest(f"Invalid regular expression {q['name']}") from None
        rows = [r for r in rows if pattern.search(r.display_name)]
    if "status" in q:
        wanted = [s.upper() for s in q.getlist("status")]
        rows = [r for r in rows if render.status(r.vm_state, r.task_state) in wanted
                or (r.deleted and "DELETED" in wanted)]
    if "flavor" in q:
        rows = [r for r in rows if (r.flavor or {}).get("id") == q["flavor"]]
    if "locked" in q and at_least(req, "2.73"):
        want = q["locked"].lower() in ("true", "1", "yes")
        rows = [r for r in rows if bool(r.locked) == want]
    if at_least(req, "2.26"):
        for key in ("tags", "tags-any", "not-tags", "not-tags-any"):
            if key not in q:
                continue
            tags = set(q[key].split(","))
            def keep(r, key=key, tags=tags):
                have = set(r.tags or [])
                return {"tags": tags <= have, "tags-any": bool(tags & have),
                        "not-tags": not tags <= have,
                        "not-tags-any": not tags & have}[key]
            rows = [r for r in rows if keep(r)]
    for key in ("ip", "ip6"):
        if key in q:
            try:
                pattern = re.compile(q[key])
            except re.error:
                raise exc.BadRequest(f"Invalid regular expression {q[key]}") from None
            with req.cloud.compute.read() as s:
                addresses = req.cloud.compute.servers.addresses(s, rows)
            version = 4 if key == "ip" else 6
            rows = [r for r in rows if any(
                pattern.search(a["addr"]) for addrs in addresses[r.id].values()
                for a in addrs if a["version"] == version)]
    return rows


def _next(req: Request, rows, more: bool, path: str) -> list[dict]:
    if not more or not rows:
        return []
    params = [f"{k}={v}" for k, v in req.query.multi_items() if k != "marker"]
    params.append(f"marker={rows[-1].id}")
    return [{"rel": "next", "href": req.url(f"/v2.1/{path}?" + "&".join(params))}]


@service.route("GET", "/v2.1/servers")
def index(req: Request) -> Reply:
    req.context.enforce(P + "index", {"project_id": req.context.project_id})
    rows, more = query_servers(req)
    body = {"servers": [{"id": r.id, "name": r.display_name,
                         "links": render.links(req, "servers", r.id)} for r in rows]}
    links = _next(req, rows, more, "servers")
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
    links = _next(req, rows, more, "servers/detail")
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
    return Reply(200, {"server": render_many(req, [row])[0]})


@service.route("DELETE", "/v2.1/servers/{server_id}")
def delete(req: Request) -> Reply:
    row = get_row(req)
    req.context.enforce(P + "delete", {"project_id": row.project_id})
    req.cloud.compute.servers.delete(req.context, row.id, req.request_id)
    return Reply(204)
