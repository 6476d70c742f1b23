"""Volumes (Block Storage API v3 "Volumes (volumes)" and "Volume metadata"): create,
list (summary and detail, ``with_count`` from 3.45), show, update, delete
(``cascade``, ``force``), metadata."""
from __future__ import annotations

from kumo.common.http import Reply, Request, parse_json, validate
from kumo.volume import schemas
from kumo.volume.api import at_least, render, service
from kumo.volume.errors import InvalidInput, NotFoundError


def target(req: Request, project_id: str | None = None) -> dict:
    return {"project_id": project_id or req.context.project_id}


def admin_action(req: Request, kind: str, manager, item) -> Reply:
    """``POST /v3/{snapshots,backups}/{id}/action`` (Block Storage API v3 "Reset a
    snapshot's status", "Force-delete a snapshot", and the backup ones): one action in
    the body, ``os-reset_status`` (``{"status": ...}``) or ``os-force_delete``, under
    Cinder's ``volume_extension:<kind>_admin_actions:<action>`` rules; 202, or 400 for
    another action or body."""
    body = parse_json(req.body)
    if not isinstance(body, dict) or len(body) != 1:
        raise InvalidInput("Invalid input received: the body must hold exactly one "
                           "action.")
    name, arg = next(iter(body.items()))
    rule = f"volume_extension:{kind}_admin_actions:"
    if name == "os-reset_status":
        validate(arg, {"type": "object", "properties": {"status": {"type": "string"}},
                       "required": ["status"], "additionalProperties": False})
        req.context.enforce(rule + "reset_status", target(req, item.project_id))
        manager.reset_status(req.context, item.id, arg["status"])
        return Reply(202)
    if name == "os-force_delete":
        req.context.enforce(rule + "force_delete", target(req, item.project_id))
        manager.delete(req.context, item.id, force=True)
        return Reply(202)
    raise InvalidInput(f"There is no such action: {name}")


def all_tenants(req: Request) -> bool:
    """``all_tenants`` asked for (Cinder: any value but false-ish) and allowed."""
    if "all_tenants" not in req.query or \
            req.query["all_tenants"].lower() in ("0", "false", "no", "off"):
        return False
    return req.context.can("volume:all_tenants", target(req))


def _list(req: Request, detail: bool) -> Reply:
    req.context.enforce("volume:get_all", target(req))
    with_count = at_least(req, "3.45") and req.flag("with_count")
    rows, more, count = req.cloud.volumes.volumes.list(req.context, req.query,
                                                       all_tenants(req), with_count)
    render_one = render.volume if detail else render.volume_summary
    body = {"volumes": [render_one(req, v) for v in rows]}
    if more and rows:
        body["volumes_links"] = render.next_link(
            req, "volumes/detail" if detail else "volumes", rows[-1].id)
    if with_count:
        body["count"] = count
    return Reply(200, body)


@service.route("GET", "/v3/volumes")
def index(req: Request) -> Reply:
    return _list(req, detail=False)


@service.route("GET", "/v3/volumes/summary")
def summary(req: Request) -> Reply:
    """Block Storage API v3 "Get volumes summary" (3.12; ``metadata`` from 3.36)."""
    if not at_least(req, "3.12"):
        raise NotFoundError("Volume summary could not be found.")
    req.context.enforce("volume:get_all", target(req))
    count, size, meta = req.cloud.volumes.volumes.summary(req.context, all_tenants(req))
    body = {"total_size": size, "total_count": count}
    if at_least(req, "3.36"):
        body["metadata"] = meta
    return Reply(200, {"volume-summary": body})


@service.route("GET", "/v3/volumes/detail")
def detail(req: Request) -> Reply:
    return _list(req, detail=True)


@service.route("POST", "/v3/volumes")
def create(req: Request) -> Reply:
    body = req.json(schemas.CREATE_VOLUME)["volume"]
    for old, new in (("display_name", "name"), ("display_description", "description"),
                     ("image_id", "imageRef")):
        if body.get(old) is not None and body.get(new) is None:
            body[new] = body[old]
    req.context.enforce("volume:create", target(req))
    if body.get("imageRef"):
        req.context.enforce("volume:create_from_image", target(req))
    if body.get("backup_id") and not at_least(req, "3.47"):
        body.pop("backup_id")
    if body.get("group_id") and not at_least(req, "3.13"):
        body.pop("group_id")
    if body.get("multiattach") is not None:
        body["multiattach"] = schemas.as_bool(body["multiattach"])
    vol = req.cloud.volumes.volumes.create(req.context, body)
    return Reply(202, {"volume": render.volume(req, vol, created=True)})


@service.route("GET", "/v3/volumes/{volume_id}")
def show(req: Request) -> Reply:
    vol = req.cloud.volumes.volumes.get(req.context, req.params["volume_id"])
    req.context.enforce("volume:get", target(req, vol.project_id))
    return Reply(200, {"volume": render.volume(req, vol)})


@service.route("PUT", "/v3/volumes/{volume_id}")
def update(req: Request) -> Reply:
    attrs = req.json(schemas.UPDATE_VOLUME)["volume"]
    for old, new in (("display_name", "name"), ("display_description", "description")):
        if old in attrs and new not in attrs:
            attrs[new] = attrs.pop(old)
    volumes = req.cloud.volumes.volumes
    vol = volumes.get(req.context, req.params["volume_id"])
    req.context.enforce("volume:update", target(req, vol.project_id))
    vol = volumes.update(req.context, vol.id, attrs)
    return Reply(200, {"volume": render.volume(req, volumes.get(req.context, vol.id),
                                               created=True)})


@service.route("DELETE", "/v3/volumes/{volume_id}")
def delete(req: Request) -> Reply:
    volumes = req.cloud.volumes.volumes
    vol = volumes.get(req.context, req.params["volume_id"])
    req.context.enforce("volume:delete", target(req, vol.project_id))
    force = req.flag("force") and at_least(req, "3.23")
    if force:
        req.context.enforce("volume:force_delete", target(req, vol.project_id))
    volumes.delete(req.context, vol.id, cascade=req.flag("cascade"), force=force)
    return Reply(202)


# -- metadata ------------------------------------------------------------------------
def _meta_volume(req: Request, action: str):
    volumes = req.cloud.volumes.volumes
    vol = volumes.get(req.context, req.params["volume_id"])
    req.context.enforce(action, target(req, vol.project_id))
    return volumes, vol


@service.route("GET", "/v3/volumes/{volume_id}/metadata")
def show_metadata(req: Request) -> Reply:
    _, vol = _meta_volume(req, "volume:get_volume_metadata")
    return Reply(200, {"metadata": {m.key: m.value for m in vol.metadata_items}})


@service.route("POST", "/v3/volumes/{volume_id}/metadata")
def create_metadata(req: Request) -> Reply:
    meta = req.json(schemas.METADATA_BODY)["metadata"]
    volumes, vol = _meta_volume(req, "volume:update_volume_metadata")
    return Reply(200, {"metadata": volumes.set_metadata(req.context, vol.id, meta, False)})


@service.route("PUT", "/v3/volumes/{volume_id}/metadata")
def replace_metadata(req: Request) -> Reply:
    meta = req.json(schemas.METADATA_BODY)["metadata"]
    volumes, vol = _meta_volume(req, "volume:update_volume_metadata")
    return Reply(200, {"metadata": volumes.set_metadata(req.context, vol.id, meta, True)})


@service.route("GET", "/v3/volumes/{volume_id}/metadata/{key}")
def show_metadata_item(req: Request) -> Reply:
    _, vol = _meta_volume(req, "volume:get_volume_metadata")
    meta = {m.key: m.value for m in vol.metadata_items}
    key = req.params["key"]
    if key not in meta:
        from kumo.volume.errors import NotFoundError
        raise NotFoundError(f"Volume {vol.id} has no metadata with key {key}.")
    return Reply(200, {"meta": {key: meta[key]}})


@service.route("PUT", "/v3/volumes/{volume_id}/metadata/{key}")
def update_metadata_item(req: Request) -> Reply:
    meta = req.json(schemas.META_ITEM)["meta"]
    key = req.params["key"]
    if key not in meta:
        from kumo.volume.errors import InvalidInput, NotFoundError
        raise InvalidInput("Request body and URI mismatch")
    volumes, vol = _meta_volume(req, "volume:update_volume_metadata")
    volumes.set_metadata(req.context, vol.id, meta, False)
    return Reply(200, {"meta": meta})


@service.route("DELETE", "/v3/volumes/{volume_id}/metadata/{key}")
def delete_metadata_item(req: Request) -> Reply:
    volumes, vol = _meta_volume(req, "volume:delete_volume_metadata")
    volumes.delete_metadata(req.context, vol.id, req.params["key"])
    return Reply(200)
