"""Tap-as-a-Service over HTTP (the tap-as-a-service project's ``taas`` extension):
``/v2.0/taas/tap_services[/{id}]`` and ``/v2.0/taas/tap_flows[/{id}]``, each with
create (single and bulk), list (filters, sorting, paging), show, update (``name``,
``description``) and delete. Errors in Neutron's fault format: 404
``TapServiceNotFound``/``TapFlowNotFound``/``PortNotFound``, 403
``PortDoesNotBelongToTenant``/``TapServiceNotBelongToTenant``, 409
``InUse`` for a port that already is a tap service's (upstream TaaS has no such
check; Kumo gives a service port one VXLAN id), 400 for a bad direction, a ``vlan_filter`` or a
flow from the service's own port. The logic is :mod:`kumo.network.taas`.
"""
from __future__ import annotations

from kumo.common.policy import register
from kumo.network.api import common
from kumo.network.api.root import register_extension
from kumo.network.definitions_taas import TAP_FLOW, TAP_SERVICE

register(TAP_SERVICE.rules() + TAP_FLOW.rules())
register_extension("taas", "Neutron Tap as a Service",
                   "Neutron Tap as a Service Extension.")


def _services(networking, session, rows):
    return networking.taas.service_extras(session, rows)


def _flows(networking, session, rows):
    return networking.taas.flow_extras(session, rows)


render_service = common.renderer(TAP_SERVICE, _services)
render_flow = common.renderer(TAP_FLOW, _flows)
for _def, _path, _part, _render in ((TAP_SERVICE, "taas/tap_services", "taas",
                                     render_service),
                                    (TAP_FLOW, "taas/tap_flows", "tap_flows",
                                     render_flow)):
    common.create_route(_def, _path, _part, _render)
    common.list_route(_def, _path, _part, _render)
    common.member_routes(_def, _path, _part, _render)
