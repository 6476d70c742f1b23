"""FWaaS v2 and metering resources as data (Networking API v2.0 "FWaaS v2.0",
"Metering labels and rules"); logic in :mod:`kumo.network.fwaas` and
:mod:`kumo.network.metering`.

These resources carry no standard attributes in Neutron (no timestamps, revision or
tags): only ``id``, ``name``, ``description``, ``project_id``/``tenant_id`` besides
their own; network logs have them (no tags). Policy defaults are Neutron's: firewall
objects are their project members' (``shared`` only by admins); metering and logs are
admin-only.
"""
from __future__ import annotations

from kumo.common.resource import (BOOLEAN, EXACT, INTEGER, STRING, Attr, Resource, extra,
                                  standard)
from kumo.network.models import fwaas as models

ADMIN = "rule:admin"
MEMBER = "rule:admin or rule:project_member"
ANY = "@"
BOOL = {"type": "boolean"}
ID = {"type": ["string", "null"], "maxLength": 36}
IDS = {"type": "array", "items": {"type": "string", "maxLength": 36}}
PORT = {"type": ["string", "integer", "null"]}
ADDRESS = {"type": ["string", "null"], "maxLength": 64}


def _base(project_rule: str = ADMIN, *, name: bool = True) -> list[Attr]:
    attrs = [Attr("id", column="id", filter=EXACT, sort=True)]
    if name:
        attrs += [Attr("name", STRING, create=True, update=True, column="name",
                       filter=EXACT, sort=True),
                  Attr("description", STRING, create=True, update=True,
                       column="description", filter=EXACT)]
    return attrs + [
        Attr("project_id", {"type": "string"}, create=project_rule, column="project_id",
             filter=EXACT, sort=True),
        Attr("tenant_id", {"type": "string"}, create=project_rule, column="project_id",
             filter=EXACT, sort=True)]


def _shared() -> Attr:
    return Attr("shared", BOOL, create=ADMIN, update=ADMIN, column="shared",
                filter=BOOLEAN, sort=True)


ACTIONS = {"create": MEMBER, "get": ANY, "update": MEMBER, "delete": MEMBER}

FIREWALL_RULE = Resource(
    "firewall_rule", "firewall_rules", models.FirewallRule, actions=ACTIONS,
    attrs=_base() + [
        Attr("protocol", {"type": ["string", "integer", "null"]}, create=True,
             update=True, column="protocol", filter=EXACT, sort=True),
        Attr("ip_version", {"type": ["integer", "string"], "enum": [4, 6, "4", "6"]},
             create=True, update=True, column="ip_version", filter=INTEGER, sort=True,
             convert=int),
        Attr("source_ip_address", ADDRESS, create=True, update=True,
             column="source_ip_address", filter=EXACT),
        Attr("destination_ip_address", ADDRESS, create=True, update=True,
             column="destination_ip_address", filter=EXACT),
        Attr("source_port", PORT, create=True, update=True, column="source_port",
             filter=EXACT),
        Attr("destination_port", PORT, create=True, update=True,
             column="destination_port", filter=EXACT),
        Attr("action", {"type": ["string", "null"]}, create=True, update=True,
             column="action", filter=EXACT, sort=True),
        Attr("enabled", BOOL, create=True, update=True, column="enabled",
             filter=BOOLEAN, sort=True),
        _shared(),
        Attr("firewall_policy_id", render=extra("policies")),
        Attr("source_firewall_group_id", render=lambda r, x: None),
        Attr("destination_firewall_group_id", render=lambda r, x: None),
    ])

FIREWALL_POLICY = Resource(
    "firewall_policy", "firewall_policies", models.FirewallPolicy,
    actions={**ACTIONS, "insert_rule": MEMBER, "remove_rule": MEMBER},
    attrs=_base() + [
        Attr("firewall_rules", IDS, create=True, update=True, render=extra("rules")),
        Attr("audited", BOOL, create=True, update=True, column="audited",
             filter=BOOLEAN, sort=True),
        _shared(),
    ])

FIREWALL_GROUP = Resource(
    "firewall_group", "firewall_groups", models.FirewallGroup, actions=ACTIONS,
    attrs=_base() + [
        Attr("ingress_firewall_policy_id", ID, create=True, update=True,
             column="ingress_firewall_policy_id", filter=EXACT, sort=True),
        Attr("egress_firewall_policy_id", ID, create=True, update=True,
             column="egress_firewall_policy_id", filter=EXACT, sort=True),
        Attr("ports", IDS, create=True, update=True, render=extra("ports")),
        Attr("admin_state_up", BOOL, create=True, update=True, column="admin_state_up",
             filter=BOOLEAN, sort=True),
        Attr("status", column="status", filter=EXACT, sort=True),
        _shared(),
    ])

METERING_ACTIONS = {"create": ADMIN, "get": ADMIN, "update": ADMIN, "delete": ADMIN}
METERING_LABEL = Resource(
    "metering_label", "metering_labels", models.MeteringLabel, actions=METERING_ACTIONS,
    attrs=_base() + [
        Attr("shared", BOOL, create=True, column="shared", filter=BOOLEAN, sort=True),
    ])

PREFIX = {"type": ["string", "null"], "maxLength": 64}
METERING_LABEL_RULE = Resource(
    "metering_label_rule", "metering_label_rules", models.MeteringLabelRule,
    actions=METERING_ACTIONS,
    attrs=_base(name=False) + [
        Attr("metering_label_id", {"type": "string"}, create=True, required=True,
             column="metering_label_id", filter=EXACT, sort=True),
        Attr("direction", {"enum": ["ingress", "egress"]}, create=True, required=True,
             column="direction", filter=EXACT, sort=True),
        Attr("excluded", BOOL, create=True, column="excluded", filter=BOOLEAN, sort=True),
        Attr("remote_ip_prefix", PREFIX, create=True, column="remote_ip_prefix",
             filter=EXACT),
        Attr("source_ip_prefix", PREFIX, create=True, column="source_ip_prefix",
             filter=EXACT),
        Attr("destination_ip_prefix", PREFIX, create=True,
             column="destination_ip_prefix", filter=EXACT),
    ])

LOG = Resource(
    "log", "logs", models.Log, actions=METERING_ACTIONS,
    attrs=standard(tags=False) + [
        Attr("resource_type", {"type": "string", "maxLength": 36}, create=True,
             required=True, column="resource_type", filter=EXACT, sort=True),
        Attr("resource_id", ID, create=True, column="resource_id", filter=EXACT,
             sort=True),
        Attr("target_id", ID, create=True, column="target_id", filter=EXACT, sort=True),
        Attr("event", {"type": "string", "enum": ["ACCEPT", "DROP", "ALL"]}, create=True,
             column="event", filter=EXACT, sort=True),
        Attr("enabled", BOOL, create=True, update=True, column="enabled",
             filter=BOOLEAN, sort=True),
    ])

ALL: dict[str, Resource] = {r.collection: r for r in (
    FIREWALL_RULE, FIREWALL_POLICY, FIREWALL_GROUP, METERING_LABEL, METERING_LABEL_RULE,
    LOG)}
