"""``POST /servers/{server_id}/action`` (Compute API "Servers - run an action"): reboot,
os-stop, os-start, pause, unpause, lock, unlock, rebuild, resize, confirmResize,
revertResize, os-getConsoleOutput, createImage, forceDelete, and the legacy remote
console actions of :mod:`kumo.compute.api.remote_consoles`. The logic is in
:mod:`kumo.compute.actions`."""
from __future__ import annotations

import base64
import binascii

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request, validate
from kumo.compute import schemas
from kumo.compute.api import (at_least, lifecycle_actions, remote_consoles, render,
                              service)
from kumo.compute.api.servers import get_row, render_many
from kumo.compute.lifecycle import password

P = "os_compute_api:"


def _reboot(req, row, arg):
    validate({"reboot": arg}, schemas.REBOOT)
    kind = arg["type"].upper()
    req.cloud.compute.actions.reboot(req.context, row.id, req.request_id, kind)
    return Reply(202)


def _simple(method, rule):
    def handler(req, row, arg):
        req.context.enforce(P + rule, {"project_id": row.project_id})
        getattr(req.cloud.compute.actions, method)(req.context, row.id, req.request_id)
        return Reply(202)
    handler.rule = None
    return handler


def _lock(req, row, arg):
    if at_least(req, "2.73"):  # before 2.73 the argument is ignored (lock_server.lock)
        validate({"lock": arg}, schemas.LOCK)
    reason = (arg or {}).get("locked_reason") if at_least(req, "2.73") else None
    req.cloud.compute.actions.lock(req.context, row.id, req.request_id, reason)
    return Reply(202)


def _rebuild(req, row, arg):
    compute = req.cloud.compute
    validate({"rebuild": arg}, schemas.REBUILD)
    image = compute.servers._image(req.context, arg["imageRef"], row.flavor)
    attrs = {k: arg[k] for k in ("name", "metadata", "accessIPv4", "accessIPv6",
                                 "OS-DCF:diskConfig") if k in arg}
    if "description" in arg and at_least(req, "2.19"):
        attrs["description"] = arg["description"]
    if "user_data" in arg:
        if not at_least(req, "2.57"):
            raise exc.BadRequest("Additional properties are not allowed ('user_data' was "
                                 "unexpected)")
        if arg["user_data"] is not None:
            try:
                base64.b64decode(arg["user_data"], validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise exc.BadRequest("User data needs to be valid base 64.") from None
        attrs["user_data"] = arg["user_data"]
    if "key_name" in arg and at_least(req, "2.54"):
        attrs["key_name"] = arg["key_name"]
        attrs["key_data"] = (compute.keypairs.get(req.context.user_id, arg["key_name"])
                             .public_key if arg["key_name"] else None)
    compute.actions.rebuild(req.context, row.id, req.request_id, image, attrs)
    fresh = get_row(req)
    body = render.base_view(req, render_many(req, [fresh])[0])
    body.pop("OS-EXT-SRV-ATTR:user_data", None)  # Nova's rebuild: user_data (2.57) only
    body["adminPass"] = arg.get("adminPass") or password()
    if at_least(req, "2.54"):
        body["key_name"] = fresh.key_name
    if at_least(req, "2.57"):
        body["user_data"] = fresh.user_data
    return Reply(202, {"server": body})


def _resize(req, row, arg):
    validate({"resize": arg}, schemas.RESIZE)
    ref = arg["flavorRef"]
    flavor = req.cloud.compute.servers._flavor(req.context, ref)
    req.cloud.compute.actions.resize(req.context, row.id, req.request_id, flavor,
                                     arg.get("OS-DCF:diskConfig"))
    return Reply(202)


def _confirm(req, row, arg):
    req.cloud.compute.actions.confirm_resize(req.context, row.id, req.request_id)
    return Reply(204)


def _revert(req, row, arg):
    req.cloud.compute.actions.revert_resize(req.context, row.id, req.request_id)
    return Reply(202)


def _console(req, row, arg):
    validate({"os-getConsoleOutput": arg}, schemas.CONSOLE_OUTPUT)
    length = arg.get("length")
    if length is not None:
        try:
            length = int(length)  # a float "integer" (1e308) is a whole number too
        except (TypeError, ValueError, OverflowError):
            raise exc.BadRequest("Invalid input for field/attribute length.") from None
        if length < -1:  # a string such as "-5" (the schema's minimum is for numbers)
            raise exc.BadRequest("Invalid input for field/attribute length.")
        if length == -1:
            length = None
    return Reply(200, {"output": req.cloud.compute.actions.console(
        req.context, row.id, length)})


def _create_image(req, row, arg):
    validate({"createImage": arg}, schemas.CREATE_IMAGE)
    if not arg["name"].strip():
        raise exc.BadRequest("Invalid input for field/attribute name.")
    image_id = req.cloud.compute.actions.create_image(
        req.context, row.id, req.request_id, arg["name"], arg.get("metadata") or {})
    if at_least(req, "2.45"):
        return Reply(202, {"image_id": image_id})
    base = req.url_base.rsplit("/compute", 1)[0]
    return Reply(202, None, {"Location": f"{base}/image/v2/images/{image_id}"})


def _force_delete(req, row, arg):
    req.cloud.compute.servers.delete(req.context, row.id, req.request_id, force=True)
    return Reply(202)


def _restore(req, row, arg):
    """Nova's deferred delete: only a SOFT_DELETED server can be restored, and Kumo
    deletes at once (Nova's ``reclaim_instance_interval`` 0), so none ever is."""
    raise exc.Conflict(f"Cannot 'restore' instance {row.id} while it is in vm_state "
                       f"{row.vm_state}")


def _inject_network_info(req, row, arg):
    """Admin action: Nova asks the host to refresh the guest's network info; Kumo's
    guests always have their ports' current addresses (DHCP, metadata), so nothing
    to do but accept it."""
    return Reply(202)


#: action -> (handler, policy rule)
ACTIONS = {
    "reboot": (_reboot, "servers:reboot"),
    "os-stop": (_simple("stop", "servers:stop"), "servers:stop"),
    "os-start": (_simple("start", "servers:start"), "servers:start"),
    "pause": (_simple("pause", "os-pause-server:pause"), "os-pause-server:pause"),
    "unpause": (_simple("unpause", "os-pause-server:unpause"), "os-pause-server:unpause"),
    "lock": (_lock, "os-lock-server:lock"),
    "unlock": (_simple("unlock", "os-lock-server:unlock"), "os-lock-server:unlock"),
    "rebuild": (_rebuild, "servers:rebuild"),
    "resize": (_resize, "servers:resize"),
    "confirmResize": (_confirm, "servers:confirm_resize"),
    "revertResize": (_revert, "servers:revert_resize"),
    "os-getConsoleOutput": (_console, "os-console-output"),
    "createImage": (_create_image, "servers:create_image"),
    "forceDelete": (_force_delete, "os-deferred-delete:force"),
    "restore": (_restore, "os-deferred-delete:restore"),
    "injectNetworkInfo": (_inject_network_info, "os-admin-actions:inject_network_info"),
    **remote_consoles.ACTIONS,  # os-getVNCConsole... (Kumo serves none: Nova's 400)
    **lifecycle_actions.ACTIONS,  # suspend, shelve, rescue, migrate, evacuate...
}


@service.route("POST", "/v2.1/servers/{server_id}/action")
def action(req: Request) -> Reply:
    body = req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise exc.BadRequest("There is either no action or more than one action in the "
                             "request body.")
    name, arg = next(iter(body.items()))
    row = get_row(req)
    if name not in ACTIONS:
        raise exc.BadRequest(f"There is no such action: {name}")
    handler, rule = ACTIONS[name]
    req.context.enforce(P + rule, {"project_id": row.project_id})
    return handler(req, row, arg)


__all__ = ["ACTIONS", "render"]
