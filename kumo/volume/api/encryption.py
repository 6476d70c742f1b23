"""Volume type encryption (Block Storage API v3 "Volume type encryption"), admin
only: ``GET|POST /v3/types/{type_id}/encryption``, ``GET|PUT|DELETE
/v3/types/{type_id}/encryption/{key}`` (show one field; update and delete ignore the
last segment, as Cinder). The spec is stored and never applied: volumes of an
encrypted type are refused (see :mod:`kumo.volume.encryption`)."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.volume import schemas
from kumo.volume.api import service
from kumo.volume.api.volumes import target
from kumo.volume.errors import InvalidInput, NotFoundError

P = "volume_extension:volume_type_encryption"
KEY_SIZE = {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 2 ** 31 - 1},
                      {"type": "string", "pattern": "^[0-9]{1,10}$"},
                      {"type": "null"}]}
FIELDS = {"provider": {"type": "string", "maxLength": 255},
          "control_location": {"type": "string", "enum": ["front-end", "back-end"]},
          "cipher": {"type": ["string", "null"], "maxLength": 255},
          "key_size": KEY_SIZE}
#: Cinder's schemas: a create names ``provider`` and ``control_location``; an update
#: any of the fields (none is a no-op).
CREATE = schemas.obj({"encryption": schemas.obj(
    FIELDS, ["provider", "control_location"])}, ["encryption"])
UPDATE = schemas.obj({"encryption": schemas.obj(FIELDS)}, ["encryption"])


def _spec(body: dict) -> dict:
    spec = dict(body["encryption"])
    if spec.get("key_size") is not None:
        spec["key_size"] = int(spec["key_size"])
        if spec["key_size"] > 2 ** 31 - 1:
            raise InvalidInput("Invalid input received: key_size is too large.")
    return spec


@service.route("GET", "/v3/types/{type_id}/encryption")
def index(req: Request) -> Reply:
    req.context.enforce(f"{P}:get", target(req))
    return Reply(200, req.cloud.volumes.encryption.get(req.params["type_id"]))


@service.route("GET", "/v3/types/{type_id}/encryption/{key}")
def show(req: Request) -> Reply:
    req.context.enforce(f"{P}:get", target(req))
    spec = req.cloud.volumes.encryption.get(req.params["type_id"])
    key = req.params["key"]
    if key not in spec:
        raise NotFoundError(f"Volume type encryption for type {req.params['type_id']} "
                            "does not exist.")
    return Reply(200, {key: spec[key]})


@service.route("POST", "/v3/types/{type_id}/encryption")
def create(req: Request) -> Reply:
    spec = _spec(req.json(CREATE))
    req.context.enforce(f"{P}:create", target(req))
    made = req.cloud.volumes.encryption.create(req.params["type_id"], spec)
    # Cinder answers the body it was given plus the two ids its database added
    spec.update(volume_type_id=made["volume_type_id"], encryption_id=made["encryption_id"])
    return Reply(200, {"encryption": spec})


@service.route("PUT", "/v3/types/{type_id}/encryption/{key}")
def update(req: Request) -> Reply:
    spec = _spec(req.json(UPDATE))
    req.context.enforce(f"{P}:update", target(req))
    req.cloud.volumes.encryption.update(req.params["type_id"], spec)
    return Reply(200, {"encryption": spec})


@service.route("DELETE", "/v3/types/{type_id}/encryption/{key}")
def delete(req: Request) -> Reply:
    req.context.enforce(f"{P}:delete", target(req))
    req.cloud.volumes.encryption.delete(req.params["type_id"])
    return Reply(202)
