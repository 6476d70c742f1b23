"""``/v3/OS-FEDERATION`` (Identity API v3 "OS-FEDERATION"): identity providers,
protocols, mappings, service providers, the ``mapped`` authentication routes (behind a
trusted front proxy, see :mod:`kumo.identity.federation`) and WebSSO."""
from __future__ import annotations

import html

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.identity.api import render, service
from kumo.identity.api.auth import _token_body, auth_domains, auth_projects
from kumo.identity.api.crud import query_filters

BASE = "/v3/OS-FEDERATION"
IDP = f"{BASE}/identity_providers/{{idp_id}}"
PROTOCOL = f"{IDP}/protocols/{{protocol_id}}"
_NULLABLE_TEXT = {"type": ["string", "null"]}
_REMOTE_IDS = {"type": ["array", "null"], "items": {"type": "string", "minLength": 1,
                                                      "maxLength": 255}}
_TTL = {"type": ["integer", "null"], "minimum": 0}
IDP_CREATE = {"type": "object", "required": ["identity_provider"], "properties": {
    "identity_provider": {"type": "object", "additionalProperties": False, "properties": {
        "description": _NULLABLE_TEXT, "enabled": {"type": "boolean"},
        "remote_ids": _REMOTE_IDS, "domain_id": {"type": ["string", "null"],
                                                 "maxLength": 64},
        "authorization_ttl": _TTL}}}}
IDP_UPDATE = {"type": "object", "required": ["identity_provider"], "properties": {
    "identity_provider": {"type": "object", "additionalProperties": False,
                          "minProperties": 1, "properties": {
                              "description": _NULLABLE_TEXT, "enabled": {"type": "boolean"},
                              "remote_ids": _REMOTE_IDS, "authorization_ttl": _TTL}}}}
_PROTOCOL_PROPS = {"mapping_id": {"type": "string", "minLength": 1, "maxLength": 64},
                   "remote_id_attribute": {"type": ["string", "null"], "maxLength": 64}}
PROTOCOL_CREATE = {"type": "object", "required": ["protocol"], "properties": {
    "protocol": {"type": "object", "required": ["mapping_id"],
                 "additionalProperties": False, "properties": _PROTOCOL_PROPS}}}
PROTOCOL_UPDATE = {"type": "object", "required": ["protocol"], "properties": {
    "protocol": {"type": "object", "minProperties": 1, "additionalProperties": False,
                 "properties": _PROTOCOL_PROPS}}}
MAPPING_BODY = {"type": "object", "required": ["mapping"],
                "properties": {"mapping": {"type": "object"}}}
_URL = {"type": "string", "minLength": 1, "pattern": r"^https?://"}
_SP_PROPS = {"auth_url": _URL, "sp_url": _URL, "description": _NULLABLE_TEXT,
             "enabled": {"type": "boolean"},
             "relay_state_prefix": {"type": "string", "minLength": 1, "maxLength": 255}}
SP_CREATE = {"type": "object", "required": ["service_provider"], "properties": {
    "service_provider": {"type": "object", "required": ["auth_url", "sp_url"],
                         "additionalProperties": False, "properties": _SP_PROPS}}}
SP_UPDATE = {"type": "object", "required": ["service_provider"], "properties": {
    "service_provider": {"type": "object", "minProperties": 1,
                         "additionalProperties": False, "properties": _SP_PROPS}}}


def _check_id(value: str, what: str) -> str:
    if not value or len(value) > 64:
        raise exc.ValidationError(f"Invalid input for field '{what}': 1 to 64 characters.")
    return value


def _idp(req: Request, found) -> dict:
    row, remote_ids = found
    path = f"{BASE}/identity_providers/{row.id}"
    return {"id": row.id, "description": row.description, "enabled": row.enabled,
            "domain_id": row.domain_id, "remote_ids": list(remote_ids),
            "authorization_ttl": row.authorization_ttl,
            "links": {"self": req.url(path), "protocols": req.url(path + "/protocols")}}


def _protocol(req: Request, row) -> dict:
    idp_path = f"{BASE}/identity_providers/{row.idp_id}"
    return {"id": row.id, "mapping_id": row.mapping_id,
            "remote_id_attribute": row.remote_id_attribute,
            "links": {"self": req.url(f"{idp_path}/protocols/{row.id}"),
                      "identity_provider": req.url(idp_path)}}


def _mapping(req: Request, row) -> dict:
    return {"id": row.id, "rules": row.rules, "schema_version": row.schema_version,
            "links": render.links(req, f"{BASE}/mappings/{row.id}")}


def _sp(req: Request, row) -> dict:
    return {"id": row.id, "auth_url": row.auth_url, "sp_url": row.sp_url,
            "description": row.description, "enabled": row.enabled,
            "relay_state_prefix": row.relay_state_prefix,
            "links": render.links(req, f"{BASE}/service_providers/{row.id}")}


def _body_without_id(ref: dict, expected: str) -> dict:
    """The body minus an ``id`` the clients repeat (it must be the URL's)."""
    ref = dict(ref)
    if ref.pop("id", expected) != expected:
        raise exc.ValidationError("Invalid input for field 'id': it must be the id in "
                                  "the URL.")
    return ref


def _fed(req: Request):
    return req.cloud.identity.federation


# -- identity providers -------------------------------------------------------
@service.route("PUT", IDP)
def create_idp(req: Request) -> Reply:
    req.context.enforce("identity:create_identity_provider")
    ref = req.json(IDP_CREATE)["identity_provider"]
    found = _fed(req).create_idp(_check_id(req.params["idp_id"], "idp_id"), ref)
    return Reply(201, {"identity_provider": _idp(req, found)})


@service.route("GET", f"{BASE}/identity_providers")
def list_idps(req: Request) -> Reply:
    req.context.enforce("identity:list_identity_providers")
    rows = _fed(req).list_idps(query_filters(req))
    return Reply(200, render.collection(req, "identity_providers",
                                        [_idp(req, f) for f in rows]))


@service.route("GET", IDP)
def get_idp(req: Request) -> Reply:
    req.context.enforce("identity:get_identity_provider")
    return Reply(200, {"identity_provider": _idp(req, _fed(req).get_idp(req.params["idp_id"]))})


@service.route("PATCH", IDP)
def update_idp(req: Request) -> Reply:
    req.context.enforce("identity:update_identity_provider")
    ref = req.json(IDP_UPDATE)["identity_provider"]
    found = _fed(req).update_idp(req.params["idp_id"], ref)
    return Reply(200, {"identity_provider": _idp(req, found)})


@service.route("DELETE", IDP)
def delete_idp(req: Request) -> Reply:
    req.context.enforce("identity:delete_identity_provider")
    _fed(req).delete_idp(req.params["idp_id"])
    return Reply(204)


# -- protocols ----------------------------------------------------------------
@service.route("PUT", PROTOCOL)
def create_protocol(req: Request) -> Reply:
    req.context.enforce("identity:create_protocol")
    ref = req.json(PROTOCOL_CREATE)["protocol"]
    row = _fed(req).create_protocol(req.params["idp_id"],
                                    _check_id(req.params["protocol_id"], "protocol_id"), ref)
    return Reply(201, {"protocol": _protocol(req, row)})


@service.route("GET", f"{IDP}/protocols")
def list_protocols(req: Request) -> Reply:
    req.context.enforce("identity:list_protocols")
    rows = _fed(req).list_protocols(req.params["idp_id"])
    return Reply(200, render.collection(req, "protocols", [_protocol(req, r) for r in rows]))


@service.route("GET", PROTOCOL)
def get_protocol(req: Request) -> Reply:
    req.context.enforce("identity:get_protocol")
    row = _fed(req).get_protocol(req.params["idp_id"], req.params["protocol_id"])
    return Reply(200, {"protocol": _protocol(req, row)})


@service.route("PATCH", PROTOCOL)
def update_protocol(req: Request) -> Reply:
    req.context.enforce("identity:update_protocol")
    ref = req.json(PROTOCOL_UPDATE)["protocol"]
    row = _fed(req).update_protocol(req.params["idp_id"], req.params["protocol_id"], ref)
    return Reply(200, {"protocol": _protocol(req, row)})


@service.route("DELETE", PROTOCOL)
def delete_protocol(req: Request) -> Reply:
    req.context.enforce("identity:delete_protocol")
    _fed(req).delete_protocol(req.params["idp_id"], req.params["protocol_id"])
    return Reply(204)


# -- mappings -----------------------------------------------------------------
@service.route("PUT", f"{BASE}/mappings/{{mapping_id}}")
def create_mapping(req: Request) -> Reply:
    req.context.enforce("identity:create_mapping")
    ref = _body_without_id(req.json(MAPPING_BODY)["mapping"], req.params["mapping_id"])
    row = _fed(req).create_mapping(_check_id(req.params["mapping_id"], "mapping_id"), ref)
    return Reply(201, {"mapping": _mapping(req, row)})


@service.route("GET", f"{BASE}/mappings")
def list_mappings(req: Request) -> Reply:
    req.context.enforce("identity:list_mappings")
    return Reply(200, render.collection(req, "mappings",
                                        [_mapping(req, r) for r in _fed(req).list_mappings()]))


@service.route("GET", f"{BASE}/mappings/{{mapping_id}}")
def get_mapping(req: Request) -> Reply:
    req.context.enforce("identity:get_mapping")
    return Reply(200, {"mapping": _mapping(req, _fed(req).get_mapping(
        req.params["mapping_id"]))})


@service.route("PATCH", f"{BASE}/mappings/{{mapping_id}}")
def update_mapping(req: Request) -> Reply:
    req.context.enforce("identity:update_mapping")
    ref = _body_without_id(req.json(MAPPING_BODY)["mapping"], req.params["mapping_id"])
    row = _fed(req).update_mapping(req.params["mapping_id"], ref)
    return Reply(200, {"mapping": _mapping(req, row)})


@service.route("DELETE", f"{BASE}/mappings/{{mapping_id}}")
def delete_mapping(req: Request) -> Reply:
    req.context.enforce("identity:delete_mapping")
    _fed(req).delete_mapping(req.params["mapping_id"])
    return Reply(204)


# -- service providers --------------------------------------------------------
@service.route("PUT", f"{BASE}/service_providers/{{sp_id}}")
def create_sp(req: Request) -> Reply:
    req.context.enforce("identity:create_service_provider")
    ref = req.json(SP_CREATE)["service_provider"]
    row = _fed(req).create_sp(_check_id(req.params["sp_id"], "sp_id"), ref)
    return Reply(201, {"service_provider": _sp(req, row)})


@service.route("GET", f"{BASE}/service_providers")
def list_sps(req: Request) -> Reply:
    req.context.enforce("identity:list_service_providers")
    rows = _fed(req).list_sps(query_filters(req))
    return Reply(200, render.collection(req, "service_providers", [_sp(req, r) for r in rows]))


@service.route("GET", f"{BASE}/service_providers/{{sp_id}}")
def get_sp(req: Request) -> Reply:
    req.context.enforce("identity:get_service_provider")
    return Reply(200, {"service_provider": _sp(req, _fed(req).get_sp(req.params["sp_id"]))})


@service.route("PATCH", f"{BASE}/service_providers/{{sp_id}}")
def update_sp(req: Request) -> Reply:
    req.context.enforce("identity:update_service_provider")
    ref = req.json(SP_UPDATE)["service_provider"]
    row = _fed(req).update_sp(req.params["sp_id"], ref)
    return Reply(200, {"service_provider": _sp(req, row)})


@service.route("DELETE", f"{BASE}/service_providers/{{sp_id}}")
def delete_sp(req: Request) -> Reply:
    req.context.enforce("identity:delete_service_provider")
    _fed(req).delete_sp(req.params["sp_id"])
    return Reply(204)


# -- federated authentication -------------------------------------------------
def _mapped_token(req: Request, idp_id: str, protocol_id: str):
    identity = req.cloud.identity
    user = identity.federation.authenticate(idp_id, protocol_id, req.client, req.headers)
    return identity.auth.issue(user, None, ("mapped",))


@service.route("GET,POST", f"{PROTOCOL}/auth", authenticated=False)
def federated_auth(req: Request) -> Reply:
    """An unscoped federated token (201, ``X-Subject-Token``) for the user the
    trusted proxy's headers map to; scope it with ``/v3/auth/tokens`` (``token``)."""
    token = _mapped_token(req, req.params["idp_id"], req.params["protocol_id"])
    return Reply(201, _token_body(req, token), {"X-Subject-Token": token.id})


def _websso(req: Request, idp_id: str, protocol_id: str) -> Reply:
    if not _trusted(req):
        raise exc.Unauthorized("Federated authentication needs a trusted front proxy; "
                               "this request did not come through one.")
    origin = req.query.get("origin")
    if not origin:
        raise exc.ValidationError("Request must have an origin query parameter.")
    if origin not in (req.cloud.identity.settings.federation_trusted_dashboards or []):
        raise exc.Unauthorized(f"{origin} is not a trusted dashboard host.")
    token = _mapped_token(req, idp_id, protocol_id)
    page = ("<!DOCTYPE html><html><body onload=\"document.forms[0].submit()\">"
            f"<form action=\"{html.escape(origin)}\" method=\"post\">"
            f"<input type=\"hidden\" name=\"token\" value=\"{html.escape(token.id)}\">"
            "<noscript><input type=\"submit\" value=\"Continue\"></noscript>"
            "</form></body></html>")
    return Reply(200, page.encode(), content_type="text/html")


@service.route("GET,POST",
               "/v3/auth/OS-FEDERATION/identity_providers/{idp_id}/protocols/"
               "{protocol_id}/websso", authenticated=False)
def websso_idp(req: Request) -> Reply:
    """WebSSO: the token posted to the trusted dashboard ``origin`` in a page."""
    return _websso(req, req.params["idp_id"], req.params["protocol_id"])


@service.route("GET,POST", "/v3/auth/OS-FEDERATION/websso/{protocol_id}",
               authenticated=False)
def websso(req: Request) -> Reply:
    """WebSSO where the provider is found by its remote id (the protocol's
    ``remote_id_attribute`` header, else the setting)."""
    identity = req.cloud.identity
    protocol_id = req.params["protocol_id"]
    if not _trusted(req):
        raise exc.Unauthorized("Federated authentication needs a trusted front proxy; "
                               "this request did not come through one.")
    attr = identity.settings.federation_remote_id_attribute
    remote = req.headers.get(attr) if attr else None
    for row, remote_ids in identity.federation.list_idps({}):
        if remote is not None and remote in remote_ids:
            return _websso(req, row.id, protocol_id)
    raise exc.NotFound("Could not find an identity provider for this request.")


def _trusted(req: Request) -> bool:
    from kumo.identity.federation import trusted_proxy
    return trusted_proxy(req.cloud.identity.settings, req.client)


@service.route("GET", f"{BASE}/projects")
def federation_projects(req: Request) -> Reply:
    """Deprecated alias of ``/v3/auth/projects``."""
    return auth_projects(req)


@service.route("GET", f"{BASE}/domains")
def federation_domains(req: Request) -> Reply:
    """Deprecated alias of ``/v3/auth/domains``."""
    return auth_domains(req)
