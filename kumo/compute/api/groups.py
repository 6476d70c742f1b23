"""Server groups (Compute API "Server groups (os-server-groups)"): ``policies`` (a list)
before 2.64, ``policy`` and ``rules`` from 2.64."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.compute import schemas
from kumo.compute.api import at_least, render, service

#: Nova's ``[api] max_limit``.
MAX_LIMIT = 1000
P = "os_compute_api:os-server-groups:"


@service.route("POST", "/v2.1/os-server-groups")
def create(req: Request) -> Reply:
    req.context.enforce(P + "create", {"project_id": req.context.project_id})
    body = req.json(schemas.SERVER_GROUP_CREATE)["server_group"]
    if at_least(req, "2.64"):
        if "policies" in body or "policy" not in body:
            raise exc.BadRequest("Invalid input for field/attribute server_group: "
                                 "'policy' is a required property")
        policy, rules = body["policy"], body.get("rules") or {}
        rules = {k: int(v) for k, v in rules.items()}
    else:
        if "policy" in body or "rules" in body or "policies" not in body:
            raise exc.BadRequest("Invalid input for field/attribute server_group: "
                                 "'policies' is a required property")
        policy, rules = body["policies"][0], {}
    row = req.cloud.compute.groups.create(req.context, body["name"], policy, rules)
    return Reply(200, {"server_group": render.server_group(req, row)})


@service.route("GET", "/v2.1/os-server-groups")
def index(req: Request) -> Reply:
    req.context.enforce(P + "index", {"project_id": req.context.project_id})
    all_projects = "all_projects" in req.query and req.context.can(
        P + "index:all_projects")
    try:
        limit = int(req.query["limit"]) if "limit" in req.query else None
        offset = int(req.query["offset"]) if "offset" in req.query else None
    except ValueError:
        raise exc.BadRequest("limit and offset must be integers") from None
    if (limit is not None and limit < 0) or (offset is not None and offset < 0):
        raise exc.BadRequest("limit and offset must be non-negative integers")
    # as Nova's common.limited: at most max_limit (1000) a page; an offset past any
    # table is simply past the end
    limit = None if limit is None else min(limit, MAX_LIMIT)
    if offset is not None and offset >= 2 ** 63:
        return Reply(200, {"server_groups": []})
    rows = req.cloud.compute.groups.list(req.context, all_projects, limit, offset)
    return Reply(200, {"server_groups": [render.server_group(req, r) for r in rows]})


@service.route("GET", "/v2.1/os-server-groups/{group_id}")
def show(req: Request) -> Reply:
    row = req.cloud.compute.groups.get(req.context, req.params["group_id"])
    req.context.enforce(P + "show", {"project_id": row.project_id})
    return Reply(200, {"server_group": render.server_group(req, row)})


@service.route("DELETE", "/v2.1/os-server-groups/{group_id}")
def delete(req: Request) -> Reply:
    row = req.cloud.compute.groups.get(req.context, req.params["group_id"])
    req.context.enforce(P + "delete", {"project_id": row.project_id})
    req.cloud.compute.groups.delete(req.context, row.id)
    return Reply(204)
