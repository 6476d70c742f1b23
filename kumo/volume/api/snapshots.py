"""Volume snapshots (Block Storage API v3 "Volume snapshots (snapshots)", "Snapshot
actions"): create, list (summary, detail), show, update, delete, metadata,
``os-reset_status``, ``os-force_delete``, ``os-update_snapshot_status``."""
from __future__ import annotations

from kumo.common.http import Reply, Request, parse_json, validate
from kumo.volume import schemas
from kumo.volume.api import render, service
from kumo.volume.api.volumes import admin_action, all_tenants, target
from kumo.volume.errors import InvalidInput, NotFoundError


def _list(req: Request, detail: bool) -> Reply:
    req.context.enforce("volume:get_all_snapshots", target(req))
    rows, more = req.cloud.volumes.snapshots.list(req.context, req.query, all_tenants(req))
    body = {"snapshots": [render.snapshot(req, s, extended=detail) for s in rows]}
    if more and rows:
        body["snapshots_links"] = render.next_link(
            req, "snapshots/detail" if detail else "snapshots", rows[-1].id)
    return Reply(200, body)


@service.route("GET", "/v3/snapshots")
def index(req: Request) -> Reply:
    return _list(req, False)


@service.route("GET", "/v3/snapshots/detail")
def detail(req: Request) -> Reply:
    return _list(req, True)


@service.route("POST", "/v3/snapshots")
def create(req: Request) -> Reply:
    body = req.json(schemas.CREATE_SNAPSHOT)["snapshot"]
    for old, new in (("display_name", "name"), ("display_description", "description")):
        if body.get(old) is not None and body.get(new) is None:
            body[new] = body[old]
    body["force"] = schemas.as_bool(body.get("force", False))
    if body["volume_id"] is None:
        from kumo.volume.errors import NotFoundError
        raise NotFoundError("Volume None could not be found.")
    vol = req.cloud.volumes.volumes.get(req.context, body["volume_id"])
    req.context.enforce("volume:create_snapshot", target(req, vol.project_id))
    snap = req.cloud.volumes.snapshots.create(req.context, body)
    return Reply(202, {"snapshot": render.snapshot(req, snap, extended=False)})


def _get(req: Request, action: str):
    snaps = req.cloud.volumes.snapshots
    snap = snaps.get(req.context, req.params["snapshot_id"])
    req.context.enforce(action, target(req, snap.project_id))
    return snaps, snap


@service.route("GET", "/v3/snapshots/{snapshot_id}")
def show(req: Request) -> Reply:
    _, snap = _get(req, "volume:get_snapshot")
    return Reply(200, {"snapshot": render.snapshot(req, snap)})


@service.route("PUT", "/v3/snapshots/{snapshot_id}")
def update(req: Request) -> Reply:
    attrs = req.json(schemas.UPDATE_SNAPSHOT)["snapshot"]
    for old, new in (("display_name", "name"), ("display_description", "description")):
        if old in attrs and new not in attrs:
            attrs[new] = attrs.pop(old)
    snaps, snap = _get(req, "volume:update_snapshot")
    snaps.update(req.context, snap.id, attrs)
    return Reply(200, {"snapshot": render.snapshot(req, snaps.get(req.context, snap.id),
                                                   extended=False)})


@service.route("DELETE", "/v3/snapshots/{snapshot_id}")
def delete(req: Request) -> Reply:
    snaps, snap = _get(req, "volume:delete_snapshot")
    snaps.delete(req.context, snap.id)
    return Reply(202)


@service.route("GET", "/v3/snapshots/{snapshot_id}/metadata")
def show_metadata(req: Request) -> Reply:
    _, snap = _get(req, "volume:get_snapshot_metadata")
    return Reply(200, {"metadata": {m.key: m.value for m in snap.metadata_items}})


@service.route("POST,PUT", "/v3/snapshots/{snapshot_id}/metadata")
def set_metadata(req: Request) -> Reply:
    meta = req.json(schemas.METADATA_BODY)["metadata"]
    snaps, snap = _get(req, "volume:update_snapshot_metadata")
    return Reply(200, {"metadata": snaps.set_metadata(req.context, snap.id, meta,
                                                      req.method == "PUT")})


@service.route("GET", "/v3/snapshots/{snapshot_id}/metadata/{key}")
def show_metadata_item(req: Request) -> Reply:
    _, snap = _get(req, "volume:get_snapshot_metadata")
    meta = {m.key: m.value for m in snap.metadata_items}
    key = req.params["key"]
    if key not in meta:
        raise NotFoundError(f"Snapshot {snap.id} has no metadata with key {key}.")
    return Reply(200, {"meta": {key: meta[key]}})


@service.route("PUT", "/v3/snapshots/{snapshot_id}/metadata/{key}")
def update_metadata_item(req: Request) -> Reply:
    meta = req.json(schemas.META_ITEM)["meta"]
    if req.params["key"] not in meta:
        raise InvalidInput("Request body and URI mismatch")
    snaps, snap = _get(req, "volume:update_snapshot_metadata")
    snaps.set_metadata(req.context, snap.id, meta, False)
    return Reply(200, {"meta": meta})


@service.route("DELETE", "/v3/snapshots/{snapshot_id}/metadata/{key}")
def delete_metadata_item(req: Request) -> Reply:
    snaps, snap = _get(req, "volume:delete_snapshot_metadata")
    snaps.delete_metadata(req.context, snap.id, req.params["key"])
    return Reply(200)


@service.route("POST", "/v3/snapshots/{snapshot_id}/action")
def action(req: Request) -> Reply:
    snapshots = req.cloud.volumes.snapshots
    body = parse_json(req.body)
    if isinstance(body, dict) and list(body) == ["os-update_snapshot_status"]:
        arg = body["os-update_snapshot_status"]
        validate(arg, {"type": "object", "properties": {
            "status": {"type": "string"}, "progress": {"type": "string", "maxLength": 8}},
            "required": ["status"], "additionalProperties": False})
        snap = snapshots.get(req.context, req.params["snapshot_id"])
        req.context.enforce("snapshot_extension:snapshot_actions:update_snapshot_status",
                            target(req, snap.project_id))
        snapshots.update_status(req.context, snap.id, arg["status"], arg.get("progress"))
        return Reply(202)
    return admin_action(req, "snapshot", snapshots, snapshots.get(req.context, req.params["snapshot_id"]))
