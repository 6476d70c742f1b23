"""More of ``POST /servers/{server_id}/action`` (Compute API "Servers - run an
action"): suspend, resume, shelve, shelveOffload, unshelve, rescue, unrescue,
os-resetState, createBackup, addSecurityGroup, removeSecurityGroup, addFloatingIp and
removeFloatingIp (before 2.44), migrate, os-migrateLive, evacuate, trigger_crash_dump
(2.17+). Bodies are validated as Nova's schemas per microversion; the logic is in
:mod:`kumo.compute.lifecycle`. :data:`ACTIONS` joins
:data:`kumo.compute.api.server_actions.ACTIONS`; an action outside its microversions
answers as Nova: 404 "The resource could not be found." (removed ones) or 400 "There is
no such action" (not yet added)."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, validate
from kumo.compute.api import at_least

_NONE = {"type": "null"}
_IP = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
_HOST = {"type": ["string", "null"], "minLength": 1, "maxLength": 255}


def _obj(props: dict, required=()) -> dict:
    return {"type": "object", "properties": props, "required": list(required),
            "additionalProperties": False}


def _check(name: str, arg, schema: dict) -> None:
    validate({name: arg}, _obj({name: schema}, [name]))


class NotFound404(exc.NotFound):
    message = "The resource could not be found."


def _lc(req):
    return req.cloud.compute.lifecycle


def _simple(method: str, name: str):
    def handler(req, row, arg):  # any value, as Nova's schema ({"suspend": {}}, null)
        getattr(_lc(req), method)(req.context, row.id, req.request_id)
        return Reply(202)
    return handler


def _unshelve(req, row, arg):
    if at_least(req, "2.91"):
        _check("unshelve", arg, {"type": ["object", "null"], "properties": {
            "availability_zone": {"type": ["string", "null"]}, "host": _HOST},
            "additionalProperties": False})
    elif at_least(req, "2.77"):
        _check("unshelve", arg, {"type": ["object", "null"], "properties": {
            "availability_zone": {"type": "string"}}, "required": ["availability_zone"],
            "additionalProperties": False})
    else:  # Nova takes any value before 2.77 and ignores it
        arg = None
    arg = arg or {}
    host = arg.get("host")
    if host is not None:
        req.context.enforce("os_compute_api:os-shelve:unshelve_to_host",
                            {"project_id": row.project_id})
    _lc(req).unshelve(req.context, row.id, req.request_id, arg.get("availability_zone"),
                      host, "availability_zone" in arg)
    return Reply(202)


def _rescue(req, row, arg):
    _check("rescue", arg, {"type": ["object", "null"], "properties": {
        "adminPass": {"type": "string"}, "rescue_image_ref": {"type": "string",
                                                              "format": "uuid"}},
        "additionalProperties": False})
    if (arg or {}).get("rescue_image_ref"):
        try:
            req.cloud.images.get(req.context, arg["rescue_image_ref"])
        except exc.NotFound:
            raise exc.BadRequest(f"Image {arg['rescue_image_ref']} could not be "
                                 "found.") from None
    pw = _lc(req).rescue(req.context, row.id, req.request_id, (arg or {}).get("adminPass"),
                         (arg or {}).get("rescue_image_ref"), at_least(req, "2.87"))
    return Reply(200, {"adminPass": pw})


def _reset_state(req, row, arg):
    _check("os-resetState", arg, _obj({"state": {"type": "string",
                                                 "enum": ["active", "error"]}}, ["state"]))
    _lc(req).reset_state(req.context, row.id, req.request_id, arg["state"])
    return Reply(202)


def _backup(req, row, arg):
    _check("createBackup", arg, _obj({
        "name": {"type": "string", "minLength": 0, "maxLength": 255},
        "backup_type": {"type": "string"},
        "rotation": {"type": ["integer", "string"], "pattern": r"^[0-9]+$",
                     "minimum": 0},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}}},
        ["name", "backup_type", "rotation"]))
    try:
        rotation = int(arg["rotation"])
    except (TypeError, ValueError, OverflowError):
        raise exc.BadRequest("Invalid input for field/attribute rotation.") from None
    image_id = _lc(req).backup(req.context, row.id, req.request_id, arg["name"],
                               arg["backup_type"], rotation, arg.get("metadata") or {})
    if at_least(req, "2.45"):
        return Reply(202, {"image_id": image_id})
    if rotation == 0:  # Nova: no Location when the backup is rotated away at once
        return Reply(202)
    # Nova's: the compute endpoint's images proxy (application_url + images/<id>)
    return Reply(202, None, {"Location": req.url(f"/v2.1/images/{image_id}")})


def _security_group(add: bool):
    name = "addSecurityGroup" if add else "removeSecurityGroup"

    def handler(req, row, arg):
        _check(name, arg, _obj({"name": {"type": "string", "minLength": 1}}, ["name"]))
        if not arg["name"].strip():
            raise exc.BadRequest("Security group name cannot be empty")
        _lc(req).security_group(req.context, row.id, req.request_id, arg["name"], add)
        return Reply(202)
    return handler


def _floating_ip(add: bool):
    name = "addFloatingIp" if add else "removeFloatingIp"

    def handler(req, row, arg):
        if at_least(req, "2.44"):
            raise NotFound404()
        props = {"address": _IP}
        if add:
            props["fixed_address"] = _IP
        _check(name, arg, _obj(props, ["address"]))
        _lc(req).floating_ip(req.context, row.id, req.request_id, arg["address"],
                             arg.get("fixed_address"), add)
        return Reply(202)
    return handler


def _migrate(req, row, arg):
    if at_least(req, "2.56"):
        _check("migrate", arg, {"type": ["object", "null"], "properties": {"host": _HOST},
                                "additionalProperties": False})
    # (no schema before 2.56 in Nova: any value)
    host = (arg or {}).get("host")
    if host is not None:
        req.context.enforce("os_compute_api:os-migrate-server:migrate:host",
                            {"project_id": row.project_id})
    _lc(req).migrate(req.context, row.id, req.request_id, host)
    return Reply(202)


def _live(req, row, arg):
    block = {"type": ["boolean", "string"], "enum": [True, False, "True", "False",
                                                     "true", "false", "auto"]
             if at_least(req, "2.25") else [True, False, "True", "False", "true",
                                             "false"]}
    props = {"block_migration": block, "host": _HOST}
    required = ["block_migration", "host"]
    if not at_least(req, "2.25"):
        props["disk_over_commit"] = {"type": ["boolean", "string"]}
        required.append("disk_over_commit")
    if at_least(req, "2.30") and not at_least(req, "2.68"):
        props["force"] = {"type": ["boolean", "string"]}
    _check("os-migrateLive", arg, _obj(props, required))
    _lc(req).live_migrate(req.context, row.id, req.request_id, arg.get("host"),
                          asynchronous=at_least(req, "2.25"))
    return Reply(202)


def _evacuate(req, row, arg):
    props = {"host": {"type": "string", "minLength": 1, "maxLength": 255},
             "adminPass": {"type": "string"}}
    required = []
    if not at_least(req, "2.14"):
        props["onSharedStorage"] = {"type": ["boolean", "string"]}
        required.append("onSharedStorage")
    if at_least(req, "2.29") and not at_least(req, "2.68"):
        props["force"] = {"type": ["boolean", "string"]}
    if at_least(req, "2.95"):
        props["targetState"] = {"type": "string", "enum": ["stopped"]}  # Nova: stopped
    _check("evacuate", arg, _obj(props, required))
    if not at_least(req, "2.14") and str(arg.get("onSharedStorage")).lower() == "true" \
            and arg.get("adminPass"):
        raise exc.BadRequest("admin password can't be changed on existing disk")
    pw = _lc(req).evacuate(req.context, row.id, req.request_id, arg.get("host"),
                           arg.get("adminPass"), stop=at_least(req, "2.95"))
    if at_least(req, "2.14"):
        return Reply(200)
    return Reply(200, {"adminPass": pw})


def _crash_dump(req, row, arg):
    if not at_least(req, "2.17"):
        raise exc.BadRequest("There is no such action: trigger_crash_dump")
    _check("trigger_crash_dump", arg, _NONE)
    _lc(req).trigger_crash_dump(req.context, row.id, req.request_id)
    return Reply(202)


#: action -> (handler, policy rule)
ACTIONS = {
    "suspend": (_simple("suspend", "suspend"), "os-suspend-server:suspend"),
    "resume": (_simple("resume", "resume"), "os-suspend-server:resume"),
    "shelve": (_simple("shelve", "shelve"), "os-shelve:shelve"),
    "shelveOffload": (_simple("shelve_offload", "shelveOffload"),
                      "os-shelve:shelve_offload"),
    "unshelve": (_unshelve, "os-shelve:unshelve"),
    "rescue": (_rescue, "os-rescue"),
    "unrescue": (_simple("unrescue", "unrescue"), "os-unrescue"),
    "os-resetState": (_reset_state, "os-admin-actions:reset_state"),
    "createBackup": (_backup, "os-create-backup"),
    "addSecurityGroup": (_security_group(True), "os-security-groups:add"),
    "removeSecurityGroup": (_security_group(False), "os-security-groups:remove"),
    "addFloatingIp": (_floating_ip(True), "os-floating-ips:add"),
    "removeFloatingIp": (_floating_ip(False), "os-floating-ips:remove"),
    "migrate": (_migrate, "os-migrate-server:migrate"),
    "os-migrateLive": (_live, "os-migrate-server:migrate_live"),
    "evacuate": (_evacuate, "os-evacuate"),
    "trigger_crash_dump": (_crash_dump, "servers:trigger_crash_dump"),
}
