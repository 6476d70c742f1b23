"""Network RBAC policies, quotas, availability zones and agents (Networking API v2.0:
"RBAC Policies", "Quotas extension", "Quotas details extension", "Availability zones",
"Agents"); and Kumo's agent heartbeat route. Logic: :mod:`kumo.network.rbac`,
:mod:`kumo.network.quotas`, :mod:`kumo.network.agents`.

- ``/v2.0/rbac-policies[/{id}]`` (GET, POST, PUT target_tenant, DELETE):
  ``{"rbac_policy": {id, object_type, object_id, action, target_tenant, project_id,
  tenant_id}}``; 404 RbacPolicyNotFound, 409 RbacPolicyInUse / DuplicateRbacPolicy.
- ``/v2.0/quotas`` (admin: projects with overrides), ``/v2.0/quotas/{project_id}`` (GET
  own or admin; PUT, DELETE admin), ``.../default``, ``.../details.json``
  (``{resource: {limit, used, reserved}}``).
- ``GET /v2.0/availability_zones``: ``{name, resource, state}``.
- ``/v2.0/agents[/{id}]`` (admin: GET, PUT admin_state_up/description, DELETE).
- L3 agent scheduler (admin): ``GET /v2.0/routers/{id}/l3-agents`` ({"agents"}),
  ``GET|POST /v2.0/agents/{id}/l3-routers`` ({"routers"} / {"router_id"} -> 201),
  ``DELETE /v2.0/agents/{id}/l3-routers/{router_id}`` (204); logic in
  :mod:`kumo.network.l3_scheduler`.
- ``POST /kumo/v1/agents/heartbeat`` (admin): ``{"agent": {host, agent_type, binary,
  configurations, availability_zone, resources_synced, start_flag}}`` -> the agent.
"""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.filters import to_bool
from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.common.timeutils import utcnow
from kumo.network import definitions
from kumo.network import quotas as quotas_logic
from kumo.network.api import common, service
from kumo.network.api.root import register_extension

READER = "rule:admin or rule:project_reader"
ADMIN = "rule:admin"

RBAC_POLICY, AGENT = definitions.RBAC_POLICY, definitions.AGENT
register(RBAC_POLICY.rules() + AGENT.rules() + [
    RuleDefault("get_quota", READER),
    RuleDefault("update_quota", ADMIN),
    RuleDefault("delete_quota", ADMIN),
    RuleDefault("get_availability_zone", "@"),
    RuleDefault("kumo:report_agent_state", "rule:admin_or_service"),
    RuleDefault("get_l3-agents", ADMIN),
    RuleDefault("get_l3-routers", ADMIN),
    RuleDefault("create_l3-router", ADMIN),
    RuleDefault("delete_l3-router", ADMIN),
])

for _alias, _name, _desc in [
    ("rbac-policies", "RBAC Policies",
     "Allows creation and modification of policies that control tenant access to "
     "resources."),
    ("quotas", "Quota management support", "Expose functions for quotas management "
                                           "per tenant"),
    ("quota_details", "Quota details management support",
     "Expose functions for quotas usage statistics per project"),
    ("quota-check-limit", "Quota engine limit check",
     "Support for checking the resource usage before applying a new quota limit"),
    ("agent", "agent", "The agent management extension."),
    ("agent-resources-synced", "Agent's Resource View Synced to Placement",
     "Stores success/failure of last sync to Placement"),
    ("l3_agent_scheduler", "L3 Agent Scheduler", "Schedule routers among l3 agents"),
]:
    register_extension(_alias, _name, _desc)

# -- RBAC policies ----------------------------------------------------------------------
def render_rbac(row) -> dict:
    return RBAC_POLICY.render([row])[0]


@service.route("POST", "/v2.0/rbac-policies")
def create_rbac_policy(req: Request) -> Reply:
    entries, bulk = common.items(req, "rbac_policy", "rbac_policies",
                                 RBAC_POLICY.create_schema)
    networking = req.cloud.networking
    with networking.write() as s:
        rows = []
        for attrs in entries:
            target = common.target_of(req, attrs)
            req.context.enforce("create_rbac_policy", target)
            if attrs["target_tenant"] == "*":
                req.context.enforce("create_rbac_policy:target_tenant", target)
            if target["project_id"] != req.context.project_id:
                req.context.enforce("create_rbac_policy:target_tenant", target)
            rows.append(networking.rbac.create(s, req.context, attrs))
        rendered = [render_rbac(r) for r in rows]
    return common.created(req, "rbac_policy", "rbac_policies", rendered, bulk)


@service.route("GET", "/v2.0/rbac-policies")
def list_rbac_policies(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.read() as s:
        rows, links = networking.page(s, RBAC_POLICY.collection_of,
                                      networking.rbac.visible(req.context), req.query,
                                      req.url("/v2.0/rbac-policies"))
        rendered = RBAC_POLICY.render(rows)
    return common.listing(req, "rbac_policies", rendered, links)


@service.route("GET", "/v2.0/rbac-policies/{policy_id}")
def show_rbac_policy(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.read() as s:
        row = networking.rbac.get(s, req.context, req.params["policy_id"])
        return common.show(req, "rbac_policy", render_rbac(row))


@service.route("PUT", "/v2.0/rbac-policies/{policy_id}")
def update_rbac_policy(req: Request) -> Reply:
    attrs = common.one(req, "rbac_policy", RBAC_POLICY.update_schema)
    networking = req.cloud.networking
    with networking.write() as s:
        row = networking.rbac.get(s, req.context, req.params["policy_id"])
        target = {"project_id": row.project_id}
        req.context.enforce("update_rbac_policy", target)
        if attrs.get("target_tenant") == "*":
            req.context.enforce("update_rbac_policy:target_tenant", target)
        networking.rbac.update(s, req.context, row, attrs)
        return common.show(req, "rbac_policy", render_rbac(row))


@service.route("DELETE", "/v2.0/rbac-policies/{policy_id}")
def delete_rbac_policy(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.write() as s:
        row = networking.rbac.get(s, req.context, req.params["policy_id"])
        req.context.enforce("delete_rbac_policy", {"project_id": row.project_id})
        networking.rbac.delete(s, req.context, row)
    return Reply(204)


# -- quotas -----------------------------------------------------------------------------
QUOTA_UPDATE = {"type": "object", "required": ["quota"], "properties": {"quota": {
    "type": "object", "additionalProperties": False,
    "properties": {**{r: {"type": "integer", "minimum": -1, "maximum": 2 ** 31 - 1}
                      for r in quotas_logic.RESOURCES},
                   "check_limit": {"type": "boolean"}}}}}


def _quota_target(req: Request) -> dict:
    project_id = req.params["project_id"]
    target = {"project_id": project_id}
    if not req.context.can("get_quota", target):
        raise exc.Forbidden("Non-admin is not authorized to access quotas for another "
                            "project")
    return target


@service.route("GET", "/v2.0/quotas")
def list_quotas(req: Request) -> Reply:
    req.context.enforce("update_quota", {"project_id": ""})
    networking = req.cloud.networking
    with networking.read() as s:
        out = []
        for project_id in networking.quotas.projects(s):
            item = networking.quotas.limits(s, project_id)
            item.update(project_id=project_id, tenant_id=project_id)
            out.append(item)
    return Reply(200, {"quotas": out})


@service.route("GET", "/v2.0/quotas/{project_id}")
def show_quota(req: Request) -> Reply:
    _quota_target(req)
    networking = req.cloud.networking
    with networking.read() as s:
        return Reply(200, {"quota": networking.quotas.limits(s, req.params["project_id"])})


@service.route("GET", "/v2.0/quotas/{project_id}/default")
def show_quota_default(req: Request) -> Reply:
    _quota_target(req)
    return Reply(200, {"quota": req.cloud.networking.quotas.defaults()})


@service.route("GET", "/v2.0/quotas/{project_id}/details.json")
def show_quota_details(req: Request) -> Reply:
    _quota_target(req)
    networking = req.cloud.networking
    with networking.read() as s:
        return Reply(200, {"quota": networking.quotas.details(s, req.params["project_id"])})


@service.route("PUT", "/v2.0/quotas/{project_id}")
def update_quota(req: Request) -> Reply:
    body = req.json(QUOTA_UPDATE)
    target = {"project_id": req.params["project_id"]}
    req.context.enforce("update_quota", target)
    networking = req.cloud.networking
    values = dict(body["quota"])
    check_limit = values.pop("check_limit", False)
    with networking.write() as s:
        if check_limit:
            networking.quotas.check_limits(s, req.params["project_id"], values)
        limits = networking.quotas.update(s, req.params["project_id"], values)
    return Reply(200, {"quota": limits})


@service.route("DELETE", "/v2.0/quotas/{project_id}")
def delete_quota(req: Request) -> Reply:
    req.context.enforce("delete_quota", {"project_id": req.params["project_id"]})
    networking = req.cloud.networking
    with networking.write() as s:
        networking.quotas.reset(s, req.params["project_id"])
    return Reply(204)


# -- availability zones -----------------------------------------------------------------
@service.route("GET", "/v2.0/availability_zones")
def list_availability_zones(req: Request) -> Reply:
    req.context.enforce("get_availability_zone")
    zones = req.cloud.networking.agents.availability_zones()
    for key in ("name", "resource", "state"):
        wanted = req.query.getlist(key)
        if wanted:
            zones = [z for z in zones if z[key] in wanted]
    return common.listing(req, "availability_zones", zones, [])


# -- agents -----------------------------------------------------------------------------
HEARTBEAT = {"type": "object", "required": ["agent"], "properties": {"agent": {
    "type": "object", "additionalProperties": False, "required": ["host", "agent_type"],
    "properties": {"host": {"type": "string", "minLength": 1, "maxLength": 255},
                   "agent_type": {"type": "string", "minLength": 1, "maxLength": 255},
                   "binary": {"type": "string", "maxLength": 255},
                   "configurations": {"type": "object"},
                   "availability_zone": {"type": ["string", "null"], "maxLength": 255},
                   "resources_synced": {"type": ["boolean", "null"]},
                   "start_flag": {"type": "boolean"}}}}}


def render_agents(req: Request, rows: list) -> list[dict]:
    return AGENT.render(rows, {"alive": req.cloud.networking.agents.alive(rows)})


def render_agent(req: Request, row, ha_state: str | None = None) -> dict:
    """One agent as the API shows it; ``ha_state`` (active/standby) only in a router's
    ``l3-agents`` list for an HA router."""
    item = render_agents(req, [row])[0]
    item["ha_state"] = ha_state
    return item


@service.route("GET", "/v2.0/agents")
def list_agents(req: Request) -> Reply:
    """The agents; a caller ``get_agent`` does not allow gets an empty list, as
    Neutron filters a list by the per-item policy (Tempest's
    test_list_agents_non_admin), not a 403."""
    if not req.context.can("get_agent"):
        return common.listing(req, "agents", [], None)
    networking = req.cloud.networking
    alive = {to_bool(v, "alive") for v in req.query.getlist("alive")}
    with networking.read() as s:
        rows, links = networking.page(s, AGENT.collection_of,
                                      networking.agents.where(alive=alive), req.query,
                                      req.url("/v2.0/agents"))
        rendered = render_agents(req, rows)
    return common.listing(req, "agents", rendered, links)


@service.route("GET", "/v2.0/agents/{agent_id}")
def show_agent(req: Request) -> Reply:
    req.context.enforce("get_agent")
    networking = req.cloud.networking
    with networking.read() as s:
        row = networking.agents.get(s, req.params["agent_id"])
        return common.show(req, "agent", render_agent(req, row))


@service.route("PUT", "/v2.0/agents/{agent_id}")
def update_agent(req: Request) -> Reply:
    req.context.enforce("update_agent")
    attrs = common.one(req, "agent", AGENT.update_schema)
    networking = req.cloud.networking
    with networking.db.session() as s:
        row = networking.agents.get(s, req.params["agent_id"])
        toggled = row.agent_type == "L3 agent" and "admin_state_up" in attrs \
            and attrs["admin_state_up"] != row.admin_state_up
    if toggled:  # an L3 agent's HA routers leave it or come back: feed changes
        with networking.write() as s:
            row = networking.agents.get(s, req.params["agent_id"])
            networking.agents.update(s, row, attrs)
            s.flush()
            networking.l3_scheduler.agent_toggled(s, row)
            return common.show(req, "agent", render_agent(req, row))
    with networking.db.session() as s:
        row = networking.agents.get(s, req.params["agent_id"])
        networking.agents.update(s, row, attrs)
        s.flush()
        return common.show(req, "agent", render_agent(req, row))


@service.route("DELETE", "/v2.0/agents/{agent_id}")
def delete_agent(req: Request) -> Reply:
    req.context.enforce("delete_agent")
    networking = req.cloud.networking
    with networking.write() as s:  # an L3 agent's routers are unhosted (feed changes)
        networking.agents.delete(s, networking.agents.get(s, req.params["agent_id"]))
    return Reply(204)


@service.route("POST", "/kumo/v1/agents/heartbeat")
def agent_heartbeat(req: Request) -> Reply:
    """The data plane's agent report (Kumo's own API): creates or refreshes the agent."""
    req.context.enforce("kumo:report_agent_state")
    report = req.json(HEARTBEAT)["agent"]
    networking = req.cloud.networking
    agent_id = networking.agents.record_heartbeat(**report)["id"]
    with networking.read() as s:
        row = networking.agents.get(s, agent_id)
        return Reply(200, {"agent": render_agent(req, row), "at": utcnow().isoformat()})


# -- L3 agent scheduler -----------------------------------------------------------------
L3_ROUTER_ADD = {"type": "object", "required": ["router_id"], "properties": {
    "router_id": {"type": "string", "minLength": 1, "maxLength": 36}}}


@service.route("GET", "/v2.0/routers/{router_id}/l3-agents")
def list_l3_agents_hosting_router(req: Request) -> Reply:
    """The L3 agents hosting a router: ``{"agents": [agent]}`` (a legacy router has at
    most one); for an HA router each agent's ``ha_state`` is ``active`` or ``standby``
    as its keepalived last reported (``standby`` until it does), else None."""
    req.context.enforce("get_l3-agents")
    networking = req.cloud.networking
    with networking.read() as s:
        router = networking.routers.get(s, req.context, req.params["router_id"])
        rendered = [render_agent(req, agent, (state or "standby") if router.ha else None)
                    for agent, state in networking.l3_scheduler.bindings(s, router.id)]
    return common.listing(req, "agents", rendered, [])


HA_STATES = {"type": "object", "required": ["host", "states"],
             "additionalProperties": False, "properties": {
                 "host": {"type": "string", "minLength": 1, "maxLength": 255},
                 "states": {"type": "object", "maxProperties": 10000,
                            "additionalProperties": {"enum": ["active", "standby"]}}}}


@service.route("POST", "/kumo/v1/routers/ha_states")
def report_ha_states(req: Request) -> Reply:
    """The L3 agent's report of its HA routers' VRRP states (Kumo's own API, as
    Neutron's ``update_ha_routers_states`` RPC): ``{"host", "states": {router_id:
    "active"|"standby"}}`` -> ``{"updated": n}``. A router turning active has its
    ``qr-``/``qg-`` ports bound to ``host``."""
    req.context.enforce("kumo:report_resource_status")
    body = req.json(HA_STATES)
    networking = req.cloud.networking
    with networking.write() as s:
        n = networking.l3_scheduler.report_ha_states(s, body["host"], body["states"])
    return Reply(200, {"updated": n})


@service.route("GET", "/v2.0/agents/{agent_id}/l3-routers")
def list_routers_on_l3_agent(req: Request) -> Reply:
    """The routers an L3 agent hosts: ``{"routers": [router]}`` (as ``GET
    /v2.0/routers`` renders them)."""
    req.context.enforce("get_l3-routers")
    from kumo.network.api import l3 as l3_api

    networking = req.cloud.networking
    with networking.read() as s:
        agent = networking.l3_scheduler.l3_agent(s, req.params["agent_id"])
        rows = [networking.routers.get(s, req.context, rid)
                for rid in networking.l3_scheduler.routers_of(s, agent.id)]
        rendered = l3_api.render_routers(req, s, rows)
    return common.listing(req, "routers", rendered, [])


@service.route("POST", "/v2.0/agents/{agent_id}/l3-routers")
def add_router_to_l3_agent(req: Request) -> Reply:
    """Host a router on an L3 agent: 201 (body ``null``, as Neutron); 404
    AgentNotFound/InvalidL3Agent/RouterNotFound, 409 RouterHostedByL3Agent."""
    req.context.enforce("create_l3-router")
    body = req.json(L3_ROUTER_ADD)
    networking = req.cloud.networking
    with networking.write() as s:
        agent = networking.l3_scheduler.l3_agent(s, req.params["agent_id"])
        router = networking.routers.get(s, req.context, body["router_id"])
        networking.l3_scheduler.add(s, agent, router)
    return Reply(201, b"null")


@service.route("DELETE", "/v2.0/agents/{agent_id}/l3-routers/{router_id}")
def remove_router_from_l3_agent(req: Request) -> Reply:
    """Stop hosting a router on an L3 agent: 204; 404 AgentNotFound/InvalidL3Agent/
    RouterNotFound, 409 RouterNotHostedByL3Agent."""
    req.context.enforce("delete_l3-router")
    networking = req.cloud.networking
    with networking.write() as s:
        agent = networking.l3_scheduler.l3_agent(s, req.params["agent_id"])
        networking.routers.get(s, req.context, req.params["router_id"])
        networking.l3_scheduler.remove(s, agent, req.params["router_id"])
    return Reply(204)
