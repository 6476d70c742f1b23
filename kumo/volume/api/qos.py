"""QoS specs (Block Storage API v3 "Quality of service (QoS) specifications
(qos-specs)"), for admins."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.volume import schemas
from kumo.volume.api import service
from kumo.volume.api.volumes import target
from kumo.volume.errors import InvalidInput

P = "volume_extension:qos_specs_manage:"
SPEC_VALUE = {"type": ["string", "integer", "number", "boolean"]}
CREATE = {"type": "object", "required": ["qos_specs"], "additionalProperties": False,
          "properties": {"qos_specs": {
              "type": "object", "required": ["name"],
              "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 255},
                             "consumer": {"type": "string"}},
              "additionalProperties": SPEC_VALUE}}}
UPDATE = {"type": "object", "required": ["qos_specs"], "additionalProperties": False,
          "properties": {"qos_specs": {"type": "object", "minProperties": 1,
                                       "additionalProperties": SPEC_VALUE}}}
DELETE_KEYS = {"type": "object", "required": ["keys"], "additionalProperties": False,
               "properties": {"keys": {"type": "array", "minItems": 1, "items": {
                   "type": "string", "minLength": 1, "maxLength": 255}}}}


def render(req: Request, row) -> dict:
    return {"id": row.id, "name": row.name, "consumer": row.consumer,
            "specs": dict(row.specs or {})}


def _links(req: Request, qos_id: str) -> list[dict]:
    return [{"rel": "self", "href": req.url(f"/v3/qos-specs/{qos_id}")},
            {"rel": "bookmark", "href": req.url(f"/qos-specs/{qos_id}")}]


@service.route("GET", "/v3/qos-specs")
def index(req: Request) -> Reply:
    req.context.enforce(P + "get_all", target(req))
    return Reply(200, {"qos_specs": [render(req, r) for r in req.cloud.volumes.qos.list()]})


@service.route("POST", "/v3/qos-specs")
def create(req: Request) -> Reply:
    body = dict(req.json(CREATE)["qos_specs"])
    req.context.enforce(P + "create", target(req))
    name = body.pop("name").strip()
    if not name:
        raise InvalidInput("Invalid input received: QoS specs name can not be empty.")
    consumer = body.pop("consumer", "back-end")
    row = req.cloud.volumes.qos.create(name, consumer, {k: str(v) for k, v in body.items()})
    return Reply(200, {"qos_specs": render(req, row), "links": _links(req, row.id)})


@service.route("GET", "/v3/qos-specs/{qos_id}")
def show(req: Request) -> Reply:
    req.context.enforce(P + "get", target(req))
    row = req.cloud.volumes.qos.get(req.params["qos_id"])
    return Reply(200, {"qos_specs": render(req, row), "links": _links(req, row.id)})


@service.route("PUT", "/v3/qos-specs/{qos_id}")
def update(req: Request) -> Reply:
    specs = {k: str(v) for k, v in req.json(UPDATE)["qos_specs"].items()}
    req.context.enforce(P + "update", target(req))
    req.cloud.volumes.qos.set_keys(req.params["qos_id"], dict(specs))
    return Reply(200, {"qos_specs": specs})


@service.route("PUT", "/v3/qos-specs/{qos_id}/delete_keys")
def delete_keys(req: Request) -> Reply:
    keys = req.json(DELETE_KEYS)["keys"]
    req.context.enforce(P + "update", target(req))
    req.cloud.volumes.qos.delete_keys(req.params["qos_id"], keys)
    return Reply(202)


@service.route("DELETE", "/v3/qos-specs/{qos_id}")
def delete(req: Request) -> Reply:
    req.context.enforce(P + "delete", target(req))
    req.cloud.volumes.qos.delete(req.params["qos_id"],
                                 schemas.as_bool(req.query.get("force", "false")))
    return Reply(202)


@service.route("GET", "/v3/qos-specs/{qos_id}/associations")
def associations(req: Request) -> Reply:
    req.context.enforce(P + "get", target(req))
    types = req.cloud.volumes.qos.associations(req.params["qos_id"])
    return Reply(200, {"qos_associations": [
        {"association_type": "volume_type", "name": t.name, "id": t.id} for t in types]})


def _type_id(req: Request) -> str:
    type_id = req.query.get("vol_type_id")
    if not type_id:
        raise InvalidInput("Invalid input received: Missing required parameter "
                           "vol_type_id.")
    return type_id


@service.route("GET", "/v3/qos-specs/{qos_id}/associate")
def associate(req: Request) -> Reply:
    req.context.enforce(P + "update", target(req))
    req.cloud.volumes.qos.associate(req.params["qos_id"], _type_id(req))
    return Reply(202)


@service.route("GET", "/v3/qos-specs/{qos_id}/disassociate")
def disassociate(req: Request) -> Reply:
    req.context.enforce(P + "update", target(req))
    req.cloud.volumes.qos.disassociate(req.params["qos_id"], _type_id(req))
    return Reply(202)


@service.route("GET", "/v3/qos-specs/{qos_id}/disassociate_all")
def disassociate_all(req: Request) -> Reply:
    req.context.enforce(P + "update", target(req))
    req.cloud.volumes.qos.disassociate(req.params["qos_id"], None)
    return Reply(202)
