"""Volume actions (Block Storage API v3 "Volume actions (volumes, action)"):
``POST /v3/volumes/{id}/action`` with one of ``os-extend``, ``os-set_bootable``,
``os-update_readonly_flag``, ``os-set_image_metadata``, ``os-unset_image_metadata``,
``os-show_image_metadata``, ``os-reset_status``, ``os-force_delete``,
``os-migrate_volume``, ``os-retype``, ``os-volume_upload_image``, ``os-unmanage``
(kumo/volume/manage.py), and the attach actions of the days before the attachments
API: ``os-reserve``, ``os-unreserve``, ``os-attach``, ``os-detach``,
``os-force_detach`` (admins)."""
from __future__ import annotations

from kumo.common.http import Reply, Request, parse_json, validate
from kumo.volume import schemas
from kumo.volume.api import at_least, service
from kumo.volume.api.volumes import target
from kumo.volume.errors import InvalidInput


def _extend(req, vol, arg):
    validate(arg, schemas.EXTEND)
    attached = at_least(req, "3.42")
    req.context.enforce("volume:extend_attached_volume" if vol.status == "in-use"
                        else "volume:extend", target(req, vol.project_id))
    req.cloud.volumes.volumes.extend(req.context, vol.id, int(arg["new_size"]), attached)
    return Reply(202)


def _bootable(req, vol, arg):
    validate(arg, schemas.BOOTABLE)
    req.context.enforce("volume:update", target(req, vol.project_id))
    req.cloud.volumes.volumes.set_flag(req.context, vol.id,
                                       bootable=schemas.as_bool(arg["bootable"]))
    return Reply(200)


def _readonly(req, vol, arg):
    validate(arg, schemas.READONLY)
    req.context.enforce("volume:update_readonly_flag", target(req, vol.project_id))
    req.cloud.volumes.volumes.set_flag(req.context, vol.id,
                                       readonly=schemas.as_bool(arg["readonly"]))
    return Reply(202)


def _set_image_metadata(req, vol, arg):
    validate(arg, schemas.IMAGE_METADATA)
    req.context.enforce("volume_extension:volume_image_metadata:set",
                        target(req, vol.project_id))
    meta = req.cloud.volumes.volumes.set_image_metadata(req.context, vol.id,
                                                        arg["metadata"])
    return Reply(200, {"metadata": meta})


def _unset_image_metadata(req, vol, arg):
    validate(arg, schemas.UNSET_IMAGE_METADATA)
    req.context.enforce("volume_extension:volume_image_metadata:remove",
                        target(req, vol.project_id))
    req.cloud.volumes.volumes.unset_image_metadata(req.context, vol.id, arg["key"])
    return Reply(200)


def _show_image_metadata(req, vol, arg):
    req.context.enforce("volume:get", target(req, vol.project_id))
    return Reply(200, {"metadata": {m.key: m.value for m in vol.image_metadata}})


def _reset_status(req, vol, arg):
    validate(arg, schemas.RESET_STATUS)
    req.context.enforce("volume_extension:volume_admin_actions:reset_status",
                        target(req, vol.project_id))
    if not arg:
        raise InvalidInput("Invalid input received: Must specify 'status', "
                           "'attach_status' or 'migration_status' for update.")
    req.cloud.volumes.volumes.reset_status(req.context, vol.id, arg.get("status"),
                                           arg.get("attach_status"),
                                           arg.get("migration_status"))
    return Reply(202)


def _force_delete(req, vol, arg):
    req.context.enforce("volume:force_delete", target(req, vol.project_id))
    req.cloud.volumes.volumes.delete(req.context, vol.id, cascade=True, force=True)
    return Reply(202)


def _migrate(req, vol, arg):
    validate(arg, schemas.MIGRATE)
    req.context.enforce("volume_extension:volume_admin_actions:migrate_volume",
                        target(req, vol.project_id))
    req.cloud.volumes.volumes.migrate(req.context, vol.id, arg["host"])
    return Reply(202)


def _retype(req, vol, arg):
    validate(arg, schemas.RETYPE)
    req.context.enforce("volume:retype", target(req, vol.project_id))
    req.cloud.volumes.volumes.retype(req.context, vol.id, arg["new_type"],
                                     arg.get("migration_policy") or "never")
    return Reply(202)


def _upload_image(req, vol, arg):
    validate(arg, schemas.UPLOAD_IMAGE)
    req.context.enforce("volume_extension:volume_actions:upload_image",
                        target(req, vol.project_id))
    visibility = arg.get("visibility", "private") if at_least(req, "3.1") else "private"
    if visibility == "public":
        req.context.enforce("volume_extension:volume_actions:upload_public",
                            target(req, vol.project_id))
    from kumo.volume.upload import upload_to_image
    body = upload_to_image(req.cloud, req.context, vol.id, arg, visibility)
    return Reply(202, {"os-volume_upload_image": body})


def _unmanage(req, vol, arg):
    req.context.enforce("volume_extension:volume_unmanage", target(req, vol.project_id))
    req.cloud.volumes.manage.unmanage(req.context, vol.id)
    return Reply(202)


LEGACY_ATTACH = {"type": "object", "properties": {
    "instance_uuid": {"type": "string", "format": "uuid"},
    "host_name": {"type": "string", "maxLength": 255},
    "mountpoint": {"type": "string", "minLength": 1, "maxLength": 255},
    "mode": {"enum": ["rw", "ro"]}}, "required": ["mountpoint"]}
LEGACY_DETACH = {"type": "object", "properties": {
    "attachment_id": {"type": ["string", "null"]}, "connector": {}}}


def _reserve(req, vol, arg):
    req.context.enforce("volume_extension:volume_actions:reserve",
                        target(req, vol.project_id))
    req.cloud.volumes.attachments.reserve(req.context, vol.id)
    return Reply(202)


def _unreserve(req, vol, arg):
    req.context.enforce("volume_extension:volume_actions:unreserve",
                        target(req, vol.project_id))
    req.cloud.volumes.attachments.unreserve(req.context, vol.id)
    return Reply(202)


def _attach(req, vol, arg):
    validate(arg, LEGACY_ATTACH)
    if not arg.get("instance_uuid") and not arg.get("host_name"):
        raise InvalidInput("Invalid request to attach volume to an invalid target")
    req.context.enforce("volume_extension:volume_actions:attach",
                        target(req, vol.project_id))
    req.cloud.volumes.attachments.attach_legacy(
        req.context, vol.id, arg.get("instance_uuid"), arg.get("host_name"),
        arg["mountpoint"], arg.get("mode", "rw"))
    return Reply(202)


def _detach_by(rule: str):
    """``os-detach`` / ``os-force_detach``: the same detach under its own policy rule."""
    def detach(req, vol, arg):
        validate(arg, LEGACY_DETACH)
        req.context.enforce(rule, target(req, vol.project_id))
        req.cloud.volumes.attachments.detach_legacy(req.context, vol.id,
                                                    arg.get("attachment_id"))
        return Reply(202)
    return detach


_detach = _detach_by("volume_extension:volume_actions:detach")
_force_detach = _detach_by("volume_extension:volume_admin_actions:force_detach")


ACTIONS = {"os-extend": _extend, "os-set_bootable": _bootable,
           "os-update_readonly_flag": _readonly,
           "os-set_image_metadata": _set_image_metadata,
           "os-unset_image_metadata": _unset_image_metadata,
           "os-show_image_metadata": _show_image_metadata,
           "os-reset_status": _reset_status, "os-force_delete": _force_delete,
           "os-migrate_volume": _migrate, "os-retype": _retype,
           "os-volume_upload_image": _upload_image, "os-unmanage": _unmanage,
           "os-reserve": _reserve, "os-unreserve": _unreserve, "os-attach": _attach,
           "os-detach": _detach, "os-force_detach": _force_detach}


@service.route("POST", "/v3/volumes/{volume_id}/action")
def action(req: Request) -> Reply:
    body = parse_json(req.body)
    if not isinstance(body, dict) or len(body) != 1:
        raise InvalidInput("Invalid input received: the body must hold exactly one "
                           "action.")
    name, arg = next(iter(body.items()))
    handler = ACTIONS.get(name)
    if handler is None:
        raise InvalidInput(f"There is no such action: {name}")
    if arg is None:
        arg = {}
    if not isinstance(arg, dict):
        raise InvalidInput(f"Invalid input received: {name} takes an object.")
    vol = req.cloud.volumes.volumes.get(req.context, req.params["volume_id"])
    return handler(req, vol, arg)
