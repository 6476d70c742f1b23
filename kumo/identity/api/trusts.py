"""``/v3/OS-TRUST/trusts`` (Identity API v3 "OS-TRUST"): create, list, show, delete,
and the trust's roles."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.timeutils import parse_isotime
from kumo.identity.api import render, service

_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_ROLE = {"type": "object", "properties": {"id": {"type": "string"},
                                          "name": {"type": "string"}},
         "minProperties": 1}
CREATE = {"type": "object", "required": ["trust"], "properties": {"trust": {
    "type": "object",
    "required": ["trustor_user_id", "trustee_user_id", "impersonation"],
    "properties": {
        "trustor_user_id": _ID, "trustee_user_id": _ID,
        "project_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},
        "impersonation": {"type": "boolean"},
        "expires_at": {"type": ["string", "null"]},
        "remaining_uses": {"type": ["integer", "null"], "minimum": 1},
        "allow_redelegation": {"type": ["boolean", "null"]},
        "redelegation_count": {"type": ["integer", "null"], "minimum": 0},
        "roles": {"type": "array", "items": _ROLE},
    }}}}


def _roles(req: Request) -> dict:
    return req.cloud.identity.assignments.roles_by_id()


def _target(trust) -> dict:
    return {"target.trust.trustor_user_id": trust.trustor_user_id,
            "target.trust.trustee_user_id": trust.trustee_user_id}


@service.route("POST", "/v3/OS-TRUST/trusts")
def create_trust(req: Request) -> Reply:
    ref = dict(req.json(CREATE)["trust"])
    ctx = req.context
    ctx.enforce("identity:create_trust",
                {"trust.trustor_user_id": ref["trustor_user_id"]})
    if ctx.token.application_credential is not None:
        raise exc.Forbidden("Using method 'application_credential' is not allowed for "
                            "managing trusts.")
    if ref.get("expires_at"):
        try:
            ref["expires_at"] = parse_isotime(ref["expires_at"])
        except ValueError:
            raise exc.ValidationError("Invalid input for field 'expires_at': "
                                      f"{ref['expires_at']!r} is not a date-time.") from None
    else:
        ref["expires_at"] = None
    trust = req.cloud.identity.trusts.create(ref, ctx.token)
    return Reply(201, {"trust": render.trust(req, trust, _roles(req))})


@service.route("GET", "/v3/OS-TRUST/trusts")
def list_trusts(req: Request) -> Reply:
    ctx = req.context
    trustor = req.query.get("trustor_user_id")
    trustee = req.query.get("trustee_user_id")
    if trustor:
        ctx.enforce("identity:list_trusts_for_trustor",
                    {"target.trust.trustor_user_id": trustor})
    if trustee:
        ctx.enforce("identity:list_trusts_for_trustee",
                    {"target.trust.trustee_user_id": trustee})
    if not trustor and not trustee:
        if ctx.can("identity:list_trusts"):
            trusts = req.cloud.identity.trusts.list()
        else:  # a user sees the trusts they are trustor or trustee of
            trusts = {t.id: t for t in req.cloud.identity.trusts.list(ctx.user_id)}
            trusts.update({t.id: t for t in req.cloud.identity.trusts.list(
                trustee_user_id=ctx.user_id)})
            trusts = sorted(trusts.values(), key=lambda t: t.id)
    else:
        trusts = req.cloud.identity.trusts.list(trustor, trustee)
    roles = _roles(req)
    return Reply(200, render.collection(req, "trusts",
                                        [render.trust(req, t, roles) for t in trusts]))


def _get(req: Request, action: str):
    trust = req.cloud.identity.trusts.get(req.params["trust_id"])
    req.context.enforce(action, _target(trust))
    return trust


@service.route("GET", "/v3/OS-TRUST/trusts/{trust_id}")
def get_trust(req: Request) -> Reply:
    trust = _get(req, "identity:get_trust")
    return Reply(200, {"trust": render.trust(req, trust, _roles(req))})


@service.route("DELETE", "/v3/OS-TRUST/trusts/{trust_id}")
def delete_trust(req: Request) -> Reply:
    trust = req.cloud.identity.trusts.get(req.params["trust_id"], live=False,
                                          used_up_ok=True)
    req.context.enforce("identity:delete_trust", _target(trust))
    req.cloud.identity.trusts.delete(trust.id)
    return Reply(204)


@service.route("GET", "/v3/OS-TRUST/trusts/{trust_id}/roles")
def list_trust_roles(req: Request) -> Reply:
    trust = _get(req, "identity:list_roles_for_trust")
    roles = _roles(req)
    return Reply(200, render.collection(req, "roles", [
        render.role(req, roles[r]) for r in trust.roles if r in roles]))


@service.route("GET", "/v3/OS-TRUST/trusts/{trust_id}/roles/{role_id}")
def get_trust_role(req: Request) -> Reply:
    trust = _get(req, "identity:get_role_for_trust")
    role_id = req.params["role_id"]
    roles = _roles(req)
    if role_id not in trust.roles or role_id not in roles:
        raise exc.NotFound(resource="role", id=role_id)
    return Reply(200, {"role": render.role(req, roles[role_id])})
