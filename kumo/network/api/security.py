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


from kumo.common.http import Reply, Request
from kumo.common.policy import register
from kumo.network import definitions
from kumo.network import security as logic
from kumo.network.api import common, service
from kumo.network.api.networks import taggable
from kumo.network.api.root import register_extension

GROUP, RULE = definitions.SECURITY_GROUP, definitions.SECURITY_GROUP_RULE
register(GROUP.rules() + RULE.rules())

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
    ("security-groups-remote-address-group",
     "Remote address group id field for security group rules",
     "Add new field of remote address group id in security group rules"),
]:
    register_extension(_alias, _name, _desc)

taggable("security-groups", lambda s, ctx, i, net: net.security_groups.get(s, ctx, i))


def _rule_extras(networking, session, rules: list) -> dict:
    return {"default_groups": networking.security_groups.default_ids(
        session, list({r.security_group_id for r in rules}))}


def _group_extras(networking, session, groups: list) -> dict:
    part = networking.security_groups
    ids = [g.id for g in groups]
    return {"tags": networking.tags_of(session, ids), "rules": part.rules_of(session, ids),
            "default_groups": part.default_ids(session, ids)}


render_rules = common.renderer(RULE, _rule_extras)
render = common.renderer(GROUP, _group_extras)


def _ensure_defaults(req: Request) -> None:
    """The reference creates a project's default group when it first lists or shows its
    groups (for an admin filtering on one project, that project's too)."""
    part = req.cloud.networking.security_groups
    part.ensure_default(req.context.project_id)
    wanted = req.query.getlist("project_id") or req.query.getlist("tenant_id")
    if req.context.is_admin and len(wanted) == 1 and wanted[0] != req.context.project_id:
        if req.cloud.networking.project_exists(wanted[0]):
            part.ensure_default(wanted[0])


common.create_route(GROUP, "security-groups", "security_groups", render)
common.list_route(GROUP, "security-groups", "security_groups", render,
                  before=_ensure_defaults)
common.member_routes(GROUP, "security-groups", "security_groups", render,
                     param="group_id", before=_ensure_defaults)

@service.route("POST", "/v2.0/security-group-rules")
def create_security_group_rule(req: Request) -> Reply:
    entries, bulk = common.items(req, "security_group_rule", "security_group_rules",
                                 RULE.create_schema)
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
            rules.append(part.create_rule(s, req.context, RULE.prepare(attrs)))
        s.flush()
        rendered = render_rules(req, s, rules)
    return common.created(req, "security_group_rule", "security_group_rules", rendered,
                          bulk)


common.list_route(RULE, "security-group-rules", "security_groups", render_rules,
                  visible="rules_visible")


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
