"""Definitions of the port forwarding, DNS and auto-allocated topology resources
(:mod:`kumo.network.definitions` holds the core ones; this module is imported by their
API modules). Policy names and defaults as Neutron's."""
from __future__ import annotations

from kumo.common.resource import EXACT, INTEGER, STRING, Attr, Resource
from kumo.network.models import fwd

MEMBER = "rule:admin or rule:project_member"
READER = "rule:admin or rule:project_reader"
PORT = {"type": ["integer", "string"]}
RANGE = {"type": ["string", "integer"]}


def _single(side: str):
    def render(row, extras):
        first, last = getattr(row, f"{side}_port_start"), getattr(row, f"{side}_port_end")
        return first if first == last else None
    return render


def _range(side: str):
    def render(row, extras):
        return f"{getattr(row, f'{side}_port_start')}:{getattr(row, f'{side}_port_end')}"
    return render


PF = fwd.PortForwarding
#: ``/v2.0/floatingips/{floatingip_id}/port_forwardings`` (policy target: the floating
#: IP's project).
PORT_FORWARDING = Resource(
    "floatingip_port_forwarding", "port_forwardings", PF,
    actions={"create": MEMBER, "get": READER, "update": MEMBER, "delete": MEMBER},
    attrs=[
        Attr("id", column="id", filter=EXACT, sort=True),
        Attr("external_port", PORT, create=True, update=True,
             column="external_port_start", filter=INTEGER, sort=True,
             render=_single("external")),
        Attr("internal_port", PORT, create=True, update=True,
             column="internal_port_start", sort=True, render=_single("internal")),
        Attr("internal_ip_address", {"type": "string", "maxLength": 64}, create=True,
             update=True, column="internal_ip_address", filter=EXACT, sort=True),
        Attr("protocol", {"type": "string", "enum": ["tcp", "udp"]}, create=True,
             update=True, column="protocol", filter=EXACT, sort=True),
        Attr("internal_port_id", {"type": "string", "maxLength": 36}, create=True,
             update=True, column="internal_port_id", filter=EXACT, sort=True),
        Attr("description", STRING, create=True, update=True, column="description",
             filter=EXACT),
        Attr("external_port_range", RANGE, create=True, update=True,
             render=_range("external")),
        Attr("internal_port_range", RANGE, create=True, update=True,
             render=_range("internal")),
    ])
