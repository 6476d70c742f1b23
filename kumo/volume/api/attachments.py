"""Attachments (Block Storage API v3 "Attachments", microversion 3.27 and later;
``os-complete`` from 3.44): create, list (summary, detail), show, update (the
connector), complete, delete."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request, parse_json
from kumo.common.timeutils import isotime
from kumo.volume import models, schemas
from kumo.volume.api import at_least, service
from kumo.volume.api.volumes import all_tenants, target
from kumo.volume.errors import InvalidInput


def _need(req: Request, version: str = "3.27") -> None:
    if not at_least(req, version):
        raise exc.NotFound("The resource could not be found.")


def render(req: Request, att: models.Attachment, detail: bool = True,
           connection_info: dict | None = None) -> dict:
    body = {"id": att.id, "volume_id": att.volume_id, "instance": att.instance_uuid,
            "status": att.attach_status}
    if detail:
        body.update({"attached_at": isotime(att.created_at)
                     if att.attach_status == "attached" else None,
                     "detached_at": None, "attach_mode": att.attach_mode,
                     "connection_info": connection_info})
    return body


@service.route("POST", "/v3/attachments")
def create(req: Request) -> Reply:
    _need(req)
    body = req.json(schemas.ATTACHMENT_CREATE)["attachment"]
    manager = req.cloud.volumes
    vol = manager.volumes.get(req.context, body.get("volume_uuid") or body["volume_id"])
    req.context.enforce("volume:attachment_create", target(req, vol.project_id))
    att = manager.attachments.create(req.context, vol.id, body.get("instance_uuid"),
                                     body.get("connector"), body.get("mode", "rw"))
    info = manager.attachments.connection_info(vol) if body.get("connector") else None
    return Reply(200, {"attachment": render(req, att, True, info)})


@service.route("GET", "/v3/attachments")
def index(req: Request) -> Reply:
    _need(req)
    req.context.enforce("volume:attachment_get_all", target(req))
    rows = req.cloud.volumes.attachments.list(req.context, req.query, all_tenants(req))
    return Reply(200, {"attachments": [render(req, a, False) for a in rows]})


@service.route("GET", "/v3/attachments/detail")
def detail(req: Request) -> Reply:
    _need(req)
    req.context.enforce("volume:attachment_get_all", target(req))
    rows = req.cloud.volumes.attachments.list(req.context, req.query, all_tenants(req))
    return Reply(200, {"attachments": [render(req, a) for a in rows]})


def _get(req: Request, action: str):
    manager = req.cloud.volumes
    att = manager.attachments.get(req.context, req.params["attachment_id"])
    vol = manager.volumes.get(req.context, att.volume_id)
    req.context.enforce(action, target(req, vol.project_id))
    return manager, att, vol


@service.route("GET", "/v3/attachments/{attachment_id}")
def show(req: Request) -> Reply:
    _need(req)
    manager, att, vol = _get(req, "volume:attachment_get")
    info = manager.attachments.connection_info(vol) if att.connector else None
    return Reply(200, {"attachment": render(req, att, True, info)})


@service.route("PUT", "/v3/attachments/{attachment_id}")
def update(req: Request) -> Reply:
    _need(req)
    body = req.json(schemas.ATTACHMENT_UPDATE)["attachment"]
    manager, att, vol = _get(req, "volume:attachment_update")
    att = manager.attachments.update(req.context, att.id, body["connector"])
    return Reply(200, {"attachment": render(req, att, True,
                                            manager.attachments.connection_info(vol))})


@service.route("DELETE", "/v3/attachments/{attachment_id}")
def delete(req: Request) -> Reply:
    _need(req)
    manager, att, _ = _get(req, "volume:attachment_delete")
    manager.attachments.delete(req.context, att.id)
    return Reply(200, {"attachments": []})


@service.route("POST", "/v3/attachments/{attachment_id}/action")
def action(req: Request) -> Reply:
    _need(req, "3.44")
    body = parse_json(req.body)
    if not isinstance(body, dict) or list(body) != ["os-complete"]:
        raise InvalidInput("Invalid input received: the only action is os-complete.")
    manager, att, _ = _get(req, "volume:attachment_complete")
    manager.attachments.complete(req.context, att.id)
    return Reply(204)
