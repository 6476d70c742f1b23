"""QoS resources as data (Networking API v2.0 "QoS"): policies and the four rule
types, and the ``qos_policy_id`` attributes of networks, ports, floating IPs and
routers (see :mod:`kumo.network.definitions`; logic in :mod:`kumo.network.qos`).

Policy defaults are Neutron's: policies and rules are created, changed and deleted by
admins; anyone sees the policies visible to them (own, shared, RBAC-granted).
"""
from __future__ import annotations

from kumo.common.resource import (BOOLEAN, EXACT, INTEGER, Attr, Resource,
                                  standard, to_int)
from kumo.network.manager import tag_filter
from kumo.network.models import qos as models
from kumo.network.qos import rule_dict

ADMIN = "rule:admin"
ANY = "@"
BOOL = {"type": "boolean"}
KBPS = {"type": ["integer", "string"]}
DIRECTION = {"enum": ["ingress", "egress"]}
POLICY_ID = {"type": ["string", "null"], "maxLength": 36}


def qos_policy_id(**kw) -> Attr:
    """The ``qos_policy_id`` of a network, port or floating IP (rendered from the
    extras ``qos_policy_id``: id -> policy id)."""
    return Attr("qos_policy_id", POLICY_ID, create=True, update=True,
                render=lambda r, x: x.get("qos_policy_id", {}).get(r.id), **kw)


def _nonneg(name: str):
    convert = to_int(name)

    def check(value):
        value = convert(value)
        if value is not None and not 0 <= value <= 2 ** 31 - 1:
            from kumo.common import exceptions as exc
            raise exc.BadRequest(f"Invalid input for {name}. Reason: '{value}' is not in "
                                 f"range 0 through {2 ** 31 - 1}.")
        return value
    return check


QP, QR = models.QosPolicy, models.QosRule
POLICY_ACTIONS = {"create": ADMIN, "get": ANY, "update": ADMIN, "delete": ADMIN}
QOS_POLICY = Resource(
    "policy", "policies", QP, tags=tag_filter(QP),
    actions=POLICY_ACTIONS,
    attrs=standard(revision_sort=True) + [
        Attr("shared", BOOL, create=True, update=True, default=False, column="shared",
             filter=BOOLEAN, sort=True),
        Attr("is_default", BOOL, create=True, update=True, default=False,
             column="is_default", filter=BOOLEAN, sort=True),
        Attr("rules", render=lambda r, x: [rule_dict(q) for q in
                                           x["rules"].get(r.id, [])]),
    ])


def _rule(name: str, attrs: list[Attr]) -> Resource:
    return Resource(
        f"policy_{name}", f"{name}s", QR,
        actions={"create": ADMIN, "get": ANY, "update": ADMIN, "delete": ADMIN},
        attrs=[Attr("id", column="id", filter=EXACT, sort=True)] + attrs)


BANDWIDTH_LIMIT_RULE = _rule("bandwidth_limit_rule", [
    Attr("max_kbps", KBPS, create=True, update=True, required=True, column="max_kbps",
         filter=INTEGER, sort=True, convert=_nonneg("max_kbps")),
    Attr("max_burst_kbps", KBPS, create=True, update=True, default=0,
         column="max_burst_kbps", filter=INTEGER, sort=True,
         convert=_nonneg("max_burst_kbps")),
    Attr("direction", DIRECTION, create=True, update=True, default="egress",
         column="direction", filter=EXACT, sort=True),
])
DSCP_MARKING_RULE = _rule("dscp_marking_rule", [
    Attr("dscp_mark", {"type": ["integer", "string"]}, create=True, update=True,
         required=True, column="dscp_mark", filter=INTEGER, sort=True,
         convert=to_int("dscp_mark")),
])
MINIMUM_BANDWIDTH_RULE = _rule("minimum_bandwidth_rule", [
    Attr("min_kbps", KBPS, create=True, update=True, required=True, column="min_kbps",
         filter=INTEGER, sort=True, convert=_nonneg("min_kbps")),
    Attr("direction", DIRECTION, create=True, update=True, default="egress",
         column="direction", filter=EXACT, sort=True),
])

PACKET_RATE_LIMIT_RULE = _rule("packet_rate_limit_rule", [
    Attr("max_kpps", KBPS, create=True, update=True, required=True, column="max_kpps",
         filter=INTEGER, sort=True, convert=_nonneg("max_kpps")),
    Attr("max_burst_kpps", KBPS, create=True, update=True, default=0,
         column="max_burst_kpps", filter=INTEGER, sort=True,
         convert=_nonneg("max_burst_kpps")),
    Attr("direction", DIRECTION, create=True, update=True, default="egress",
         column="direction", filter=EXACT, sort=True),
])

#: rule type -> its definition
RULES = {"bandwidth_limit": BANDWIDTH_LIMIT_RULE, "dscp_marking": DSCP_MARKING_RULE,
         "minimum_bandwidth": MINIMUM_BANDWIDTH_RULE,
         "packet_rate_limit": PACKET_RATE_LIMIT_RULE}
#: The QoS definitions by collection (merged into :data:`kumo.network.definitions.ALL`).
ALL = {"policies": QOS_POLICY}
