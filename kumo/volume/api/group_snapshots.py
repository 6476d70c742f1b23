"""Group snapshots (Block Storage API v3 "Group snapshots", 3.14+; 404 below):
create, list (summary, detail), show, delete, and the ``reset_status`` action
(3.19, admins; ``os-reset_status`` is taken too). The logic is
kumo/volume/group_snapshots.py."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request, parse_json, validate
from kumo.common.timeutils import isotime
from kumo.volume import models, schemas
from kumo.volume.api import at_least, render, service
from kumo.volume.api.volumes import all_tenants, target
from kumo.volume.errors import InvalidInput

obj = schemas.obj
CREATE = obj({"group_snapshot": obj({
    "group_id": {"type": "string", "minLength": 1, "maxLength": 255},
    "name": schemas.NAME, "description": schemas.DESCRIPTION}, ["group_id"])},
    ["group_snapshot"])


def _need(req: Request) -> None:
    if not at_least(req, "3.14"):
        raise exc.NotFound("The resource could not be found.")


def render_gs(req: Request, gs: models.GroupSnapshot) -> dict:
    body = {"id": gs.id, "group_id": gs.group_id, "group_type_id": gs.group_type_id,
            "status": gs.status, "name": gs.name, "description": gs.description,
            "created_at": isotime(gs.created_at)}
    if at_least(req, "3.58"):
        body["project_id"] = gs.project_id
    return body


def summary(gs: models.GroupSnapshot) -> dict:
    """Cinder's summary view (create answers and lists): ``group_type_id`` too."""
    return {"id": gs.id, "name": gs.name, "group_type_id": gs.group_type_id}


def _list(req: Request, detail: bool) -> Reply:
    _need(req)
    req.context.enforce("group:get_all_group_snapshots", target(req))
    rows, more = req.cloud.volumes.group_snapshots.list(req.context, req.query,
                                                        all_tenants(req))
    body = {"group_snapshots": [render_gs(req, gs) if detail else summary(gs)
                                for gs in rows]}
    if more and rows:
        body["group_snapshots_links"] = render.next_link(
            req, "group_snapshots/detail" if detail else "group_snapshots", rows[-1].id)
    return Reply(200, body)


@service.route("GET", "/v3/group_snapshots")
def index(req: Request) -> Reply:
    return _list(req, False)


@service.route("GET", "/v3/group_snapshots/detail")
def detail(req: Request) -> Reply:
    return _list(req, True)


@service.route("GET", "/v3/group_snapshots/{gs_id}")
def show(req: Request) -> Reply:
    _need(req)
    gs = req.cloud.volumes.group_snapshots.get(req.context, req.params["gs_id"])
    req.context.enforce("group:get_group_snapshot", target(req, gs.project_id))
    return Reply(200, {"group_snapshot": render_gs(req, gs)})


@service.route("POST", "/v3/group_snapshots")
def create(req: Request) -> Reply:
    """202 ``{"group_snapshot": {"id", "name", "group_type_id"}}``."""
    _need(req)
    body = req.json(CREATE)["group_snapshot"]
    group = req.cloud.volumes.groups.get(req.context, body["group_id"])
    req.context.enforce("group:create_group_snapshot", target(req, group.project_id))
    gs = req.cloud.volumes.group_snapshots.create(req.context, body)
    return Reply(202, {"group_snapshot": summary(gs)})


@service.route("DELETE", "/v3/group_snapshots/{gs_id}")
def delete(req: Request) -> Reply:
    _need(req)
    gsnaps = req.cloud.volumes.group_snapshots
    gs = gsnaps.get(req.context, req.params["gs_id"])
    req.context.enforce("group:delete_group_snapshot", target(req, gs.project_id))
    gsnaps.delete(req.context, gs.id)
    return Reply(202)


@service.route("POST", "/v3/group_snapshots/{gs_id}/action")
def action(req: Request) -> Reply:
    _need(req)
    body = parse_json(req.body)
    if not isinstance(body, dict) or len(body) != 1:
        raise InvalidInput("Invalid input received: the body must hold exactly one "
                           "action.")
    name, arg = next(iter(body.items()))
    gsnaps = req.cloud.volumes.group_snapshots
    gs = gsnaps.get(req.context, req.params["gs_id"])
    if name in ("reset_status", "os-reset_status") and at_least(req, "3.19"):
        validate(arg, obj({"status": {"type": "string", "maxLength": 255}},
                          ["status"]))
        req.context.enforce("group:reset_group_snapshot_status",
                            target(req, gs.project_id))
        gsnaps.reset_status(req.context, gs.id, arg["status"])
        return Reply(202)
    raise InvalidInput(f"There is no such action: {name}")
