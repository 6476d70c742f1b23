"""Definitions of the Tap-as-a-Service and trunk resources (:mod:`kumo.network.taas`,
:mod:`kumo.network.trunks`); their API modules import them. Policy defaults: TaaS's
(owner or admin), Neutron's for trunks."""
from __future__ import annotations

from kumo.common.resource import EXACT, Attr, Resource, extra, standard
from kumo.network.models import taas

MEMBER = "rule:admin or rule:project_member"
READER = "rule:admin or rule:project_reader"
UUID = {"type": "string", "maxLength": 36}
#: TaaS's range string: ``9,18-27,36``.
VLAN_RANGES = {"type": ["string", "null"], "maxLength": 1024,
               "pattern": r"^([0-9]+(-[0-9]+)?)(,([0-9]+(-[0-9]+)?))*$"}


def _status(row, extras):
    return extras["status"].get(row.id, "DOWN")


TAP_SERVICE = Resource(
    "tap_service", "tap_services", taas.TapService,
    actions={"create": MEMBER, "get": READER, "update": MEMBER, "delete": MEMBER},
    attrs=standard(tags=False) + [
        Attr("port_id", UUID, create=True, required=True, column="port_id",
             filter=EXACT, sort=True),
        Attr("status", render=_status),
    ])

TAP_FLOW = Resource(
    "tap_flow", "tap_flows", taas.TapFlow,
    actions={"create": MEMBER, "get": READER, "update": MEMBER, "delete": MEMBER},
    attrs=standard(tags=False) + [
        Attr("tap_service_id", UUID, create=True, required=True, column="tap_service_id",
             filter=EXACT, sort=True),
        Attr("source_port", UUID, create=True, required=True, column="source_port",
             filter=EXACT, sort=True),
        Attr("direction", {"type": "string", "enum": ["IN", "OUT", "BOTH"]}, create=True,
             required=True, column="direction", filter=EXACT, sort=True),
        Attr("vlan_filter", VLAN_RANGES, create=True, column="vlan_filter"),
        Attr("status", render=_status),
    ])

ALL: dict[str, Resource] = {r.collection: r for r in (TAP_SERVICE, TAP_FLOW)}
