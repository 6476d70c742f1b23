"""Key pairs (Compute API "Keypairs (keypairs)"): ``type`` from 2.2, ``user_id`` (admin
acting for another user) from 2.10, pagination from 2.35, generation removed at 2.92."""
from __future__ import annotations

import re

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.timeutils import isotime
from kumo.compute import schemas
from kumo.compute.api import at_least, service
from kumo.compute.api.servers import next_links

P = "os_compute_api:os-keypairs:"
_NAME = re.compile(r"^[a-zA-Z0-9 _-]+$")
_NAME_292 = re.compile(r"^[a-zA-Z0-9 _.@-]+$")


def _user(req: Request, body: dict | None = None) -> str:
    wanted = (body or {}).get("user_id") if body else req.query.get("user_id")
    if wanted and at_least(req, "2.10") and wanted != req.context.user_id:
        req.context.enforce(P + "index:other_user")
        return wanted
    return req.context.user_id


def _render(req: Request, row, full: bool = False) -> dict:
    body = {"name": row.name, "public_key": row.public_key,
            "fingerprint": row.fingerprint}
    if at_least(req, "2.2"):
        body["type"] = row.type
    if full:
        body.update({"user_id": row.user_id, "id": row.id,
                     "created_at": isotime(row.created_at), "deleted": False,
                     "deleted_at": None, "updated_at": None})
    return body


@service.route("POST", "/v2.1/os-keypairs")
def create(req: Request) -> Reply:
    attrs = req.json(schemas.KEYPAIR_CREATE)["keypair"]
    user_id = _user(req, attrs)
    req.context.enforce(P + "create", {"user_id": user_id})
    name = attrs["name"]
    if not (_NAME_292 if at_least(req, "2.92") else _NAME).match(name) or \
            name.strip() != name:
        raise exc.BadRequest("Keypair data is invalid: Keypair name contains unsafe "
                             "characters")
    key_type = attrs.get("type", "ssh") if at_least(req, "2.2") else "ssh"
    public_key = attrs.get("public_key")
    if public_key is None and at_least(req, "2.92"):
        raise exc.BadRequest("'public_key' is a required property")
    row, private = req.cloud.compute.keypairs.create(
        user_id, req.context.project_id, name, public_key, key_type)
    body = _render(req, row)
    body["user_id"] = row.user_id
    if private is not None:
        body["private_key"] = private
    return Reply(201 if at_least(req, "2.2") else 200, {"keypair": body})


@service.route("GET", "/v2.1/os-keypairs")
def index(req: Request) -> Reply:
    user_id = _user(req)
    req.context.enforce(P + "index", {"user_id": user_id})
    limit = marker = None
    if at_least(req, "2.35"):
        limit, marker = req.query.get("limit"), req.query.get("marker")
    rows, more = req.cloud.compute.lists.keypairs(user_id, limit, marker)
    body = {"keypairs": [{"keypair": _render(req, r)} for r in rows]}
    links = next_links(req, rows, more, "os-keypairs", marker=lambda r: r.name)
    if links:
        body["keypairs_links"] = links
    return Reply(200, body)


@service.route("GET", "/v2.1/os-keypairs/{name}")
def show(req: Request) -> Reply:
    user_id = _user(req)
    req.context.enforce(P + "show", {"user_id": user_id})
    row = req.cloud.compute.keypairs.get(user_id, req.params["name"])
    return Reply(200, {"keypair": _render(req, row, full=True)})


@service.route("DELETE", "/v2.1/os-keypairs/{name}")
def delete(req: Request) -> Reply:
    user_id = _user(req)
    req.context.enforce(P + "delete", {"user_id": user_id})
    req.cloud.compute.keypairs.delete(user_id, req.params["name"])
    return Reply(204 if at_least(req, "2.2") else 202)
