"""Volume attachments of servers (Compute API "Servers with volume attachments
(servers, os-volume_attachments)"): attach, list, show, detach, and swap (admins).

Nova asks Cinder for an attachment and completes it; here the compute API calls the
Block Storage manager in process (``cloud.volumes.attachments``). ``tag`` is shown
from 2.70, ``delete_on_termination`` from 2.79, ``attachment_id``/``bdm_uuid`` from
2.89. The device is the next free ``/dev/vdX`` (``vda`` is the root disk).

An attach to a server on a host answers at once with the volume ``attaching``; the
host's compute agent maps it (the netns driver: a loop device, ``/dev/vdX`` inside
the instance) and its status report makes the volume ``in-use``. A detach makes it
``detaching`` and the agent's report without it ``available``. A server on no host
(shelved offloaded) attaches and detaches at once.
"""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.compute.api import at_least, service
from kumo.compute.api.servers import get_row
from kumo.common.policy import RuleDefault, register
from kumo.volume.attachments import AlreadyAttached

P = "os_compute_api:os-volumes-attachments:"
MEMBER = "rule:admin or (role:member and project_id:%(project_id)s)"
READER = "rule:admin or (role:reader and project_id:%(project_id)s)"
register([RuleDefault(P + "index", READER), RuleDefault(P + "show", READER),
          RuleDefault(P + "create", MEMBER), RuleDefault(P + "delete", MEMBER),
          RuleDefault(P + "update", "rule:admin"),
          RuleDefault(P + "swap", "rule:admin")])

#: vm_states a volume may be attached or detached in (Nova's check_instance_state).
STATES = ("active", "paused", "stopped", "suspended", "shelved", "shelved_offloaded",
          "resized")

ATTACH = {"type": "object", "properties": {"volumeAttachment": {
    "type": "object", "properties": {
        "volumeId": {"type": "string", "minLength": 1, "maxLength": 255},
        "device": {"type": ["string", "null"],
                   "pattern": "^/dev/[a-zA-Z0-9._-]+$"},
        "tag": {"type": "string", "maxLength": 60},
        "delete_on_termination": {"type": "boolean"}},
    "required": ["volumeId"], "additionalProperties": False}},
    "required": ["volumeAttachment"], "additionalProperties": False}
SWAP = {"type": "object", "properties": {"volumeAttachment": {
    "type": "object", "properties": {
        "volumeId": {"type": "string", "minLength": 1, "maxLength": 255},
        "delete_on_termination": {"type": "boolean"}, "device": {}, "tag": {},
        "id": {}, "serverId": {}},
    "required": ["volumeId"], "additionalProperties": False}},
    "required": ["volumeAttachment"], "additionalProperties": False}


def render(req: Request, att, server_id: str) -> dict:
    body = {"id": att.volume_id, "serverId": server_id, "volumeId": att.volume_id,
            "device": att.mountpoint}
    if at_least(req, "2.70"):
        body["tag"] = None
    if at_least(req, "2.79"):
        body["delete_on_termination"] = att.delete_on_termination
    if at_least(req, "2.89"):
        body.pop("id")
        body["attachment_id"] = att.id
        body["bdm_uuid"] = att.id
    return body


def _server(req: Request, rule: str, check_state: str | None = None):
    row = get_row(req)
    req.context.enforce(P + rule, {"project_id": row.project_id})
    if check_state and (row.vm_state not in STATES or row.task_state):
        what = f"task_state {row.task_state}" if row.task_state else \
            f"vm_state {row.vm_state}"
        raise exc.Conflict(f"Cannot '{check_state}' instance {row.id} while it is in "
                           f"{what}")
    return row


def _volume(req: Request, volume_id: str):
    try:
        return req.cloud.volumes.volumes.get(req.context, volume_id)
    except exc.NotFound:
        raise exc.NotFound(f"Volume {volume_id} could not be found.") from None


def volumes_attached(req: Request, server_id: str) -> list[dict]:
    """``os-extended-volumes:volumes_attached`` of a server (one query per request:
    the map is kept on the request's context)."""
    cache = getattr(req.context, "_kumo_volumes_attached", None)
    if cache is None:
        cache = req.cloud.volumes.attachments.all_attached()
        req.context._kumo_volumes_attached = cache
    out = []
    for att in cache.get(server_id, ()):
        item = {"id": att.volume_id}
        if at_least(req, "2.3"):
            item["delete_on_termination"] = att.delete_on_termination
        out.append(item)
    return out


@service.route("GET", "/v2.1/servers/{server_id}/os-volume_attachments")
def index(req: Request) -> Reply:
    row = _server(req, "index")
    atts = req.cloud.volumes.attachments.of_instance(row.id)
    return Reply(200, {"volumeAttachments": [render(req, a, row.id) for a in atts]})


@service.route("GET", "/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}")
def show(req: Request) -> Reply:
    row = _server(req, "show")
    for att in req.cloud.volumes.attachments.of_instance(row.id):
        if att.volume_id == req.params["volume_id"]:
            return Reply(200, {"volumeAttachment": render(req, att, row.id)})
    raise exc.NotFound(f"Instance {row.id} is not attached to volume "
                       f"{req.params['volume_id']}.")


@service.route("POST", "/v2.1/servers/{server_id}/os-volume_attachments")
def attach(req: Request) -> Reply:
    body = req.json(ATTACH)["volumeAttachment"]
    row = _server(req, "create", "attach_volume")
    vol = _volume(req, body["volumeId"])
    taken = {a.mountpoint for a in req.cloud.volumes.attachments.of_instance(row.id)}
    device = body.get("device")
    if device and device in taken | {"/dev/vda"}:
        raise exc.BadRequest(f"The supplied device path ({device}) is in use.")
    if not device:
        device = next(f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz"
                      if f"/dev/vd{c}" not in taken)
    delete_on_termination = bool(body.get("delete_on_termination")) \
        if at_least(req, "2.79") else False
    try:
        att = req.cloud.volumes.attachments.create(
            req.context, vol.id, row.id, {"host": row.host, "mountpoint": device},
            host=row.host, mountpoint=device, complete=row.host is None,
            delete_on_termination=delete_on_termination,
            complete_on_report=row.host is not None)
    except AlreadyAttached as e:
        # Nova: InvalidVolume ("volume <id> already attached" to this server) or
        # Cinder's 400 for an in-use volume (another server): both a 400
        if any(a.volume_id == vol.id
               for a in req.cloud.volumes.attachments.of_instance(row.id)):
            raise exc.BadRequest(f"Invalid volume: volume {vol.id} already "
                                 "attached") from None
        raise exc.BadRequest(f"Invalid input received: {e.message}") from None
    except exc.Conflict:
        raise
    except exc.BadRequest as e:
        raise exc.BadRequest(e.message) from None
    return Reply(200, {"volumeAttachment": render(req, att, row.id)})


@service.route("DELETE", "/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}")
def detach(req: Request) -> Reply:
    row = _server(req, "delete", "detach_volume")
    for att in req.cloud.volumes.attachments.of_instance(row.id):
        if att.volume_id == req.params["volume_id"]:
            if att.mountpoint == "/dev/vda":
                raise exc.BadRequest("Cannot detach a root device volume")
            if row.host is None or att.attach_status in ("error_attaching",
                                                          "reserved"):
                # nothing is mapped: an attach that failed or timed out, a swap's
                # new volume not yet switched to
                req.cloud.volumes.attachments.delete(None, att.id)
            else:
                req.cloud.volumes.attachments.begin_detach(att.id)
            return Reply(202)
    raise exc.NotFound(f"volume_id not found: {req.params['volume_id']}")


@service.route("PUT", "/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}")
def swap(req: Request) -> Reply:
    """Swap the attached volume for another (admins): 202 at once; the old volume's
    data is copied into the new one, then the server's device switches to it
    (:meth:`kumo.volume.attachments.Attachments.swap`). 400 if the new volume is not
    ``available`` or smaller than the old one."""
    body = req.json(SWAP)["volumeAttachment"]
    row = _server(req, "swap", "swap_volume")
    attachments = req.cloud.volumes.attachments
    old = next((a for a in attachments.of_instance(row.id)
                if a.volume_id == req.params["volume_id"]), None)
    if old is None:
        raise exc.NotFound(f"volume_id not found: {req.params['volume_id']}")
    new = _volume(req, body["volumeId"])
    if new.id == old.volume_id:
        raise exc.BadRequest("The new volume must be different from the old one.")
    try:
        attachments.swap(req.context, row.id, old.id, new.id, row.host)
    except exc.Conflict:
        raise
    except exc.BadRequest as e:
        raise exc.BadRequest(e.message) from None
    return Reply(202)


# -- boot from volume (block_device_mapping_v2) ---------------------------------------
BDM_WAIT_S = 120.0


def _bdm_error(message: str) -> exc.BadRequest:
    return exc.BadRequest(f"Block Device Mapping is Invalid: {message}")


def image_mappings(req: Request, body: dict) -> None:
    """Merge the block device mappings of a volume-backed server's snapshot image
    (``imageRef`` with ``bdm_v2`` and a ``block_device_mapping`` property, size 0: see
    :meth:`kumo.compute.snapshots.Snapshots._volume_backed`) into the request's
    ``block_device_mapping_v2``, as Nova's ``_check_and_transform_bdm`` does: each
    ``snapshot -> volume`` entry becomes a new volume created from that volume
    snapshot, the one with ``boot_index`` 0 the server's root. A boot entry in the
    request (a volume) wins over the image's; other images are left alone."""
    import json
    ref = body.get("imageRef")
    if not ref or not isinstance(ref, str):
        return
    try:
        image = req.cloud.compute.images.get(req.context,
                                             ref.rstrip("/").rsplit("/", 1)[-1])
    except exc.KumoError:
        return  # the server create reports a bad imageRef itself
    props = {p.name: p.value for p in image.properties}
    if str(props.get("bdm_v2", "")).lower() != "true":
        return
    try:
        mappings = json.loads(props.get("block_device_mapping") or "[]")
    except ValueError:
        raise _bdm_error("the image's block_device_mapping is not JSON") from None
    # the client's own ``image -> local`` boot entry (the CLI sends one with
    # ``--image``) gives way to the image's root volume, as in Nova
    given = [b for b in body.get("block_device_mapping_v2") or []
             if not (isinstance(b, dict) and b.get("destination_type") == "local"
                     and b.get("source_type") == "image"
                     and str(b.get("boot_index")) == "0")]
    has_boot = any(isinstance(b, dict) and str(b.get("boot_index")) == "0" for b in given)
    for m in mappings if isinstance(mappings, list) else []:
        if not isinstance(m, dict) or m.get("source_type") != "snapshot" \
                or not m.get("snapshot_id"):
            continue
        if str(m.get("boot_index")) == "0" and has_boot:
            continue
        given.append({"source_type": "snapshot", "destination_type": "volume",
                      "uuid": m["snapshot_id"], "boot_index": m.get("boot_index"),
                      "volume_size": m.get("volume_size"),
                      "volume_type": m.get("volume_type"),
                      "delete_on_termination": bool(m.get("delete_on_termination"))})
    if given:
        body["block_device_mapping_v2"] = given


def prepare_bdm(req: Request, body: dict) -> list[dict]:
    """Resolve ``block_device_mapping_v2`` before the server is made: ``image ->
    volume`` entries get a new volume from the image, ``snapshot -> volume`` ones a new
    volume from the volume snapshot (waited for, bounded), ``volume
    -> volume`` entries name an available volume; the boot volume (``boot_index``
    0) supplies ``imageRef`` when absent (its image, or its ``volume_image_metadata``'s
    ``image_id``; the server's image record): the netns compute driver runs the
    instance on the boot volume's filesystem. Returns the volumes to attach once the server
    exists; on any error the volumes made here are deleted and the error raised."""
    entries = body.get("block_device_mapping_v2") or []
    manager = req.cloud.volumes
    made: list[str] = []
    plan: list[dict] = []
    try:
        for i, bdm in enumerate(entries):
            if not isinstance(bdm, dict):
                raise _bdm_error(f"entry {i} is not an object")
            source, dest = bdm.get("source_type"), bdm.get("destination_type", "volume")
            if dest == "local" and source in ("image", "blank"):
                continue  # the image's own root disk, or ephemeral: nothing to do
            if dest != "volume" or source not in ("image", "volume", "blank", "snapshot"):
                raise _bdm_error(f"source_type {source!r} with destination_type "
                                 f"{dest!r} is not supported")
            boot_index = bdm.get("boot_index")
            try:
                boot_index = int(boot_index) if boot_index not in (None, "none") else None
            except (TypeError, ValueError):
                raise _bdm_error("boot_index must be an integer") from None
            delete = bool(bdm.get("delete_on_termination", False))  # Nova's default
            if source == "volume":
                vol = _volume(req, str(bdm.get("uuid") or ""))
                if vol.status != "available":
                    raise _bdm_error(f"volume {vol.id} is {vol.status}, not available")
                image_id = {m.key: m.value for m in vol.image_metadata}.get("image_id")
                vid = vol.id
            else:
                size = bdm.get("volume_size")
                snap = None
                if source == "snapshot":
                    try:
                        snap = manager.snapshots.get(req.context,
                                                     str(bdm.get("uuid") or ""))
                    except exc.NotFound:
                        raise _bdm_error(f"snapshot {bdm.get('uuid')} could not be "
                                         "found") from None
                    size = snap.size if size is None else size
                if not isinstance(size, int) or size < 1:
                    raise _bdm_error("volume_size must be a positive integer")
                image_id = str(bdm.get("uuid") or "") if source == "image" else None
                spec = {"size": size, "name": f"{body.get('name', 'server')}-bdm-{i}"}
                if image_id:
                    spec["imageRef"] = image_id
                if snap is not None:
                    spec["snapshot_id"] = snap.id
                if bdm.get("volume_type"):
                    spec["volume_type"] = bdm["volume_type"]
                try:
                    vol = manager.volumes.create(req.context, spec)
                except exc.KumoError as e:
                    raise _bdm_error(e.message) from None
                made.append(vol.id)
                vid = vol.id
            plan.append({"volume_id": vid, "boot_index": boot_index,
                         "delete_on_termination": delete, "image_id": image_id,
                         "made": source != "volume"})
        boot = [p for p in plan if p["boot_index"] == 0]
        if boot and not body.get("imageRef"):
            if not boot[0]["image_id"]:
                raise _bdm_error("the boot volume has no image: Kumo's compute agents "
                                 "run instances from an image's root filesystem")
            body["imageRef"] = boot[0]["image_id"]
        for vid in made:
            _wait_available(req, vid)
        return plan
    except BaseException:
        for vid in made:
            try:
                _wait_settled(req, vid)
                manager.volumes.delete(None, vid, cascade=True)
            except exc.KumoError:
                pass
        raise


def _wait_available(req: Request, volume_id: str) -> None:
    import time
    deadline = time.monotonic() + BDM_WAIT_S
    while time.monotonic() < deadline:
        vol = req.cloud.volumes.volumes.get(None, volume_id)
        if vol.status == "available":
            return
        if vol.status.startswith("error"):
            raise _bdm_error(f"volume {volume_id} could not be created")
        time.sleep(0.05)
    raise _bdm_error(f"volume {volume_id} was not ready in {BDM_WAIT_S:.0f} s")


def _wait_settled(req: Request, volume_id: str) -> None:
    import time
    deadline = time.monotonic() + BDM_WAIT_S
    while time.monotonic() < deadline:
        if req.cloud.volumes.volumes.get(None, volume_id).status not in (
                "creating", "downloading"):
            return
        time.sleep(0.05)


def attach_bdm(req: Request, server_id: str, host: str | None, plan: list[dict]) -> None:
    """Attach the planned volumes to the new server: the boot volume as ``/dev/vda``,
    the others ``/dev/vdb``..."""
    attachments = req.cloud.volumes.attachments
    letters = iter("bcdefghijklmnopqrstuvwxyz")
    for item in sorted(plan, key=lambda p: (p["boot_index"] is None or p["boot_index"] < 0,
                                            p["boot_index"] or 0)):
        device = "/dev/vda" if item["boot_index"] == 0 else f"/dev/vd{next(letters)}"
        attachments.create(None, item["volume_id"], server_id,
                           {"host": host, "mountpoint": device}, host=host,
                           mountpoint=device, complete=True,
                           delete_on_termination=item["delete_on_termination"])


def discard_bdm(req: Request, plan: list[dict]) -> None:
    """The server was not made: delete the volumes :func:`prepare_bdm` created (the
    ones given by id are left as they were)."""
    for item in plan:
        if item["made"]:
            try:
                req.cloud.volumes.volumes.delete(None, item["volume_id"], cascade=True)
            except exc.KumoError:
                pass
