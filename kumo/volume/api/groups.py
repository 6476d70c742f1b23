"""Group types (3.11) with group specs, and generic volume groups (3.13)
(Block Storage API v3 "Group types", "Group type specs", "Generic volume groups"):
list, show, create, update, delete; a group's ``delete`` (``delete-volumes``) and
``reset_status`` (3.20) actions; ``POST /v3/groups/action`` ``create-from-src``
(3.14) from a group snapshot or another group. Replication is not offered (404).
The logic is kumo/volume/groups.py and kumo/volume/group_snapshots.py."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request, parse_json, validate
from kumo.common.timeutils import isotime
from kumo.volume import models, schemas
from kumo.volume.api import at_least, service
from kumo.volume.api.volumes import all_tenants, target
from kumo.volume.errors import InvalidInput, NotFoundError

obj = schemas.obj
SPECS = {"type": "object", "patternProperties": {"^.{1,255}$": {
    "type": ["string", "integer", "boolean"]}}, "additionalProperties": False}
TYPE_CREATE = obj({"group_type": obj({
    "name": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": schemas.DESCRIPTION, "is_public": schemas.BOOL,
    "group_specs": SPECS}, ["name"])}, ["group_type"])
TYPE_UPDATE = obj({"group_type": obj({
    "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
    "description": schemas.DESCRIPTION, "is_public": schemas.BOOL})}, ["group_type"])
SPECS_BODY = obj({"group_specs": SPECS}, ["group_specs"])
GROUP_CREATE = obj({"group": obj({
    "name": schemas.NAME, "description": schemas.DESCRIPTION,
    "group_type": {"type": "string", "minLength": 1, "maxLength": 255},
    "volume_types": {"type": "array", "minItems": 1, "items": {
        "type": "string", "minLength": 1, "maxLength": 255}},
    "availability_zone": {"type": ["string", "null"], "maxLength": 255}},
    ["group_type", "volume_types"])}, ["group"])
GROUP_UPDATE = obj({"group": obj({
    "name": schemas.NAME, "description": schemas.DESCRIPTION,
    "add_volumes": {"type": ["string", "null"]},
    "remove_volumes": {"type": ["string", "null"]}})}, ["group"])


def _need(req: Request, version: str) -> None:
    if not at_least(req, version):
        raise exc.NotFound("The resource could not be found.")


def render_type(gt: models.GroupType, admin: bool) -> dict:
    body = {"id": gt.id, "name": gt.name, "description": gt.description,
            "is_public": gt.is_public}
    if admin:
        body["group_specs"] = dict(gt.group_specs or {})
    return body


def render_group(req: Request, g: models.Group, volume_ids=None) -> dict:
    body = {"id": g.id, "name": g.name, "description": g.description,
            "status": g.status, "availability_zone": g.availability_zone,
            "created_at": isotime(g.created_at), "group_type": g.group_type_id,
            "volume_types": list(g.volume_type_ids or [])}
    if volume_ids is not None and at_least(req, "3.25"):
        body["volumes"] = volume_ids
    if at_least(req, "3.14"):
        body["group_snapshot_id"] = g.group_snapshot_id
        body["source_group_id"] = g.source_group_id
    if at_least(req, "3.38"):
        body["replication_status"] = "disabled"
    if at_least(req, "3.58"):
        body["project_id"] = g.project_id
    return body


# -- group types ---------------------------------------------------------------------
def _sort(req: Request, keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """``sort=key[:dir],...`` or ``sort_key``/``sort_dir`` (Cinder's sort parameters,
    not both); a key not in ``keys`` or a direction but asc/desc is a 400."""
    if "sort" in req.query and ("sort_key" in req.query or "sort_dir" in req.query):
        raise InvalidInput("Invalid input received: The 'sort_key' and 'sort_dir' "
                           "parameters are deprecated and cannot be used with the "
                           "'sort' parameter.")
    if "sort" in req.query:
        pairs = [p.strip().partition(":") for p in req.query["sort"].split(",")]
        out = [(k.strip(), (d.strip() or "asc").lower()) for k, _, d in pairs]
    elif "sort_key" in req.query:
        out = [(req.query["sort_key"], req.query.get("sort_dir", "desc").lower())]
    else:
        return []
    for key, direction in out:
        if key not in keys:
            raise InvalidInput(f"Invalid input received: Invalid sort key {key!r}.")
        if direction not in ("asc", "desc"):
            raise InvalidInput(f"Invalid input received: Invalid sort direction "
                               f"{direction!r}.")
    return out


@service.route("GET", "/v3/group_types")
def type_index(req: Request) -> Reply:
    _need(req, "3.11")
    groups = req.cloud.volumes.groups
    is_public = None
    if req.query.get("is_public", "none").lower() != "none":
        is_public = schemas.as_bool(req.query["is_public"])
    types = groups.list_types(req.context, is_public, _sort(req, groups.SORT_KEYS))
    admin = req.context.is_admin
    return Reply(200, {"group_types": [render_type(t, admin) for t in types]})


@service.route("GET", "/v3/group_types/default")
def type_default(req: Request) -> Reply:
    _need(req, "3.11")
    raise NotFoundError("Default group type could not be found.")


@service.route("GET", "/v3/group_types/{type_id}")
def type_show(req: Request) -> Reply:
    _need(req, "3.11")
    gt = req.cloud.volumes.groups.get_type(req.context, req.params["type_id"])
    return Reply(200, {"group_type": render_type(gt, req.context.is_admin)})


@service.route("POST", "/v3/group_types")
def type_create(req: Request) -> Reply:
    _need(req, "3.11")
    attrs = req.json(TYPE_CREATE)["group_type"]
    req.context.enforce("group:group_types_manage", target(req))
    attrs["name"] = attrs["name"].strip()
    if not attrs["name"]:
        raise InvalidInput("Invalid input received: group type name can not be empty.")
    if "is_public" in attrs:
        attrs["is_public"] = schemas.as_bool(attrs["is_public"])
    gt = req.cloud.volumes.groups.create_type(attrs)
    return Reply(202, {"group_type": render_type(gt, True)})


@service.route("PUT", "/v3/group_types/{type_id}")
def type_update(req: Request) -> Reply:
    _need(req, "3.11")
    attrs = req.json(TYPE_UPDATE)["group_type"]
    req.context.enforce("group:group_types_manage", target(req))
    if not attrs:
        raise InvalidInput("Invalid input received: Specify group type name, "
                           "description or a combination thereof.")
    if attrs.get("is_public") is not None:
        attrs["is_public"] = schemas.as_bool(attrs["is_public"])
    gt = req.cloud.volumes.groups.update_type(req.context, req.params["type_id"], attrs)
    return Reply(200, {"group_type": render_type(gt, True)})


@service.route("DELETE", "/v3/group_types/{type_id}")
def type_delete(req: Request) -> Reply:
    _need(req, "3.11")
    req.context.enforce("group:group_types_manage", target(req))
    req.cloud.volumes.groups.delete_type(req.context, req.params["type_id"])
    return Reply(202)


@service.route("GET", "/v3/group_types/{type_id}/group_specs")
def specs_index(req: Request) -> Reply:
    _need(req, "3.11")
    req.context.enforce("group:access_group_types_specs", target(req))
    gt = req.cloud.volumes.groups.get_type(req.context, req.params["type_id"])
    return Reply(200, {"group_specs": dict(gt.group_specs or {})})


@service.route("POST", "/v3/group_types/{type_id}/group_specs")
def specs_create(req: Request) -> Reply:
    _need(req, "3.11")
    specs = req.json(SPECS_BODY)["group_specs"]
    req.context.enforce("group:group_types_specs", target(req))
    req.cloud.volumes.groups.set_specs(req.context, req.params["type_id"], specs)
    return Reply(202, {"group_specs": {k: str(v) for k, v in specs.items()}})


@service.route("GET", "/v3/group_types/{type_id}/group_specs/{key}")
def specs_show(req: Request) -> Reply:
    _need(req, "3.11")
    req.context.enforce("group:access_group_types_specs", target(req))
    gt = req.cloud.volumes.groups.get_type(req.context, req.params["type_id"])
    key = req.params["key"]
    if key not in (gt.group_specs or {}):
        raise NotFoundError(f"Group Type {gt.id} has no specs with key {key}.")
    return Reply(200, {key: gt.group_specs[key]})


@service.route("PUT", "/v3/group_types/{type_id}/group_specs/{key}")
def specs_update(req: Request) -> Reply:
    _need(req, "3.11")
    body = parse_json(req.body)
    key = req.params["key"]
    validate(body, SPECS)
    if not isinstance(body, dict) or list(body) != [key]:
        raise InvalidInput("Request body and URI mismatch")
    req.context.enforce("group:group_types_specs", target(req))
    req.cloud.volumes.groups.set_specs(req.context, req.params["type_id"], body)
    return Reply(200, {key: str(body[key])})


@service.route("DELETE", "/v3/group_types/{type_id}/group_specs/{key}")
def specs_delete(req: Request) -> Reply:
    _need(req, "3.11")
    req.context.enforce("group:group_types_specs", target(req))
    req.cloud.volumes.groups.delete_spec(req.context, req.params["type_id"],
                                         req.params["key"])
    return Reply(202)


# -- groups --------------------------------------------------------------------------
def _list(req: Request, detail: bool) -> Reply:
    _need(req, "3.13")
    req.context.enforce("group:get_all", target(req))
    groups = req.cloud.volumes.groups
    rows = groups.list(req.context, all_tenants(req))
    if not detail:
        return Reply(200, {"groups": [{"id": g.id, "name": g.name} for g in rows]})
    with_volumes = req.flag("list_volume")
    return Reply(200, {"groups": [render_group(
        req, g, groups.volume_ids(g.id) if with_volumes else None) for g in rows]})


@service.route("GET", "/v3/groups")
def index(req: Request) -> Reply:
    return _list(req, False)


@service.route("GET", "/v3/groups/detail")
def detail(req: Request) -> Reply:
    return _list(req, True)


@service.route("GET", "/v3/groups/{group_id}")
def show(req: Request) -> Reply:
    _need(req, "3.13")
    groups = req.cloud.volumes.groups
    g = groups.get(req.context, req.params["group_id"])
    req.context.enforce("group:get", target(req, g.project_id))
    vols = groups.volume_ids(g.id) if req.flag("list_volume") else None
    return Reply(200, {"group": render_group(req, g, vols)})


@service.route("POST", "/v3/groups")
def create(req: Request) -> Reply:
    _need(req, "3.13")
    body = req.json(GROUP_CREATE)["group"]
    req.context.enforce("group:create", target(req))
    g = req.cloud.volumes.groups.create(req.context, body)
    return Reply(202, {"group": {"id": g.id, "name": g.name}})


FROM_SRC = obj({"create-from-src": obj({
    "name": schemas.NAME, "description": schemas.DESCRIPTION,
    "group_snapshot_id": {"type": ["string", "null"], "maxLength": 255},
    "source_group_id": {"type": ["string", "null"], "maxLength": 255}})},
    ["create-from-src"])


@service.route("POST", "/v3/groups/action")
def create_from_src(req: Request) -> Reply:
    """``create-from-src`` (3.14): 202 ``{"group": {"id", "name"}}``; the group is
    ``creating`` until its volumes are filled."""
    _need(req, "3.14")
    body = req.json(FROM_SRC)["create-from-src"]
    req.context.enforce("group:create", target(req))
    g = req.cloud.volumes.group_snapshots.create_group_from_src(req.context, body)
    return Reply(202, {"group": {"id": g.id, "name": g.name}})


@service.route("PUT", "/v3/groups/{group_id}")
def update(req: Request) -> Reply:
    _need(req, "3.13")
    attrs = req.json(GROUP_UPDATE)["group"]
    groups = req.cloud.volumes.groups
    g = groups.get(req.context, req.params["group_id"])
    req.context.enforce("group:update", target(req, g.project_id))
    groups.update(req.context, g.id, attrs)
    return Reply(202)


@service.route("POST", "/v3/groups/{group_id}/action")
def action(req: Request) -> Reply:
    _need(req, "3.13")
    body = parse_json(req.body)
    if not isinstance(body, dict) or len(body) != 1:
        raise InvalidInput("Invalid input received: the body must hold exactly one "
                           "action.")
    name, arg = next(iter(body.items()))
    arg = arg or {}
    if not isinstance(arg, dict):
        raise InvalidInput(f"Invalid input received: {name} takes an object.")
    groups = req.cloud.volumes.groups
    g = groups.get(req.context, req.params["group_id"])
    if name == "delete":
        validate(arg, obj({"delete-volumes": schemas.BOOL}))
        req.context.enforce("group:delete", target(req, g.project_id))
        groups.delete(req.context, g.id, schemas.as_bool(arg.get("delete-volumes",
                                                                 False)))
        return Reply(202)
    if name == "reset_status" and at_least(req, "3.20"):
        validate(arg, obj({"status": {"type": "string", "enum": [
            "available", "error", "creating", "deleting", "updating",
            "error_deleting", "in-use"]}}, ["status"]))
        req.context.enforce("group:reset_status", target(req, g.project_id))
        groups.reset_status(req.context, g.id, arg["status"])
        return Reply(202)
    raise InvalidInput(f"There is no such action: {name}")
