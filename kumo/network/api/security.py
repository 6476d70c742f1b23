"""Security groups and rules (Networking API v2.0: "Security groups (security-groups)",
"Security group rules (security-group-rules)"). Logic: :mod:`kumo.network.security`.

- ``GET/POST /v2.0/security-groups``, ``GET/PUT/DELETE /v2.0/security-groups/{id}``:
  ``{"security_group": {id, name, description, project_id, tenant_id, stateful,
  security_group_rules: [...], tags, created_at, updated_at, revision_number}}``;
- ``GET/POST /v2.0/security-group-rules`` (bulk ``security_group_rules`` too),
  ``GET/DELETE /v2.0/security-group-rules/{id}``: ``{"security_group_rule": {id,
  security_group_id, direction, ethertype, protocol, port_range_min, port_range_max,
  remote_ip_prefix, normalized_cidr, remote_group_id, belongs_to_default_sg,
  description, project_id, tenant_id, created_at, updated_at, revision_number}}``.

Errors: 404 SecurityGroupNotFound / SecurityGroupRuleNotFound (also for other projects'
groups), 409 SecurityGroupRuleExists, SecurityGroupInUse,
SecurityGroupCannotRemoveDefault, OverQuota; 400 for invalid rules.
"""
from __future__ import annotations


from kumo.common import exceptions as exc
from kumo.common.collection import Collection
from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.common.timeutils import isotime
from kumo.network import security as logic
from kumo.network.api import common, service
from kumo.network.api.networks import taggable
from kumo.network.api.root import register_extension
from kumo.network.manager import tag_filter

MEMBER = "rule:admin or rule:project_member"
ADMIN = "rule:admin"

register([
    RuleDefault("create_security_group", MEMBER),
    RuleDefault("get_security_group", "@"),  # visibility is enforced by the query
    RuleDefault("update_security_group", MEMBER),
    RuleDefault("delete_security_group", MEMBER),
    RuleDefault("create_security_group_rule", MEMBER),
    RuleDefault("get_security_group_rule", "@"),
    RuleDefault("delete_security_group_rule", MEMBER),
    RuleDefault("create_security_group:project_id", ADMIN),
])

for _alias, _name, _desc in [
    ("security-group", "security-group", "The security groups extension."),
    ("stateful-security-group", "Stateful security group",
     "Indicates if the security group is stateful or not"),
    ("security-groups-normalized-cidr", "Normalized CIDR field for security group rules",
     "Add new field with normalized remote_ip_prefix cidr in SG rule"),
    ("security-groups-rules-belongs-to-default-sg",
     "Security group rule belongs to the project's default security group",
     "Flag to determine if the security group rule belongs to the project's default "
     "security group"),
]:
    register_extension(_alias, _name, _desc)

STRING = {"type": ["string", "null"], "maxLength": 255}
GROUP_PROPS = {"name": STRING, "description": STRING, "stateful": {"type": "boolean"},
               "project_id": {"type": "string"}, "tenant_id": {"type": "string"},
               "tags": {"type": "array", "items": {"type": "string"}}}
GROUP_CREATE = {"type": "object", "properties": GROUP_PROPS, "additionalProperties": False}
GROUP_UPDATE = {"type": "object", "additionalProperties": False, "properties": {
    k: GROUP_PROPS[k] for k in ("name", "description", "stateful")}}
PORT = {"type": ["integer", "string", "null"]}
RULE_CREATE = {
    "type": "object", "additionalProperties": False,
    "required": ["security_group_id", "direction"],
    "properties": {
        "security_group_id": {"type": "string"},
        "direction": {"enum": ["ingress", "egress"]},
        "ethertype": {"type": ["string", "null"]},
        "protocol": {"type": ["string", "integer", "null"]},
        "port_range_min": PORT, "port_range_max": PORT,
        "remote_ip_prefix": {"type": ["string", "null"]},
        "remote_group_id": {"type": ["string", "null"]},
        "remote_address_group_id": {"type": "null"},
        "description": STRING,
        "project_id": {"type": "string"}, "tenant_id": {"type": "string"}}}

SG = logic.SG
RULE = logic.RULE
GROUPS = Collection(
    "security_groups", SG,
    columns={"id": SG.id, "name": SG.name, "description": SG.description,
             "project_id": SG.project_id, "tenant_id": SG.project_id,
             "stateful": SG.stateful, "revision_number": SG.revision_number,
             "created_at": SG.created_at, "updated_at": SG.updated_at},
    booleans=("stateful",), integers=("revision_number",),
    sortable=("id", "name", "project_id", "tenant_id", "created_at", "updated_at",
              "stateful", "revision_number"),
    tags=tag_filter(SG))
RULES = Collection(
    "security_group_rules", RULE,
    columns={"id": RULE.id, "security_group_id": RULE.security_group_id,
             "direction": RULE.direction, "ethertype": RULE.ethertype,
             "protocol": RULE.protocol, "port_range_min": RULE.port_range_min,
             "port_range_max": RULE.port_range_max,
             "remote_ip_prefix": RULE.remote_ip_prefix,
             "remote_group_id": RULE.remote_group_id, "description": RULE.description,
             "project_id": RULE.project_id, "tenant_id": RULE.project_id,
             "revision_number": RULE.revision_number, "created_at": RULE.created_at,
             "updated_at": RULE.updated_at},
    integers=("port_range_min", "port_range_max", "revision_number"),
    sortable=("id", "security_group_id", "direction", "ethertype", "protocol",
              "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id",
              "project_id", "tenant_id", "created_at", "updated_at"))

taggable("security-groups", lambda s, ctx, i, net: net.security_groups.get(s, ctx, i))


def render_rule(rule, default_groups: set[str]) -> dict:
    return {"id": rule.id, "project_id": rule.project_id, "tenant_id": rule.project_id,
            "security_group_id": rule.security_group_id, "direction": rule.direction,
            "ethertype": rule.ethertype, "protocol": rule.protocol,
            "port_range_min": rule.port_range_min, "port_range_max": rule.port_range_max,
            "remote_ip_prefix": rule.remote_ip_prefix,
            "normalized_cidr": rule.remote_ip_prefix,
            "remote_group_id": rule.remote_group_id,
            "belongs_to_default_sg": rule.security_group_id in default_groups,
            "description": rule.description,
            "created_at": isotime(rule.created_at, subsecond=False),
            "updated_at": isotime(rule.updated_at, subsecond=False),
            "revision_number": rule.revision_number}


def render_rules(req: Request, session, rules: list) -> list[dict]:
    defaults = req.cloud.networking.security_groups.default_ids(
        session, list({r.security_group_id for r in rules}))
    return [render_rule(r, defaults) for r in rules]


def render(req: Request, session, groups: list) -> list[dict]:
    part = req.cloud.networking.security_groups
    ids = [g.id for g in groups]
    tags = req.cloud.networking.tags_of(session, ids)
    rules = part.rules_of(session, ids)
    defaults = part.default_ids(session, ids)
    out = []
    for g in groups:
        item = common.standard(g, tags[g.id])
        item["stateful"] = g.stateful
        item["security_group_rules"] = [render_rule(r, defaults) for r in rules[g.id]]
        out.append(item)
    return out


def _ensure_defaults(req: Request) -> None:
    """The reference creates a project's default group when it first lists or shows its
    groups (for an admin filtering on one project, that project's too)."""
    part = req.cloud.networking.security_groups
    part.ensure_default(req.context.project_id)
    wanted = req.query.getlist("project_id") or req.query.getlist("tenant_id")
    if req.context.is_admin and len(wanted) == 1 and wanted[0] != req.context.project_id:
        if req.cloud.networking.project_exists(wanted[0]):
            part.ensure_default(wanted[0])


common.create_route("security-groups", "security_group", "security_groups", GROUP_CREATE,
                    "security_groups", render)


common.list_route("security-groups", "security_groups", "security_groups", GROUPS,
                  render, before=_ensure_defaults)


common.member_routes("security_group", "security-groups", "security_groups", render,
                     GROUP_UPDATE, param="group_id", before=_ensure_defaults)

def _ports(attrs: dict) -> dict:
    for key in ("port_range_min", "port_range_max"):
        value = attrs.get(key)
        if isinstance(value, str):
            try:
                attrs[key] = int(value)
            except ValueError:
                raise exc.BadRequest(f"Invalid input for {key}. Reason: '{value}' is not "
                                     "an integer.") from None
    return attrs


@service.route("POST", "/v2.0/security-group-rules")
def create_security_group_rule(req: Request) -> Reply:
    entries, bulk = common.items(req, "security_group_rule", "security_group_rules",
                                 RULE_CREATE)
    networking = req.cloud.networking
    part = networking.security_groups
    if bulk and len({e["security_group_id"] for e in entries}) > 1:
        raise logic.nexc.SecurityGroupNotSingleGroupRules()
    with networking.write() as s:
        rules = []
        for attrs in entries:
            group = part.get(s, req.context, attrs["security_group_id"])
            req.context.enforce("create_security_group_rule",
                                {"project_id": group.project_id})
            rules.append(part.create_rule(s, req.context, _ports(attrs)))
        s.flush()
        rendered = render_rules(req, s, rules)
    return common.created(req, "security_group_rule", "security_group_rules", rendered,
                          bulk)


common.list_route("security-group-rules", "security_group_rules", "security_groups",
                  RULES, render_rules, visible="rules_visible")


@service.route("GET", "/v2.0/security-group-rules/{rule_id}")
def show_security_group_rule(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.read() as s:
        row = networking.security_groups.get_rule(s, req.context, req.params["rule_id"])
        item = render_rules(req, s, [row])[0]
    return common.show(req, "security_group_rule", item)


@service.route("DELETE", "/v2.0/security-group-rules/{rule_id}")
def delete_security_group_rule(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.write() as s:
        row = networking.security_groups.get_rule(s, req.context, req.params["rule_id"])
        req.context.enforce("delete_security_group_rule", {"project_id": row.project_id})
        networking.security_groups.delete_rule(s, req.context, row)
    return Reply(204)
