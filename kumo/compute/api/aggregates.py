"""``/os-aggregates`` (Compute API "Host aggregates (os-aggregates)"), admin only:
list, create (the reply has no ``hosts``/``metadata``, as Nova's), show, update,
delete (200, no body; 400 while it has hosts), and the actions ``add_host``,
``remove_host``, ``set_metadata``. ``uuid`` from 2.41. Times as Nova renders them
(``2016-12-27T22:51:32.000000``). The logic is :mod:`kumo.compute.aggregates`."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request, validate
from kumo.compute.api import at_least, service

P = "os_compute_api:os-aggregates:"
_NAME = {"type": "string", "minLength": 1, "maxLength": 255,
         "pattern": r"^(?! )[\S ]*(?<! )$"}
_AZ = {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
       "pattern": r"^(?! )[^:]*(?<! )$"}
CREATE = {"type": "object", "properties": {"aggregate": {
    "type": "object", "properties": {"name": _NAME, "availability_zone": _AZ},
    "required": ["name"], "additionalProperties": False}},
    "required": ["aggregate"], "additionalProperties": False}
UPDATE = {"type": "object", "properties": {"aggregate": {
    "type": "object", "properties": {"name": _NAME, "availability_zone": _AZ},
    "additionalProperties": False, "anyOf": [{"required": ["name"]},
                                             {"required": ["availability_zone"]}]}},
    "required": ["aggregate"], "additionalProperties": False}
_HOST = {"type": "object", "properties": {"host": {"type": "string", "minLength": 1,
                                                   "maxLength": 255}},
         "required": ["host"], "additionalProperties": False}
_META_VALUE = {"type": ["string", "null"], "maxLength": 255}
ACTION = {"type": "object", "minProperties": 1, "maxProperties": 1, "properties": {
    "add_host": _HOST, "remove_host": _HOST,
    "set_metadata": {"type": "object", "properties": {"metadata": {
        "type": "object", "patternProperties": {r"^[a-zA-Z0-9-_:. ]{1,255}$": _META_VALUE},
        "additionalProperties": False}}, "required": ["metadata"],
        "additionalProperties": False}},
    "additionalProperties": False}


def _time(value):
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def render(req: Request, row, hosts: list[str] | None, full: bool = True) -> dict:
    body = {"id": row.id, "name": row.name,
            "availability_zone": (row.meta or {}).get("availability_zone"),
            "created_at": _time(row.created_at), "updated_at": _time(row.updated_at),
            "deleted": False, "deleted_at": None}
    if full:
        body["hosts"] = list(hosts or [])
        body["metadata"] = dict(row.meta or {})
    if at_least(req, "2.41"):
        body["uuid"] = row.uuid
    return body


def _enforce(req: Request, action: str) -> None:
    req.context.enforce(P + action, {})


@service.route("GET", "/v2.1/os-aggregates")
def list_aggregates(req: Request) -> Reply:
    _enforce(req, "index")
    return Reply(200, {"aggregates": [render(req, r, h)
                                      for r, h in req.cloud.compute.aggregates.list()]})


@service.route("POST", "/v2.1/os-aggregates")
def create(req: Request) -> Reply:
    _enforce(req, "create")
    body = req.json(CREATE)["aggregate"]
    row = req.cloud.compute.aggregates.create(body["name"], body.get("availability_zone"))
    return Reply(200, {"aggregate": render(req, row, None, full=False)})


@service.route("GET", "/v2.1/os-aggregates/{aggregate_id}")
def show(req: Request) -> Reply:
    _enforce(req, "show")
    row, hosts = req.cloud.compute.aggregates.get(req.params["aggregate_id"])
    return Reply(200, {"aggregate": render(req, row, hosts)})


@service.route("PUT", "/v2.1/os-aggregates/{aggregate_id}")
def update(req: Request) -> Reply:
    _enforce(req, "update")
    body = req.json(UPDATE)["aggregate"]
    row, hosts = req.cloud.compute.aggregates.update(req.params["aggregate_id"], body)
    return Reply(200, {"aggregate": render(req, row, hosts)})


@service.route("DELETE", "/v2.1/os-aggregates/{aggregate_id}")
def delete(req: Request) -> Reply:
    _enforce(req, "delete")
    req.cloud.compute.aggregates.delete(req.params["aggregate_id"])
    return Reply(200)


@service.route("POST", "/v2.1/os-aggregates/{aggregate_id}/action")
def action(req: Request) -> Reply:
    body = req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise exc.BadRequest("There is either no action or more than one action in the "
                             "request body.")
    name = next(iter(body))
    if name not in ("add_host", "remove_host", "set_metadata"):
        raise exc.BadRequest(f"There is no such action: {name}")
    _enforce(req, name)
    validate(body, ACTION)
    aggs = req.cloud.compute.aggregates
    agg_id = req.params["aggregate_id"]
    if name == "add_host":
        row, hosts = aggs.add_host(agg_id, body[name]["host"])
    elif name == "remove_host":
        row, hosts = aggs.remove_host(agg_id, body[name]["host"])
    else:
        row, hosts = aggs.set_metadata(agg_id, body[name]["metadata"])
    return Reply(200, {"aggregate": render(req, row, hosts)})
