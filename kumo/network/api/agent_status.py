"""The data plane's status reports under ``/networking/kumo/v1`` (Kumo's own API, admin
only): status flows back north from the per-host agent.

- ``POST /kumo/v1/ports/{port_id}/status`` ``{"status": "ACTIVE"|"DOWN"|"ERROR"}`` -> 200
  ``{"port": {"id", "status"}}``; 404 PortNotFound, 400 for another status.
- ``POST /kumo/v1/floatingips/{floatingip_id}/status`` ``{"status": "ACTIVE"|"DOWN"|
  "ERROR"}`` -> 200 ``{"floatingip": {"id", "status"}}``; 404 FloatingIPNotFound.
- ``POST /kumo/v1/ports/status`` ``{"ports": [{"id", "status"}, ...]}`` (at most
  :data:`MAX_BATCH`) -> 200 ``{"ports": [{"id", "status"}...], "not_found": [id...]}``:
  many reports in one transaction; ids that do not exist (a port deleted while its
  report was on the way) are listed, not an error. ``POST /kumo/v1/floatingips/status``
  ``{"floatingips": [...]}`` likewise.

Logic: :mod:`kumo.network.status`. A report is one short transaction of its own: it
takes no ``network`` revision row, so it never waits behind tenants' writes, and it
appends no change to the feed (a status is observed state, not desired state).
"""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.network.api import service

register([RuleDefault("kumo:report_resource_status", "rule:admin_or_service")])

#: Reports per batch request.
MAX_BATCH = 5000
_STATUS = {"enum": ["ACTIVE", "DOWN", "ERROR"]}
PORT_STATUS = {"type": "object", "additionalProperties": False, "required": ["status"],
               "properties": {"status": _STATUS}}
FIP_STATUS = PORT_STATUS
_ITEM = {"type": "object", "additionalProperties": False, "required": ["id", "status"],
         "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 255},
                        "status": _STATUS}}


def _batch(key: str) -> dict:
    return {"type": "object", "additionalProperties": False, "required": [key],
            "properties": {key: {"type": "array", "maxItems": MAX_BATCH, "items": _ITEM}}}


@service.route("POST", "/kumo/v1/ports/{port_id}/status")
def report_port_status(req: Request) -> Reply:
    """Set a port's ``status`` as the agent of its host realized it."""
    req.context.enforce("kumo:report_resource_status")
    status = req.json(PORT_STATUS)["status"]
    req.cloud.networking.ports.set_status(req.params["port_id"], status)
    return Reply(200, {"port": {"id": req.params["port_id"], "status": status}})


@service.route("POST", "/kumo/v1/floatingips/{floatingip_id}/status")
def report_floatingip_status(req: Request) -> Reply:
    """Set a floating IP's ``status`` as the L3 agent realized it."""
    req.context.enforce("kumo:report_resource_status")
    status = req.json(FIP_STATUS)["status"]
    req.cloud.networking.floatingips.set_status(req.params["floatingip_id"], status)
    return Reply(200, {"floatingip": {"id": req.params["floatingip_id"], "status": status}})


def _report_many(req: Request, key: str, part) -> Reply:
    req.context.enforce("kumo:report_resource_status")
    items = req.json(_batch(key))[key]
    statuses = {item["id"]: item["status"] for item in items}  # the last one wins
    missing = set(part.set_statuses(statuses))
    return Reply(200, {key: [{"id": i, "status": s} for i, s in statuses.items()
                             if i not in missing], "not_found": sorted(missing)})


@service.route("POST", "/kumo/v1/ports/status")
def report_port_statuses(req: Request) -> Reply:
    """Many ports' statuses at once (an agent's batch)."""
    return _report_many(req, "ports", req.cloud.networking.ports)


@service.route("POST", "/kumo/v1/floatingips/status")
def report_floatingip_statuses(req: Request) -> Reply:
    """Many floating IPs' statuses at once (an agent's batch)."""
    return _report_many(req, "floatingips", req.cloud.networking.floatingips)
