"""The data plane's status reports under ``/networking/kumo/v1`` (Kumo's own API, admin
only): status flows back north from the per-host agent.

- ``POST /kumo/v1/ports/{port_id}/status`` ``{"status": "ACTIVE"|"DOWN"|"ERROR"}`` -> 200
  ``{"port": {"id", "status"}}``; 404 PortNotFound, 400 for another status.
- ``POST /kumo/v1/floatingips/{floatingip_id}/status`` ``{"status": "ACTIVE"|"DOWN"|
  "ERROR"}`` -> 200 ``{"floatingip": {"id", "status"}}``; 404 FloatingIPNotFound.

Logic: :meth:`kumo.network.ports.Ports.set_status`,
:meth:`kumo.network.floatingips.FloatingIPs.set_status`. A status that changes appends a
change to the feed (the agent sees it and finds nothing to do).
"""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.network.api import service

register([RuleDefault("kumo:report_resource_status", "rule:admin_or_service")])

PORT_STATUS = {"type": "object", "additionalProperties": False, "required": ["status"],
               "properties": {"status": {"enum": ["ACTIVE", "DOWN", "ERROR"]}}}
FIP_STATUS = {"type": "object", "additionalProperties": False, "required": ["status"],
              "properties": {"status": {"enum": ["ACTIVE", "DOWN", "ERROR"]}}}


@service.route("POST", "/kumo/v1/ports/{port_id}/status")
def report_port_status(req: Request) -> Reply:
    """Set a port's ``status`` as the agent of its host realized it."""
    req.context.enforce("kumo:report_resource_status")
    status = req.json(PORT_STATUS)["status"]
    networking = req.cloud.networking
    with networking.write() as s:
        networking.ports.set_status(s, req.params["port_id"], status)
    return Reply(200, {"port": {"id": req.params["port_id"], "status": status}})


@service.route("POST", "/kumo/v1/floatingips/{floatingip_id}/status")
def report_floatingip_status(req: Request) -> Reply:
    """Set a floating IP's ``status`` as the L3 agent realized it."""
    req.context.enforce("kumo:report_resource_status")
    status = req.json(FIP_STATUS)["status"]
    networking = req.cloud.networking
    with networking.write() as s:
        networking.floatingips.set_status(s, req.params["floatingip_id"], status)
    return Reply(200, {"floatingip": {"id": req.params["floatingip_id"], "status": status}})
