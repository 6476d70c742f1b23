"""QoS (Networking API v2.0: "QoS policies (qos)", "QoS bandwidth limit rules", "QoS
DSCP marking rules", "QoS minimum bandwidth rules", "QoS rule types", "QoS default
policy"). Logic: :mod:`kumo.network.qos`; definitions:
:mod:`kumo.network.definitions_qos`.

- ``GET/POST /v2.0/qos/policies``, ``GET/PUT/DELETE /v2.0/qos/policies/{policy_id}``:
  ``{"policy": {id, name, description, project_id, tenant_id, shared, is_default,
  rules: [{id, type, qos_policy_id, ...}], tags, created_at, updated_at,
  revision_number}}``; 404 QosPolicyNotFound, 409 QosPolicyInUse,
  QoSPolicyDefaultAlreadyExists.
- ``GET/POST /v2.0/qos/policies/{policy_id}/<type>_rules`` and ``GET/PUT/DELETE
  .../<type>_rules/{rule_id}`` for ``bandwidth_limit`` ({max_kbps, max_burst_kbps,
  direction}), ``dscp_marking`` ({dscp_mark}), ``minimum_bandwidth`` ({min_kbps,
  direction}), ``packet_rate_limit`` ({max_kpps, max_burst_kpps, direction}); 404 QosRuleNotFound, 409 QoSRulesConflict, 400 for a bad DSCP mark.
- ``GET /v2.0/qos/rule-types`` (``{"rule_types": [{"type"}]}``) and
  ``GET /v2.0/qos/rule-types/{type}`` (``{"rule_type": {type, drivers: [{name,
  supported_parameters}]}}``).
"""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.network import definitions_qos as defs
from kumo.network import qos as logic
from kumo.network.api import common, service
from kumo.network.api.networks import taggable
from kumo.network.api.root import register_extension
from kumo.network.manager import check_if_match

POLICY = defs.QOS_POLICY
register(POLICY.rules() + [r for d in defs.RULES.values() for r in d.rules()] + [
    RuleDefault("get_rule_type", "@")])

# ``qos-fip``/``qos-gateway-ip``: the L3 agent shapes a floating IP's and a router
# gateway's ``bandwidth_limit`` on the router's qg- device (kumo.agent.qos.GatewayQos;
# legacy and HA routers, not distributed ones).
for _alias, _name, _desc in [
    ("qos", "Quality of Service", "The Quality of Service extension."),
    ("qos-default", "QoS default policy", "Expose the QoS default policy per project"),
    ("qos-rule-type-details", "QoS rule type details",
     "Expose details about QoS rule types supported by loaded backend drivers"),
    ("qos-bw-limit-direction", "Direction for QoS bandwidth limit rule",
     "Allow to configure QoS bandwidth limit rule with specific direction: ingress or "
     "egress"),
    ("qos-bw-minimum-ingress", "Ingress direction for QoS minimum bandwidth rule",
     "Allow to configure QoS minumum bandwidth rule with ingress direction."),
    ("qos-port-network-policy", "QoS port network policy ID",
     "Adds a the QoS network ID to the port definition"),
    ("qos-pps", "QoS packet rate limit rule",
     "Support for packet rate limit rule"),
    ("qos-fip", "Floating IP QoS", "The floating IP Quality of Service extension"),
    ("qos-gateway-ip", "Router gateway IP QoS",
     "The Router gateway IP Quality of Service extension"),
]:
    register_extension(_alias, _name, _desc)


def _extras(networking, session, rows: list) -> dict:
    return networking.qos.extras(session, rows)


render = common.renderer(POLICY, _extras)
common.create_route(POLICY, "qos/policies", "qos", render)
common.list_route(POLICY, "qos/policies", "qos", render)
common.member_routes(POLICY, "qos/policies", "qos", render, param="policy_id")


# -- rules ----------------------------------------------------------------------------
def _rule_routes(rule_type: str, definition) -> None:
    body_key = f"{rule_type}_rule"
    base = f"/v2.0/qos/policies/{{policy_id}}/{rule_type}_rules"
    name = definition.name  # policy_<type>_rule: Neutron's policy rule names

    def render_rule(rows):
        return definition.render(rows)

    def create(req: Request) -> Reply:
        attrs = definition.prepare(common.one(req, body_key, definition.create_schema))
        networking = req.cloud.networking
        with networking.write() as s:
            policy = networking.qos.get(s, req.context, req.params["policy_id"])
            req.context.enforce(f"create_{name}", {"project_id": policy.project_id})
            row = networking.qos.rule_create(s, req.context, policy, rule_type, attrs)
            item = render_rule([row])[0]
        return common.show(req, body_key, item, 201)

    def list_(req: Request) -> Reply:
        networking = req.cloud.networking
        with networking.read() as s:
            policy = networking.qos.get(s, req.context, req.params["policy_id"])
            req.context.enforce(f"get_{name}", {"project_id": policy.project_id})
            rows, links = networking.page(
                s, definition.collection_of,
                networking.qos.rules_visible(req.context, policy.id, rule_type),
                req.query, req.url(base.replace("{policy_id}", policy.id)))
            rendered = render_rule(rows)
        return common.listing(req, f"{rule_type}_rules", rendered, links)

    def show(req: Request) -> Reply:
        networking = req.cloud.networking
        with networking.read() as s:
            row = networking.qos.rule_get(s, req.context, req.params["policy_id"],
                                          rule_type, req.params["rule_id"])
            policy = networking.qos.get(s, req.context, req.params["policy_id"])
            req.context.enforce(f"get_{name}", {"project_id": policy.project_id})
            item = render_rule([row])[0]
        return common.show(req, body_key, item)

    def update(req: Request) -> Reply:
        attrs = definition.prepare(common.one(req, body_key, definition.update_schema))
        networking = req.cloud.networking
        with networking.write() as s:
            row = networking.qos.rule_get(s, req.context, req.params["policy_id"],
                                          rule_type, req.params["rule_id"])
            policy = networking.qos.get(s, req.context, req.params["policy_id"])
            req.context.enforce(f"update_{name}", {"project_id": policy.project_id})
            check_if_match(policy, req.headers.get("if-match"))
            networking.qos.rule_update(s, req.context, policy, row, attrs)
            item = render_rule([row])[0]
        return common.show(req, body_key, item)

    def delete(req: Request) -> Reply:
        networking = req.cloud.networking
        with networking.write() as s:
            row = networking.qos.rule_get(s, req.context, req.params["policy_id"],
                                          rule_type, req.params["rule_id"])
            policy = networking.qos.get(s, req.context, req.params["policy_id"])
            req.context.enforce(f"delete_{name}", {"project_id": policy.project_id})
            networking.qos.rule_delete(s, req.context, policy, row)
        return Reply(204)

    for method, path, handler, hname in (
            ("POST", base, create, f"create_{name}"),
            ("GET", base, list_, f"list_{name}s"),
            ("GET", base + "/{rule_id}", show, f"show_{name}"),
            ("PUT", base + "/{rule_id}", update, f"update_{name}"),
            ("DELETE", base + "/{rule_id}", delete, f"delete_{name}")):
        handler.__name__ = hname
        service.route(method, path)(handler)


for _type, _definition in defs.RULES.items():
    _rule_routes(_type, _definition)


# -- rule types -----------------------------------------------------------------------
@service.route("GET", "/v2.0/qos/rule-types")
def list_rule_types(req: Request) -> Reply:
    req.context.enforce("get_rule_type", {"project_id": req.context.project_id})
    return Reply(200, {"rule_types": [{"type": t} for t in logic.RULE_TYPES]})


@service.route("GET", "/v2.0/qos/rule-types/{rule_type}")
def show_rule_type(req: Request) -> Reply:
    req.context.enforce("get_rule_type", {"project_id": req.context.project_id})
    rule_type = req.params["rule_type"]
    if rule_type not in logic.RULE_TYPES:
        raise logic.QosRuleTypeNotFound(rule_type=rule_type)
    return Reply(200, {"rule_type": {"type": rule_type, "drivers": [
        {"name": logic.DRIVER,
         "supported_parameters": logic.RULE_TYPE_DETAILS[rule_type]}]}})



# -- tags (Networking API v2.0 "Tag extension"): Neutron's tag routes name QoS policies
# by their collection alone, ``/v2.0/policies/{id}/tags`` (the generic tag routes)
taggable("policies", lambda s, ctx, i, net: net.qos.get(s, ctx, i))


def _policy_tag_routes() -> None:
    """The same routes under the policies' own path, ``/v2.0/qos/policies/{id}/tags``
    (openstacksdk's ``add_tag``/``remove_tag``/``check_tag`` use it), on the generic
    handlers, whose ``{collection}`` is one path segment."""
    from kumo.network.api import networks as tag_api

    base = "/v2.0/qos/policies/{resource_id}/tags"
    for method, path, handler in (
            ("GET", base, tag_api.list_tags), ("PUT", base, tag_api.replace_tags),
            ("DELETE", base, tag_api.delete_tags),
            ("GET", base + "/{tag}", tag_api.check_tag),
            ("PUT", base + "/{tag}", tag_api.add_tag),
            ("DELETE", base + "/{tag}", tag_api.delete_tag)):
        def route(req: Request, _handler=handler) -> Reply:
            req.params["collection"] = "policies"
            return _handler(req)
        route.__name__ = f"{handler.__name__}_qos_policy"
        service.route(method, path)(route)


_policy_tag_routes()
