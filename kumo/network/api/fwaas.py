"""FWaaS v2 and metering routes (Networking API v2.0 "FWaaS v2.0", "Metering labels
and rules"). Logic: :mod:`kumo.network.fwaas`, :mod:`kumo.network.metering`.

- ``/v2.0/fwaas/firewall_rules``, ``/firewall_policies``, ``/firewall_groups``: the
  standard create (single and bulk), list, show, update, delete;
- ``PUT /v2.0/fwaas/firewall_policies/{id}/insert_rule`` (``{"firewall_rule_id",
  "insert_before", "insert_after"}``) and ``.../remove_rule`` (``{"firewall_rule_id"}``)
  answer the policy (not wrapped, as Neutron's member actions);
- ``/v2.0/metering/metering-labels`` and ``/metering-label-rules``: create, list,
  show, delete (labels also update ``name``/``description``), admin-only;
- ``/v2.0/log/logs`` (create, list, show, update, delete) and ``GET
  /v2.0/log/loggable-resources``, admin-only.
"""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.network.api import common, service
from kumo.network.api.root import register_extension
from kumo.network.definitions_fwaas import (FIREWALL_GROUP, FIREWALL_POLICY,
                                            FIREWALL_RULE, LOG, METERING_LABEL,
                                            METERING_LABEL_RULE)
from kumo.network.logging_service import LOGGABLE

register(FIREWALL_RULE.rules() + FIREWALL_POLICY.rules() + FIREWALL_GROUP.rules()
         + METERING_LABEL.rules() + METERING_LABEL_RULE.rules() + LOG.rules()
         + [RuleDefault("get_loggable_resource", "rule:admin")])

for _alias, _name, _desc in [
    ("fwaas_v2", "Firewall service v2", "Extension for Firewall service v2"),
    ("metering", "Neutron Metering", "Neutron Metering extension."),
    ("logging", "Logging API Extension", "Provides a logging API for resources."),
    ("metering_source_and_destination_fields",
     "Neutron Metering with source and destination filtering",
     "Neutron Metering extension that enables the use of source and destination IP "
     "prefixes to create metering label rules."),
]:
    register_extension(_alias, _name, _desc)


def _loader(part_name: str):
    def load(networking, session, rows):
        return networking.parts[part_name].extras(session, rows)
    return load


_ROUTES = [(FIREWALL_RULE, "fwaas/firewall_rules", "firewall_rules", True),
           (FIREWALL_POLICY, "fwaas/firewall_policies", "firewall_policies", True),
           (FIREWALL_GROUP, "fwaas/firewall_groups", "firewall_groups", True),
           (METERING_LABEL, "metering/metering-labels", "metering_labels", False),
           (METERING_LABEL_RULE, "metering/metering-label-rules", "metering_label_rules",
            False),
           (LOG, "log/logs", "logs", False)]
RENDER = {}
for _def, _path, _part, _extras in _ROUTES:
    RENDER[_part] = common.renderer(_def, _loader(_part) if _extras else None)
    common.create_route(_def, _path, _part, RENDER[_part])
    common.list_route(_def, _path, _part, RENDER[_part])
    common.member_routes(_def, _path, _part, RENDER[_part])

RULE_ACTION = {"type": "object", "additionalProperties": False,
               "properties": {"firewall_rule_id": {"type": ["string", "null"]},
                              "insert_before": {"type": ["string", "null"]},
                              "insert_after": {"type": ["string", "null"]}}}


def _rule_action(action: str):
    def handler(req: Request) -> Reply:
        body = req.json(RULE_ACTION)
        networking = req.cloud.networking
        with networking.write() as s:
            part = networking.firewall_policies
            row = part.get(s, req.context, req.params["firewall_policy_id"])
            req.context.enforce(action, {"project_id": row.project_id})
            getattr(part, action)(s, req.context, row, body)
            s.flush()
            item = RENDER["firewall_policies"](req, s, [row])[0]
        return Reply(200, item)
    handler.__name__ = action
    service.route("PUT", f"/v2.0/fwaas/firewall_policies/{{firewall_policy_id}}/{action}")(
        handler)


_rule_action("insert_rule")
_rule_action("remove_rule")


@service.route("GET", "/v2.0/log/loggable-resources")
def list_loggable_resources(req: Request) -> Reply:
    """The resource types Kumo realizes logs for (``[{"type": ...}]``)."""
    req.context.enforce("get_loggable_resource", {"project_id": req.context.project_id})
    return Reply(200, {"loggable_resources": [{"type": t} for t in LOGGABLE]})
