"""Version discovery and ``/v3/auth/*`` (Identity API v3: "Authentication and token
management", "Version discovery")."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.identity.api import render, service
from kumo.identity.api.crud import query_filters

VERSION_ID = "v3.14"
MEDIA_TYPE = "application/vnd.openstack.identity-v3+json"

AUTH_SCHEMA = {
    "type": "object",
    "required": ["auth"],
    "properties": {"auth": {
        "type": "object",
        "required": ["identity"],
        "properties": {
            "identity": {
                "type": "object",
                "required": ["methods"],
                "properties": {"methods": {"type": "array", "minItems": 1,
                                           "items": {"type": "string"}}},
            },
            "scope": {"anyOf": [{"type": "object"}, {"enum": ["unscoped"]}]},
        },
    }},
}


def _version(req: Request) -> dict:
    return {"id": VERSION_ID, "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": req.url("/v3/")}],
            "media-types": [{"base": "application/json", "type": MEDIA_TYPE}]}


@service.route("GET", "/", authenticated=False)
def versions(req: Request) -> Reply:
    return Reply(300, {"versions": {"values": [_version(req)]}})


@service.route("GET", "/v3", authenticated=False)
def version(req: Request) -> Reply:
    return Reply(200, {"version": _version(req)})


def _token_body(req: Request, token) -> bytes:
    """The encoded ``{"token": ...}`` body, cached with the token until the identity
    revision changes."""
    identity = req.cloud.identity
    nocatalog = req.flag("nocatalog")

    def build() -> bytes:
        roles = {r.id: r.name for r in identity.assignments.roles_by_id().values()}
        catalog = None if nocatalog else identity.catalog.catalog(
            token.project.id if token.project else None)
        body = render.token(req, token, roles, catalog)
        if catalog is not None and token.payload.scope:
            sps = identity.federation.enabled_sps()
            if sps:  # Keystone lists enabled service providers next to the catalog
                body["service_providers"] = sps
        return Reply(body={"token": body}).encode()
    return identity.cache.get(("token-body", token.id, nocatalog), build)


@service.route("POST", "/v3/auth/tokens", authenticated=False)
def issue_token(req: Request) -> Reply:
    body = req.json(AUTH_SCHEMA)
    oauth1_request = None
    if "oauth1" in body["auth"]["identity"]["methods"]:
        from kumo.identity.api.oauth1 import signed_request
        oauth1_request = signed_request(req)
    token = req.cloud.identity.auth.authenticate(body["auth"], oauth1_request)
    return Reply(201, _token_body(req, token), {"X-Subject-Token": token.id})


def _subject(req: Request, action: str):
    subject = req.headers.get("x-subject-token")
    if not subject:
        raise exc.NotFound("Could not find token: no X-Subject-Token was given.")
    auth = req.cloud.identity.auth
    if subject == req.context.auth_token:
        token = req.context.token
    else:
        token = auth.validate(subject, allow_expired=req.flag("allow_expired"),
                              refresh=False)
    req.context.enforce(action, {"target.token.user_id": token.user.id})
    return token


@service.route("GET", "/v3/auth/tokens")
def validate_token(req: Request) -> Reply:
    action = "identity:check_token" if req.method == "HEAD" else "identity:validate_token"
    token = _subject(req, action)
    return Reply(200, _token_body(req, token), {"X-Subject-Token": token.id})


@service.route("DELETE", "/v3/auth/tokens")
def revoke_token(req: Request) -> Reply:
    token = _subject(req, "identity:revoke_token")
    req.cloud.identity.auth.revoke_token(token)
    return Reply(204)


@service.route("GET", "/v3/auth/catalog")
def auth_catalog(req: Request) -> Reply:
    if req.context.token.payload.scope is None:
        raise exc.Forbidden("The service catalog requires a scoped token.")
    return Reply(200, {"catalog": req.cloud.identity.catalog.catalog(req.context.project_id),
                       "links": {"self": req.url("/v3/auth/catalog"),
                                 "previous": None, "next": None}})


def _assigned_targets(req: Request, kind: str) -> set[str]:
    assignments = req.cloud.identity.assignments.list_assignments(
        user_id=req.context.user_id, effective=True)
    return {a.target[1] for a in assignments if a.target[0] == kind}


@service.route("GET", "/v3/auth/projects")
def auth_projects(req: Request) -> Reply:
    identity = req.cloud.identity
    ids = _assigned_targets(req, "project")
    projects = [p for p in identity.resources.list_projects(query_filters(req), ids=ids) if p.enabled]
    return Reply(200, render.collection(req, "projects",
                                        [render.project(req, p) for p in projects]))


@service.route("GET", "/v3/auth/domains")
def auth_domains(req: Request) -> Reply:
    identity = req.cloud.identity
    domains = [identity.resources.get_domain(d) for d in sorted(_assigned_targets(req, "domain"))]
    return Reply(200, render.collection(req, "domains",
                                        [render.domain(req, d) for d in domains if d.enabled]))


@service.route("GET", "/v3/auth/system")
def auth_system(req: Request) -> Reply:
    system = [{"all": True}] if _assigned_targets(req, "system") else []
    return Reply(200, {"system": system, "links": {"self": req.url("/v3/auth/system"),
                                                   "previous": None, "next": None}})
