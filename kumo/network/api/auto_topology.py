"""Auto-allocated topology over HTTP (Networking API v2.0: "Auto Allocated Topology";
extension auto-allocated-topology): ``GET /v2.0/auto-allocated-topology/{project_id}``
builds (or returns) the project's topology, ``?fields=dry-run`` only checks the
requirements, ``DELETE`` removes it. The logic is :mod:`kumo.network.auto_topology`.

Policy (Neutron's defaults): ``get_auto_allocated_topology`` and
``delete_auto_allocated_topology`` for the project's members and admins.
"""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.network.api import service
from kumo.network.api.root import register_extension

register([RuleDefault("get_auto_allocated_topology",
                      "rule:admin or rule:project_member"),
          RuleDefault("delete_auto_allocated_topology",
                      "rule:admin or rule:project_member")])
register_extension("auto-allocated-topology", "Auto Allocated Topology Services",
                   "Auto Allocated Topology Services.")

PATH = "/v2.0/auto-allocated-topology/{project_id}"


@service.route("GET", PATH)
def get_auto_allocated_topology(req: Request) -> Reply:
    project_id = req.params["project_id"]
    req.context.enforce("get_auto_allocated_topology", {"project_id": project_id})
    fields = req.query.getlist("fields")
    networking = req.cloud.networking
    if "dry-run" in fields:
        with networking.read() as s:
            body = networking.auto_topology.check(s, req.context, project_id)
        return Reply(200, {"auto_allocated_topology": body})
    if fields:
        raise exc.BadRequest("Bad auto_allocate request: Unrecognized field.")
    with networking.write() as s:
        body = networking.auto_topology.get(s, req.context, project_id)
    return Reply(200, {"auto_allocated_topology": body})


@service.route("DELETE", PATH)
def delete_auto_allocated_topology(req: Request) -> Reply:
    project_id = req.params["project_id"]
    req.context.enforce("delete_auto_allocated_topology", {"project_id": project_id})
    networking = req.cloud.networking
    with networking.write() as s:
        networking.auto_topology.delete(s, req.context, project_id)
    return Reply(204)
