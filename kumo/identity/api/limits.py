"""``/v3/policies``, ``/v3/domains/{domain_id}/config`` and unified limits
(``/v3/registered_limits``, ``/v3/limits``, ``/v3/limits/model``), as the Identity API
v3 reference shows them."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.identity.api import render, service

_STR = {"type": "string", "minLength": 1, "maxLength": 255}
_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_ID_OR_NULL = {"type": ["string", "null"], "minLength": 1, "maxLength": 255}
_DESC = {"type": ["string", "null"], "maxLength": 255}
_COUNT = {"type": "integer", "minimum": -1, "maximum": 2147483647}

POLICY_CREATE = {"type": "object", "required": ["policy"], "properties": {"policy": {
    "type": "object", "required": ["blob", "type"],
    "properties": {"blob": {"type": "string"}, "type": _STR}}}}
POLICY_UPDATE = {"type": "object", "required": ["policy"], "properties": {"policy": {
    "type": "object", "minProperties": 1,
    "properties": {"blob": {"type": "string"}, "type": _STR}}}}
CONFIG = {"type": "object", "required": ["config"], "properties": {"config": {
    "type": "object", "minProperties": 1,
    "additionalProperties": {"type": "object", "minProperties": 1}}}}
#: One option's body: ``{"config": {option: value}}``.
OPTION_CONFIG = {"type": "object", "required": ["config"], "properties": {"config": {
    "type": "object", "minProperties": 1}}}
REGISTERED_CREATE = {"type": "object", "required": ["registered_limits"], "properties": {
    "registered_limits": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["service_id", "resource_name", "default_limit"],
        "additionalProperties": False,
        "properties": {"service_id": _ID, "region_id": _ID_OR_NULL, "resource_name": _STR,
                       "default_limit": _COUNT, "description": _DESC}}}}}
REGISTERED_UPDATE = {"type": "object", "required": ["registered_limit"], "properties": {
    "registered_limit": {"type": "object", "minProperties": 1, "additionalProperties": False,
                         "properties": {"service_id": _ID, "region_id": _ID_OR_NULL,
                                        "resource_name": _STR, "default_limit": _COUNT,
                                        "description": _DESC}}}}
LIMIT_CREATE = {"type": "object", "required": ["limits"], "properties": {
    "limits": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["service_id", "resource_name", "resource_limit"],
        "additionalProperties": False,
        "properties": {"service_id": _ID, "region_id": _ID_OR_NULL, "project_id": _ID,
                       "domain_id": _ID, "resource_name": _STR, "resource_limit": _COUNT,
                       "description": _DESC}}}}}
LIMIT_UPDATE = {"type": "object", "required": ["limit"], "properties": {
    "limit": {"type": "object", "minProperties": 1, "additionalProperties": False,
              "properties": {"resource_limit": _COUNT, "description": _DESC}}}}


# -- policies -----------------------------------------------------------------------
def _policy(req, p) -> dict:
    body = dict(p.extra or {})
    body.update({"id": p.id, "type": p.type, "blob": p.blob,
                 "links": render.links(req, f"/v3/policies/{p.id}")})
    return body


@service.route("POST", "/v3/policies")
def create_policy(req: Request) -> Reply:
    req.context.enforce("identity:create_policy")
    row = req.cloud.identity.policies.create(dict(req.json(POLICY_CREATE)["policy"]))
    return Reply(201, {"policy": _policy(req, row)})


@service.route("GET", "/v3/policies")
def list_policies(req: Request) -> Reply:
    req.context.enforce("identity:list_policies")
    rows = req.cloud.identity.policies.list(req.query.get("type"))
    return Reply(200, render.collection(req, "policies", [_policy(req, p) for p in rows]))


@service.route("GET", "/v3/policies/{policy_id}")
def get_policy(req: Request) -> Reply:
    req.context.enforce("identity:get_policy")
    return Reply(200, {"policy": _policy(req, req.cloud.identity.policies.get(
        req.params["policy_id"]))})


@service.route("PATCH", "/v3/policies/{policy_id}")
def update_policy(req: Request) -> Reply:
    req.context.enforce("identity:update_policy")
    row = req.cloud.identity.policies.update(req.params["policy_id"],
                                             dict(req.json(POLICY_UPDATE)["policy"]))
    return Reply(200, {"policy": _policy(req, row)})


@service.route("DELETE", "/v3/policies/{policy_id}")
def delete_policy(req: Request) -> Reply:
    req.context.enforce("identity:delete_policy")
    req.cloud.identity.policies.delete(req.params["policy_id"])
    return Reply(204)


# -- domain configuration -------------------------------------------------------------
def _dc(req: Request):
    return req.cloud.identity.domain_configs


@service.route("PUT", "/v3/domains/{domain_id}/config")
def create_domain_config(req: Request) -> Reply:
    req.context.enforce("identity:create_domain_config")
    config = req.json(CONFIG)["config"]
    existed = _dc(req).replace(req.params["domain_id"], config)
    return Reply(200 if existed else 201,
                 {"config": _dc(req).get(req.params["domain_id"])})


def _config_get(req: Request, group=None, option=None) -> Reply:
    req.context.enforce("identity:get_domain_config")
    return Reply(200, {"config": _dc(req).get(req.params["domain_id"], group, option)})


def _config_update(req: Request, group=None, option=None) -> Reply:
    """PATCH a domain's configuration, a group of it (body ``{"config": {group:
    {option: value}}}``) or one option (body ``{"config": {option: value}}``, as the
    reference's "Update domain group option configuration"); the reply is the domain's
    whole configuration, as Keystone's."""
    req.context.enforce("identity:update_domain_config")
    if option:
        config = {group: req.json(OPTION_CONFIG)["config"]}
    else:
        config = req.json(CONFIG)["config"]
    _dc(req).update(req.params["domain_id"], config, group, option)
    return Reply(200, {"config": _dc(req).get(req.params["domain_id"])})


def _config_delete(req: Request, group=None, option=None) -> Reply:
    req.context.enforce("identity:delete_domain_config")
    _dc(req).delete(req.params["domain_id"], group, option)
    return Reply(204)


@service.route("GET", "/v3/domains/config/default")
def config_default(req: Request) -> Reply:
    req.context.enforce("identity:get_domain_config_default")
    return Reply(200, {"config": _dc(req).default()})


@service.route("GET", "/v3/domains/config/{group}/default")
def config_group_default(req: Request) -> Reply:
    req.context.enforce("identity:get_domain_config_default")
    return Reply(200, {"config": _dc(req).default(req.params["group"])})


@service.route("GET", "/v3/domains/config/{group}/{option}/default")
def config_option_default(req: Request) -> Reply:
    req.context.enforce("identity:get_domain_config_default")
    return Reply(200, {"config": _dc(req).default(req.params["group"],
                                                  req.params["option"])})


@service.route("GET", "/v3/domains/{domain_id}/config")
def get_domain_config(req: Request) -> Reply:
    return _config_get(req)


@service.route("PATCH", "/v3/domains/{domain_id}/config")
def update_domain_config(req: Request) -> Reply:
    return _config_update(req)


@service.route("DELETE", "/v3/domains/{domain_id}/config")
def delete_domain_config(req: Request) -> Reply:
    return _config_delete(req)


@service.route("GET", "/v3/domains/{domain_id}/config/{group}")
def get_domain_config_group(req: Request) -> Reply:
    return _config_get(req, req.params["group"])


@service.route("PATCH", "/v3/domains/{domain_id}/config/{group}")
def update_domain_config_group(req: Request) -> Reply:
    return _config_update(req, req.params["group"])


@service.route("DELETE", "/v3/domains/{domain_id}/config/{group}")
def delete_domain_config_group(req: Request) -> Reply:
    return _config_delete(req, req.params["group"])


@service.route("GET", "/v3/domains/{domain_id}/config/{group}/{option}")
def get_domain_config_option(req: Request) -> Reply:
    return _config_get(req, req.params["group"], req.params["option"])


@service.route("PATCH", "/v3/domains/{domain_id}/config/{group}/{option}")
def update_domain_config_option(req: Request) -> Reply:
    return _config_update(req, req.params["group"], req.params["option"])


@service.route("DELETE", "/v3/domains/{domain_id}/config/{group}/{option}")
def delete_domain_config_option(req: Request) -> Reply:
    return _config_delete(req, req.params["group"], req.params["option"])


# -- unified limits ------------------------------------------------------------------
def _registered(req, r) -> dict:
    return {"id": r.id, "service_id": r.service_id, "region_id": r.region_id,
            "resource_name": r.resource_name, "default_limit": r.default_limit,
            "description": r.description,
            "links": render.links(req, f"/v3/registered_limits/{r.id}")}


def _limit(req, pair) -> dict:
    limit, reg = pair
    return {"id": limit.id, "project_id": limit.project_id, "domain_id": limit.domain_id,
            "service_id": reg.service_id, "region_id": reg.region_id,
            "resource_name": reg.resource_name, "resource_limit": limit.resource_limit,
            "description": limit.description,
            "links": render.links(req, f"/v3/limits/{limit.id}")}


def _query(req: Request, keys) -> dict:
    return {k: req.query.get(k) for k in keys if req.query.get(k)}


@service.route("POST", "/v3/registered_limits")
def create_registered_limits(req: Request) -> Reply:
    req.context.enforce("identity:create_registered_limits")
    rows = req.cloud.identity.limits.create_registered(
        req.json(REGISTERED_CREATE)["registered_limits"])
    return Reply(201, {"registered_limits": [_registered(req, r) for r in rows]})


@service.route("GET", "/v3/registered_limits")
def list_registered_limits(req: Request) -> Reply:
    req.context.enforce("identity:list_registered_limits")
    rows = req.cloud.identity.limits.list_registered(
        _query(req, ("service_id", "region_id", "resource_name")))
    return Reply(200, render.collection(req, "registered_limits",
                                        [_registered(req, r) for r in rows]))


@service.route("GET", "/v3/registered_limits/{limit_id}")
def get_registered_limit(req: Request) -> Reply:
    req.context.enforce("identity:get_registered_limit")
    return Reply(200, {"registered_limit": _registered(
        req, req.cloud.identity.limits.get_registered(req.params["limit_id"]))})


@service.route("PATCH", "/v3/registered_limits/{limit_id}")
def update_registered_limit(req: Request) -> Reply:
    req.context.enforce("identity:update_registered_limit")
    row = req.cloud.identity.limits.update_registered(
        req.params["limit_id"], req.json(REGISTERED_UPDATE)["registered_limit"])
    return Reply(200, {"registered_limit": _registered(req, row)})


@service.route("DELETE", "/v3/registered_limits/{limit_id}")
def delete_registered_limit(req: Request) -> Reply:
    req.context.enforce("identity:delete_registered_limit")
    req.cloud.identity.limits.delete_registered(req.params["limit_id"])
    return Reply(204)


@service.route("GET", "/v3/limits/model")
def limits_model(req: Request) -> Reply:
    req.context.enforce("identity:get_limit_model")
    return Reply(200, {"model": dict(req.cloud.identity.limits.MODEL)})


@service.route("POST", "/v3/limits")
def create_limits(req: Request) -> Reply:
    req.context.enforce("identity:create_limits")
    pairs = req.cloud.identity.limits.create(req.json(LIMIT_CREATE)["limits"])
    return Reply(201, {"limits": [_limit(req, p) for p in pairs]})


@service.route("GET", "/v3/limits")
def list_limits(req: Request) -> Reply:
    ctx = req.context
    ctx.enforce("identity:list_limits")
    query = _query(req, ("service_id", "region_id", "resource_name", "project_id",
                         "domain_id"))
    if not ctx.is_admin:  # a project sees its own limits only
        if ctx.project_id is None:
            return Reply(200, render.collection(req, "limits", []))
        query["project_id"] = ctx.project_id
    pairs = req.cloud.identity.limits.list(query)
    return Reply(200, render.collection(req, "limits", [_limit(req, p) for p in pairs]))


@service.route("GET", "/v3/limits/{limit_id}")
def get_limit(req: Request) -> Reply:
    ctx = req.context
    pair = req.cloud.identity.limits.get(req.params["limit_id"])
    ctx.enforce("identity:get_limit", {"target.limit.project_id": pair[0].project_id or ""})
    return Reply(200, {"limit": _limit(req, pair)})


@service.route("PATCH", "/v3/limits/{limit_id}")
def update_limit(req: Request) -> Reply:
    req.context.enforce("identity:update_limit")
    pair = req.cloud.identity.limits.update(req.params["limit_id"],
                                            req.json(LIMIT_UPDATE)["limit"])
    return Reply(200, {"limit": _limit(req, pair)})


@service.route("DELETE", "/v3/limits/{limit_id}")
def delete_limit(req: Request) -> Reply:
    req.context.enforce("identity:delete_limit")
    req.cloud.identity.limits.delete(req.params["limit_id"])
    return Reply(204)


__all__ = ["exc"]
