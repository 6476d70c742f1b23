"""Definitions of the Tap-as-a-Service and trunk resources (:mod:`kumo.network.taas`,
:mod:`kumo.network.trunks`); their API modules import them. Policy defaults: TaaS's
(owner or admin), Neutron's for trunks."""
from __future__ import annotations

from kumo.common.resource import BOOLEAN, EXACT, Attr, Resource, extra, standard
from kumo.network.manager import tag_filter
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


# -- trunks ---------------------------------------------------------------------------
def _trunk_status(row, extras):
    return extras["status"].get(row.id, "DOWN")


SUB_PORT = {"type": "object", "required": ["port_id"],
            "properties": {"port_id": UUID,
                           "segmentation_type": {"type": "string", "maxLength": 32},
                           "segmentation_id": {"type": ["integer", "string"]}}}
TRUNK = Resource(
    "trunk", "trunks", taas.Trunk, tags=tag_filter(taas.Trunk),
    actions={"create": MEMBER, "get": READER, "update": MEMBER, "delete": MEMBER,
             "add_subports": MEMBER, "remove_subports": MEMBER, "get_subports": READER},
    attrs=standard() + [
        Attr("admin_state_up", {"type": "boolean"}, create=True, update=True,
             column="admin_state_up", filter=BOOLEAN, sort=True),
        Attr("port_id", UUID, create=True, required=True, column="port_id",
             filter=EXACT, sort=True),
        Attr("status", render=_trunk_status),
        Attr("sub_ports", {"type": "array", "items": SUB_PORT}, create=True,
             render=extra("sub_ports")),
    ])
ALL[TRUNK.collection] = TRUNK
