"""``/v3/OS-OAUTH1/consumers`` (Identity API v3 "OS-OAUTH1": consumers)."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.identity.api import render, service

BASE = "/v3/OS-OAUTH1/consumers"
CREATE = {"type": "object", "required": ["consumer"], "properties": {"consumer": {
    "type": "object", "properties": {"description": {"type": ["string", "null"]}}}}}
UPDATE = {"type": "object", "required": ["consumer"], "properties": {"consumer": {
    "type": "object", "properties": {"description": {"type": ["string", "null"]}}}}}


def _consumer(req, c, secret: str | None = None) -> dict:
    body = dict(c.extra or {})
    body.update({"id": c.id, "description": c.description,
                 "links": render.links(req, f"{BASE}/{c.id}")})
    if secret is not None:
        body["secret"] = secret
    return body


@service.route("POST", BASE)
def create_consumer(req: Request) -> Reply:
    req.context.enforce("identity:create_consumer")
    ref = dict(req.json(CREATE)["consumer"])
    if "secret" in ref or "id" in ref:
        raise exc.ValidationError("Invalid input for field 'consumer': id and secret "
                                  "are made by the server.")
    description = ref.pop("description", None)
    row, secret = req.cloud.identity.oauth1.create_consumer(description, ref)
    return Reply(201, {"consumer": _consumer(req, row, secret)})


@service.route("GET", BASE)
def list_consumers(req: Request) -> Reply:
    req.context.enforce("identity:list_consumers")
    rows = req.cloud.identity.oauth1.list_consumers()
    return Reply(200, render.collection(req, "consumers", [_consumer(req, c) for c in rows]))


@service.route("GET", f"{BASE}/{{consumer_id}}")
def get_consumer(req: Request) -> Reply:
    req.context.enforce("identity:get_consumer")
    row = req.cloud.identity.oauth1.get_consumer(req.params["consumer_id"])
    return Reply(200, {"consumer": _consumer(req, row)})


@service.route("PATCH", f"{BASE}/{{consumer_id}}")
def update_consumer(req: Request) -> Reply:
    req.context.enforce("identity:update_consumer")
    ref = dict(req.json(UPDATE)["consumer"])
    if "secret" in ref:
        raise exc.ValidationError("Invalid input for field 'secret': a consumer's secret "
                                  "cannot be changed.")
    if ref.get("id") not in (None, req.params["consumer_id"]):
        raise exc.ValidationError("Invalid input for field 'id': the id cannot change.")
    ref.pop("id", None)
    row = req.cloud.identity.oauth1.update_consumer(req.params["consumer_id"], ref)
    return Reply(200, {"consumer": _consumer(req, row)})


@service.route("DELETE", f"{BASE}/{{consumer_id}}")
def delete_consumer(req: Request) -> Reply:
    req.context.enforce("identity:delete_consumer")
    req.cloud.identity.oauth1.delete_consumer(req.params["consumer_id"])
    return Reply(204)
