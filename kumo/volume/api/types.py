"""Volume types (Block Storage API v3 "Volume types (types)", "Volume type access"):
list, show (also ``default``), create, update, delete, extra specs, access."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.volume import schemas
from kumo.volume.api import render, service
from kumo.volume.api.volumes import target
from kumo.volume.errors import InvalidInput, NotFoundError

M = "volume_extension:types_manage"


@service.route("GET", "/v3/types")
def index(req: Request) -> Reply:
    req.context.enforce("volume_extension:type_get_all", target(req))
    is_public = None
    if "is_public" in req.query and req.query["is_public"].lower() != "none":
        is_public = schemas.as_bool(req.query["is_public"])
    types = req.cloud.volumes.list_types(req.context, is_public)
    return Reply(200, {"volume_types": [render.volume_type(req, t) for t in types]})


@service.route("GET", "/v3/types/default")
def show_default(req: Request) -> Reply:
    req.context.enforce("volume_extension:type_get", target(req))
    with req.cloud.volumes.read() as s:
        vtype = req.cloud.volumes.default_type(s)
    return Reply(200, {"volume_type": render.volume_type(req, vtype)})


@service.route("GET", "/v3/types/{type_id}")
def show(req: Request) -> Reply:
    req.context.enforce("volume_extension:type_get", target(req))
    vtype = req.cloud.volumes.get_type(req.context, req.params["type_id"])
    return Reply(200, {"volume_type": render.volume_type(req, vtype)})


@service.route("POST", "/v3/types")
def create(req: Request) -> Reply:
    attrs = req.json(schemas.TYPE_CREATE)["volume_type"]
    req.context.enforce(M, target(req))
    attrs["name"] = str(attrs.get("name") or "").strip()
    if not attrs["name"]:
        raise InvalidInput("Invalid input received: Volume type name can not be empty.")
    if "os-volume-type-access:is_public" in attrs:
        attrs["os-volume-type-access:is_public"] = schemas.as_bool(
            attrs["os-volume-type-access:is_public"])
    vtype = req.cloud.volumes.create_type(attrs)
    body = render.volume_type(req, vtype)
    body.pop("qos_specs_id", None)  # not in Cinder's create answer (Tempest's schema)
    return Reply(200, {"volume_type": body})


@service.route("PUT", "/v3/types/{type_id}")
def update(req: Request) -> Reply:
    attrs = req.json(schemas.TYPE_UPDATE)["volume_type"]
    req.context.enforce(M, target(req))
    if not attrs:
        raise InvalidInput("Invalid input received: Specify volume type name, "
                           "description, is_public or a combination thereof.")
    if attrs.get("name") is None:
        attrs.pop("name", None)
    if "is_public" in attrs:
        attrs["is_public"] = schemas.as_bool(attrs["is_public"])
    vtype = req.cloud.volumes.update_type(req.params["type_id"], attrs)
    vtype = req.cloud.volumes.get_type(req.context, vtype.id)
    body = render.volume_type(req, vtype)
    for key in ("qos_specs_id", "os-volume-type-access:is_public"):
        body.pop(key, None)  # not in Cinder's update answer (Tempest's schema)
    return Reply(200, {"volume_type": body})


@service.route("DELETE", "/v3/types/{type_id}")
def delete(req: Request) -> Reply:
    req.context.enforce(M, target(req))
    req.cloud.volumes.delete_type(req.params["type_id"])
    return Reply(202)


# -- extra specs ---------------------------------------------------------------------
@service.route("GET", "/v3/types/{type_id}/extra_specs")
def list_specs(req: Request) -> Reply:
    req.context.enforce("volume_extension:access_types_extra_specs", target(req))
    vtype = req.cloud.volumes.get_type(req.context, req.params["type_id"])
    return Reply(200, {"extra_specs": {e.key: e.value for e in vtype.extra_specs}})


@service.route("POST", "/v3/types/{type_id}/extra_specs")
def set_specs(req: Request) -> Reply:
    specs = req.json(schemas.EXTRA_SPECS)["extra_specs"]
    req.context.enforce(M, target(req))
    req.cloud.volumes.set_extra_specs(req.params["type_id"], specs)
    return Reply(200, {"extra_specs": specs})


@service.route("GET", "/v3/types/{type_id}/extra_specs/{key}")
def show_spec(req: Request) -> Reply:
    req.context.enforce("volume_extension:access_types_extra_specs", target(req))
    vtype = req.cloud.volumes.get_type(req.context, req.params["type_id"])
    specs = {e.key: e.value for e in vtype.extra_specs}
    key = req.params["key"]
    if key not in specs:
        raise NotFoundError(f"Volume Type {vtype.id} has no extra specs with key {key}.")
    return Reply(200, {key: specs[key]})


@service.route("PUT", "/v3/types/{type_id}/extra_specs/{key}")
def update_spec(req: Request) -> Reply:
    body = req.json({"type": "object", "minProperties": 1, "maxProperties": 1,
                     "additionalProperties": {"type": ["string", "integer", "boolean"]}})
    key = req.params["key"]
    if key not in body:
        raise InvalidInput("Request body and URI mismatch")
    req.context.enforce(M, target(req))
    req.cloud.volumes.set_extra_specs(req.params["type_id"], body)
    return Reply(200, body)


@service.route("DELETE", "/v3/types/{type_id}/extra_specs/{key}")
def delete_spec(req: Request) -> Reply:
    req.context.enforce(M, target(req))
    req.cloud.volumes.delete_extra_spec(req.params["type_id"], req.params["key"])
    return Reply(202)


# -- access --------------------------------------------------------------------------
@service.route("GET", "/v3/types/{type_id}/os-volume-type-access")
def list_access(req: Request) -> Reply:
    req.context.enforce(M, target(req))
    projects = req.cloud.volumes.type_access(req.params["type_id"])
    return Reply(200, {"volume_type_access": [
        {"volume_type_id": req.params["type_id"], "project_id": p} for p in projects]})


@service.route("POST", "/v3/types/{type_id}/action")
def type_action(req: Request) -> Reply:
    body = req.json({"type": "object", "minProperties": 1, "maxProperties": 1,
                     "properties": {"addProjectAccess": schemas.TYPE_ACCESS,
                                    "removeProjectAccess": schemas.TYPE_ACCESS},
                     "additionalProperties": False})
    volumes = req.cloud.volumes
    vtype = volumes.get_type(None, req.params["type_id"])
    if "addProjectAccess" in body:
        req.context.enforce("volume_extension:volume_type_access:addProjectAccess",
                            target(req))
        volumes.add_type_access(vtype.id, body["addProjectAccess"]["project"])
    else:
        req.context.enforce("volume_extension:volume_type_access:removeProjectAccess",
                            target(req))
        volumes.remove_type_access(vtype.id, body["removeProjectAccess"]["project"])
    return Reply(202)
