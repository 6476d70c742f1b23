"""Remote consoles ("Server Remote Consoles" and the legacy console actions of "Servers -
run an action"): ``POST /servers/{server_id}/remote-consoles`` (2.6+) and the actions
``os-getVNCConsole``, ``os-getSPICEConsole``, ``os-getSerialConsole`` and
``os-getRDPConsole`` (2.1-2.5).

Kumo serves no remote console type (no VNC, SPICE, serial or MKS proxy), so it answers
as a Nova whose ``[vnc]``, ``[spice]``, ``[serial_console]`` and ``[mks]`` are all
disabled:

- a body outside Nova's schema: 400;
- the server unknown: 404; not scheduled to a host yet (or no valid host): 409
  ``Instance <id> is not ready``;
- otherwise 400 ``Unavailable console type <type>.`` (protocol ``rdp`` at 2.6+: 400
  ``Unavailable console type rdp.``; ``os-getRDPConsole``, removed from Nova in 29.0.0:
  a bare 400);
- the legacy actions at 2.6+ and ``remote-consoles`` below 2.6: 404, as Nova.

The way into a server is SSH (the cirros image runs Dropbear) or, for the operator on
the server's host, ``kumo console``. Policy: ``os_compute_api:os-remote-consoles``
(member of the server's project, or admin).
"""
from __future__ import annotations

import copy

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request, validate
from kumo.compute.api import at_least, service
from kumo.compute.api.servers import get_row

RULE = "os_compute_api:os-remote-consoles"
#: webob's explanation of a bare HTTPBadRequest (what Nova's os-getRDPConsole answers)
BARE_400 = ("The server could not comply with the request since it is either malformed "
            "or otherwise incapable of performing it.")
NOT_FOUND = "The resource could not be found."


def _action_schema(action: str, types: list[str]) -> dict:
    return {"type": "object", "properties": {action: {
        "type": "object", "properties": {"type": {"type": "string", "enum": types}},
        "required": ["type"], "additionalProperties": False}},
        "required": [action], "additionalProperties": False}


#: legacy action -> the types Nova's schema accepts
LEGACY = {"os-getVNCConsole": ["novnc", "xvpvnc"],
          "os-getSPICEConsole": ["spice-html5"],
          "os-getSerialConsole": ["serial"]}
_LEGACY_SCHEMAS = {name: _action_schema(name, types) for name, types in LEGACY.items()}

CREATE_V26 = {"type": "object", "properties": {"remote_console": {
    "type": "object", "properties": {
        "protocol": {"type": "string", "enum": ["vnc", "spice", "serial", "rdp"]},
        "type": {"type": "string", "enum": ["novnc", "xvpvnc", "spice-html5", "serial",
                                            "rdp-html5"]}},
    "required": ["protocol", "type"], "additionalProperties": False}},
    "required": ["remote_console"], "additionalProperties": False}
CREATE_V28 = copy.deepcopy(CREATE_V26)
CREATE_V28["properties"]["remote_console"]["properties"]["protocol"]["enum"].append("mks")
CREATE_V28["properties"]["remote_console"]["properties"]["type"]["enum"].append("webmks")


def _unavailable(row, console_type: str):
    """What Nova's compute API and manager answer with every console type disabled."""
    if not row.host:
        raise exc.Conflict(f"Instance {row.id} is not ready")
    raise exc.BadRequest(f"Unavailable console type {console_type}.")


def legacy_action(name: str):
    """The ``ACTIONS`` handler of a 2.1-2.5 console action ``name``."""
    def handler(req: Request, row, arg):
        if at_least(req, "2.6"):
            raise exc.NotFound(NOT_FOUND)
        if name == "os-getRDPConsole":
            raise exc.BadRequest(BARE_400)
        validate({name: arg}, _LEGACY_SCHEMAS[name])
        _unavailable(row, arg["type"])
    return handler


#: action -> (handler, policy rule) for server_actions.ACTIONS
ACTIONS = {name: (legacy_action(name), "os-remote-consoles")
           for name in (*LEGACY, "os-getRDPConsole")}


@service.route("POST", "/v2.1/servers/{server_id}/remote-consoles")
def create(req: Request) -> Reply:
    if not at_least(req, "2.6"):
        raise exc.NotFound(NOT_FOUND)
    body = req.json(CREATE_V28 if at_least(req, "2.8") else CREATE_V26)
    row = get_row(req)
    req.context.enforce(RULE, {"project_id": row.project_id})
    console = body["remote_console"]
    if console["protocol"] == "rdp":
        raise exc.BadRequest("Unavailable console type rdp.")
    _unavailable(row, console["type"])
    return Reply(500)  # not reached
