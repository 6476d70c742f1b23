"""``/v3/OS-OAUTH1`` (Identity API v3 "OS-OAUTH1"): consumers, request tokens,
authorization, access tokens and a user's access tokens (see :mod:`kumo.identity.oauth1`)."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.timeutils import isotime
from kumo.identity.api import render, service
from kumo.identity.oauth1 import user_access_token

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


# -- the delegation flow (request token, authorize, access token) ----------------
OAUTH = "/v3/OS-OAUTH1"
FORM = "application/x-www-form-urlencoded"
AUTHORIZE = {"type": "object", "required": ["roles"], "properties": {"roles": {
    "type": "array", "minItems": 1, "items": {
        "type": "object", "minProperties": 1, "additionalProperties": False,
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}}}}


def signed_request(req: Request) -> tuple[str, dict, str | None]:
    """``(uri, headers, body)`` of the request as the OAuth client signed it: the URL
    it was sent to, the headers (``Authorization: OAuth ...``), and the body only when
    it is a form (OAuth signs form parameters only)."""
    uri = req.url(req.path)
    query = str(req.query)
    if query:
        uri += "?" + query
    body = None
    if (req.headers.get("content-type") or "").startswith(FORM):
        body = req.body.decode("utf-8", "replace") if req.body else None
    return uri, dict(req.headers), body


def _form(**values) -> bytes:
    from urllib.parse import urlencode
    return urlencode(values).encode()


@service.route("POST", f"{OAUTH}/request_token", authenticated=False)
def create_request_token(req: Request) -> Reply:
    """A request token (201, form-encoded ``oauth_token``, ``oauth_token_secret``,
    ``oauth_expires_at``) for the signed consumer on ``Requested-Project-Id``."""
    oauth = req.cloud.identity.oauth1
    row, secret = oauth.create_request_token(*signed_request(req),
                                             req.headers.get("requested-project-id"))
    return Reply(201, _form(oauth_token=row.id, oauth_token_secret=secret,
                            oauth_expires_at=isotime(row.expires_at) or ""),
                 content_type=FORM)


@service.route("PUT", f"{OAUTH}/authorize/{{request_token_id}}")
def authorize_request_token(req: Request) -> Reply:
    """The caller authorizes the request token for some of its roles on the
    requested project; 200 with the verifier."""
    req.context.enforce("identity:authorize_request_token")
    token = req.context.token
    if token.trust is not None or token.access_token is not None:
        raise exc.Forbidden("Cannot authorize a request token with a token issued via "
                            "a trust or OAuth.")
    roles = req.json(AUTHORIZE)["roles"]
    verifier = req.cloud.identity.oauth1.authorize(req.params["request_token_id"],
                                                   req.context.user_id, roles)
    return Reply(200, {"token": {"oauth_verifier": verifier}})


@service.route("POST", f"{OAUTH}/access_token", authenticated=False)
def create_access_token(req: Request) -> Reply:
    oauth = req.cloud.identity.oauth1
    row, secret = oauth.create_access_token(*signed_request(req))
    return Reply(201, _form(oauth_token=row.id, oauth_token_secret=secret,
                            oauth_expires_at=isotime(row.expires_at) or ""),
                 content_type=FORM)


# -- a user's access tokens --------------------------------------------------------
USER_TOKENS = "/v3/users/{user_id}/OS-OAUTH1/access_tokens"


def _access_token(req: Request, row) -> dict:
    return {"id": row.id, "consumer_id": row.consumer_id,
            "authorizing_user_id": row.authorizing_user_id, "project_id": row.project_id,
            "expires_at": isotime(row.expires_at),
            "links": render.links(req, USER_TOKENS.format(user_id=row.authorizing_user_id)
                                  + f"/{row.id}")}


def _owner(req: Request, action: str) -> str:
    user_id = req.params["user_id"]
    req.context.enforce(action, {"user_id": user_id})
    return user_id


@service.route("GET", USER_TOKENS)
def list_access_tokens(req: Request) -> Reply:
    user_id = _owner(req, "identity:list_access_tokens")
    rows = req.cloud.identity.oauth1.list_access_tokens(user_id)
    return Reply(200, render.collection(req, "access_tokens",
                                        [_access_token(req, r) for r in rows]))


@service.route("GET", f"{USER_TOKENS}/{{access_token_id}}")
def get_access_token(req: Request) -> Reply:
    user_id = _owner(req, "identity:get_access_token")
    row = user_access_token(req.cloud.identity.oauth1, user_id,
                            req.params["access_token_id"])
    return Reply(200, {"access_token": _access_token(req, row)})


@service.route("DELETE", f"{USER_TOKENS}/{{access_token_id}}")
def delete_access_token(req: Request) -> Reply:
    user_id = _owner(req, "identity:delete_access_token")
    req.cloud.identity.oauth1.delete_access_token(user_id, req.params["access_token_id"])
    return Reply(204)


def _token_roles(req: Request, row) -> list[dict]:
    roles = req.cloud.identity.assignments.roles_by_id()
    return [render.role(req, roles[r]) for r in row.role_ids if r in roles]


@service.route("GET", f"{USER_TOKENS}/{{access_token_id}}/roles")
def list_access_token_roles(req: Request) -> Reply:
    user_id = _owner(req, "identity:list_access_token_roles")
    row = user_access_token(req.cloud.identity.oauth1, user_id,
                            req.params["access_token_id"])
    return Reply(200, render.collection(req, "roles", _token_roles(req, row)))


@service.route("GET", f"{USER_TOKENS}/{{access_token_id}}/roles/{{role_id}}")
def get_access_token_role(req: Request) -> Reply:
    user_id = _owner(req, "identity:get_access_token_role")
    row = user_access_token(req.cloud.identity.oauth1, user_id,
                            req.params["access_token_id"])
    for role in _token_roles(req, row):
        if role["id"] == req.params["role_id"]:
            return Reply(200, {"role": role})
    raise exc.NotFound(resource="role", id=req.params["role_id"])
