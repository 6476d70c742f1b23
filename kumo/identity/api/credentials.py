"""``/v3/credentials``, ``/v3/users/{user_id}/credentials/OS-EC2`` and
``/v3/ec2tokens`` (Identity API v3: "Credentials", "OS-EC2")."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.identity.api import render, service
from kumo.identity.api.auth import _token_body
from kumo.identity.api.crud import query_filters

_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_PROPS = {"type": {"type": "string", "minLength": 1, "maxLength": 255},
          "blob": {"type": "string", "minLength": 1},
          "user_id": _ID, "project_id": {"type": ["string", "null"], "minLength": 1,
                                          "maxLength": 64}}
CREATE = {"type": "object", "required": ["credential"], "properties": {"credential": {
    "type": "object", "properties": _PROPS, "required": ["type", "blob", "user_id"]}}}
UPDATE = {"type": "object", "required": ["credential"], "properties": {"credential": {
    "type": "object", "properties": _PROPS, "minProperties": 1}}}
EC2_CREATE = {"type": "object", "required": ["tenant_id"],
              "properties": {"tenant_id": _ID}}
EC2_AUTH = {"type": "object", "properties": {
    "credentials": {"type": "object"}, "ec2Credentials": {"type": "object"}},
    "anyOf": [{"required": ["credentials"]}, {"required": ["ec2Credentials"]}]}
EC2_FIELDS = {"access": {"type": "string"}, "signature": {"type": "string"},
              "host": {"type": ["string", "null"]}, "verb": {"type": ["string", "null"]},
              "path": {"type": ["string", "null"]}, "params": {"type": ["object", "null"]},
              "headers": {"type": ["object", "null"]},
              "body_hash": {"type": ["string", "null"]}}


def _target(user_id: str) -> dict:
    return {"target.credential.user_id": user_id}


def _render(req: Request, row) -> dict:
    return render.credential(req, row, req.cloud.identity.credentials.decrypt(row))


@service.route("POST", "/v3/credentials")
def create_credential(req: Request) -> Reply:
    ref = dict(req.json(CREATE)["credential"])
    req.context.enforce("identity:create_credential", _target(ref["user_id"]))
    trust = req.context.token.trust
    row = req.cloud.identity.credentials.create(ref, trust.id if trust else None)
    return Reply(201, {"credential": _render(req, row)})


@service.route("GET", "/v3/credentials")
def list_credentials(req: Request) -> Reply:
    ctx = req.context
    ctx.enforce("identity:list_credentials", _target(ctx.user_id))
    rows = req.cloud.identity.credentials.list(query_filters(req))
    rows = [r for r in rows if ctx.can("identity:list_credentials", _target(r.user_id))]
    return Reply(200, render.collection(req, "credentials", [_render(req, r) for r in rows]))


def _owned(req: Request, action: str):
    row = req.cloud.identity.credentials.get(req.params["credential_id"])
    req.context.enforce(action, _target(row.user_id))
    return row


@service.route("GET", "/v3/credentials/{credential_id}")
def get_credential(req: Request) -> Reply:
    return Reply(200, {"credential": _render(req, _owned(req, "identity:get_credential"))})


@service.route("PATCH", "/v3/credentials/{credential_id}")
def update_credential(req: Request) -> Reply:
    changes = dict(req.json(UPDATE)["credential"])
    row = _owned(req, "identity:update_credential")
    if "user_id" in changes:
        req.context.enforce("identity:update_credential", _target(changes["user_id"]))
    if changes.get("id") not in (None, row.id):
        raise exc.ValidationError("Invalid input for field 'id': the id cannot change.")
    row = req.cloud.identity.credentials.update(row.id, changes)
    return Reply(200, {"credential": _render(req, row)})


@service.route("DELETE", "/v3/credentials/{credential_id}")
def delete_credential(req: Request) -> Reply:
    row = _owned(req, "identity:delete_credential")
    req.cloud.identity.credentials.delete(row.id)
    return Reply(204)


# -- OS-EC2 ------------------------------------------------------------------------
def _ec2_base(req: Request) -> str:
    return f"/v3/users/{req.params['user_id']}/credentials/OS-EC2"


@service.route("POST", "/v3/users/{user_id}/credentials/OS-EC2")
def create_ec2(req: Request) -> Reply:
    user_id = req.params["user_id"]
    req.context.enforce("identity:ec2_create_credential", {"user_id": user_id})
    body = req.json(EC2_CREATE)
    req.cloud.identity.users.get_user(user_id)
    trust = req.context.token.trust
    row, blob = req.cloud.identity.credentials.create_ec2(
        user_id, body["tenant_id"], trust.id if trust else None)
    return Reply(201, {"credential": render.ec2_credential(req, row, blob)})


@service.route("GET", "/v3/users/{user_id}/credentials/OS-EC2")
def list_ec2(req: Request) -> Reply:
    user_id = req.params["user_id"]
    req.context.enforce("identity:ec2_list_credentials", {"user_id": user_id})
    req.cloud.identity.users.get_user(user_id)
    items = req.cloud.identity.credentials.list_ec2(user_id)
    return Reply(200, render.collection(req, "credentials", [
        render.ec2_credential(req, row, blob) for row, blob in items]))


@service.route("GET", "/v3/users/{user_id}/credentials/OS-EC2/{access}")
def get_ec2(req: Request) -> Reply:
    user_id = req.params["user_id"]
    req.context.enforce("identity:ec2_get_credential", _target(user_id))
    row, blob = req.cloud.identity.credentials.get_ec2(user_id, req.params["access"])
    return Reply(200, {"credential": render.ec2_credential(req, row, blob)})


@service.route("DELETE", "/v3/users/{user_id}/credentials/OS-EC2/{access}")
def delete_ec2(req: Request) -> Reply:
    user_id = req.params["user_id"]
    req.context.enforce("identity:ec2_delete_credential", _target(user_id))
    req.cloud.identity.credentials.delete_ec2(user_id, req.params["access"])
    return Reply(204)


@service.route("POST", "/v3/ec2tokens", authenticated=False)
def ec2tokens(req: Request) -> Reply:
    """Authenticate a request signed with an EC2 secret (v2 or v4): 200 with a token
    scoped to the credential's project, as Keystone answers."""
    body = req.json(EC2_AUTH)
    creds = body.get("credentials") or body.get("ec2Credentials") or {}
    for key, schema in EC2_FIELDS.items():
        value = creds.get(key)
        if value is not None and not isinstance(
                value, {"string": str, "object": dict}[schema["type"] if isinstance(
                    schema["type"], str) else schema["type"][0]]):
            raise exc.ValidationError(f"Invalid input for field 'credentials/{key}'.")
    token = req.cloud.identity.credentials.ec2_authenticate(creds)
    return Reply(200, _token_body(req, token), {"X-Subject-Token": token.id})
