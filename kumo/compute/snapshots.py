"""Server snapshots for real: createImage, createBackup and shelve copy the instance's
root filesystem into a Glance image (Compute API "Create Image (createImage Action)",
"Create Server Back Up (createBackup Action)", "Shelve Server (shelve Action)").

The flow, as Nova's (``nova/compute/api.py`` ``snapshot``/``backup``/``shelve`` and the
compute manager's ``_snapshot_instance``/``shelve_instance``):

1. The API checks the server (Nova's vm_state/task_state 409s, the metadata quota),
   creates the image ``queued`` with Nova's snapshot properties (``image_type``,
   ``instance_uuid``, ``base_image_ref``, ``owner_project_name``, ``owner_user_name``,
   ``user_id``, ``boot_roles``, the base image's inheritable properties) and, in one
   write, records the pending snapshot in the instance's ``system_metadata``
   (``snapshot``) and sets the task: ``image_snapshot`` / ``image_backup`` /
   ``shelving`` (shelve also asks for power off). The agents' feed carries
   ``"snapshot": {"image_id"}``.
2. The host's agent realizes the instance (a shelve powers it off first), packs its
   root filesystem in the format Kumo's bootable images use (a gzip'd tar of the root,
   ``kumo_rootfs=tar``: :meth:`kumo.agent.virt.ComputeDriver.snapshot`) and streams it
   to ``PUT /compute/kumo/v1/instances/{id}/snapshots/{image_id}?host=H``: the task
   becomes ``image_uploading`` (``shelving_image_uploading``) and the image ``saving``;
   the data goes into the image store through the same upload path as Glance's
   ``PUT /v2/images/{id}/file`` (size, ``checksum``, ``os_hash_value``), the image
   turns ``active``.
3. :meth:`Snapshots.finished` ends the task (createImage/createBackup: back to no task;
   a backup then rotates its older backups; shelve: SHELVED, offloaded at once when
   ``shelved_offload_time`` is 0). A failure the agent reports (``POST .../snapshots/
   {image_id}`` with ``{"error"}``; e.g. the image was deleted meanwhile, 404/409, or
   the store is full) ends the task too and deletes the image, as Nova does; a failed
   shelve leaves the server SHUTOFF.

Unshelve boots from the shelved image: the feed's ``image`` is the shelved image while
``unshelving`` (``system_metadata["boot_image"]``), and the image is deleted once the
guest runs (Nova deletes it after the spawn).
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.db import after_commit
from kumo.compute.models import Host, Instance
from kumo.compute.servers import InstanceInvalidState, InstanceNotFound

LOG = logging.getLogger(__name__)

#: What a snapshot may be taken from (Nova's ``check_instance_state`` of snapshot,
#: backup and shelve).
STATES = ("active", "stopped", "paused", "suspended")
#: Base image properties a snapshot does not inherit (Nova's
#: ``non_inheritable_image_properties`` default, plus the ones it sets itself).
NOT_INHERITED = ("cache_in_nova", "bittorrent", "img_signature", "img_signature_hash_method",
                 "img_signature_key_type", "img_signature_certificate_uuid",
                 "instance_uuid", "image_type", "base_image_ref", "backup_type",
                 "owner_project_name", "owner_user_name", "user_id", "boot_roles",
                 "image_location", "image_state")
#: kind -> (task while pending, task while uploading)
TASKS = {"migrate": ("migrating", "migrating"),
         "resize": ("resize_migrating", "resize_migrating"),
         "snapshot": ("image_snapshot", "image_uploading"),
         "backup": ("image_backup", "image_uploading"),
         "shelve": ("shelving", "shelving_image_uploading")}
ALL_TASKS = ("image_snapshot", "image_backup", "image_pending_upload", "image_uploading",
             "shelving", "shelving_image_pending_upload", "shelving_image_uploading")


class Snapshots:
    def __init__(self, compute):
        self.compute = compute

    # -- the API side -----------------------------------------------------------------
    def image_body(self, ctx, row: Instance, name: str, image_type: str,
                   extra: dict | None = None) -> dict:
        """The Glance create body of a snapshot of ``row`` (Nova's
        ``_initialize_instance_snapshot_metadata`` + ``_create_image``)."""
        base = dict(row.image or {})
        props: dict = {}
        try:
            found = self.compute.images.get(None, base.get("id") or "")
            props.update({p.name: p.value for p in found.properties})
        except exc.NotFound:
            pass  # the base image is gone: nothing to inherit
        for key in NOT_INHERITED:
            props.pop(key, None)
        if base.get("kumo_rootfs"):
            props["kumo_rootfs"] = base["kumo_rootfs"]
        props.update({
            "instance_uuid": row.id, "image_type": image_type,
            "base_image_ref": base.get("id") or "", "user_id": ctx.user_id or "",
            "owner_project_name": getattr(ctx, "project_name", None) or "",
            "owner_user_name": getattr(ctx, "user_name", None) or "",
            "boot_roles": ",".join(getattr(ctx, "roles", None) or [])})
        # The request's metadata comes last: Nova's create_image updates its own
        # properties with the extra ones, so {"image_type": "test"} is kept.
        props.update({k: str(v) for k, v in (extra or {}).items()})
        own = ctx.project_id == row.project_id
        return {"name": name, "visibility": "private" if own else "shared",
                "owner": row.project_id,
                "container_format": base.get("container_format") or "bare",
                "disk_format": base.get("disk_format") or "raw",
                "min_ram": int(base.get("min_ram") or 0),
                "min_disk": int(base.get("min_disk") or 0), **props}

    def start(self, ctx, sid: str, rid: str, action: str, kind: str, name: str,
              metadata: dict | None = None, extra: dict | None = None,
              pending: dict | None = None, apply=None) -> str:
        """Create the ``queued`` image and record the pending snapshot of server
        ``sid`` (kind ``snapshot``/``backup``/``shelve``); ``apply(session, row)`` changes
        more in the same write (shelve: power off). 409 in the wrong state, 403 past the
        metadata quota; nothing is left behind then. Returns the image id."""
        c = self.compute
        with c.read() as s:
            row = c.servers.get(s, ctx, sid)
            c.servers.check_unlocked(ctx, row)
            if row.vm_state not in STATES or row.task_state is not None:
                raise InstanceInvalidState(row, action)
            if metadata:
                c.quotas.check_metadata(s, row.project_id, metadata)
            body = self.image_body(ctx, row, name, {"shelve": "snapshot"}.get(kind, kind),
                                   {**(metadata or {}), **(extra or {})})
            boot = self.boot_volume(s, row)
        if boot is not None:
            if kind == "snapshot":
                return self._volume_backed(ctx, sid, rid, boot["volume_id"], body)
            raise exc.BadRequest("Backup is not supported for volume-backed instances.")
        made = c.images.create(ctx, body)

        def record(s, r):
            meta = dict(r.system_metadata or {})
            meta["snapshot"] = {"image_id": made.id, "kind": kind, **(pending or {})}
            r.system_metadata = meta
            r.task_state = TASKS[kind][0]
            if apply is not None:
                apply(s, r)
        try:
            c.actions.run(ctx, sid, action, rid, record, STATES)
        except Exception:
            try:
                c.images.delete(None, made.id)
            except exc.KumoError:
                pass
            raise
        return made.id

    def boot_volume(self, s, row: Instance) -> dict | None:
        """The server's boot volume (the feed's ``volumes`` item with ``boot``), or None
        when it boots from an image."""
        return next((v for v in self.compute.feed._volumes(s, [row.id]).get(row.id, [])
                     if v.get("boot")), None)

    def _volume_backed(self, ctx, sid: str, rid: str, volume_id: str, body: dict) -> str:
        """createImage of a server booted from a volume, as Nova's
        ``snapshot_volume_backed``: a (forced) snapshot of the boot volume named
        ``snapshot for <image name>``, and an ``active`` image without data (size 0)
        whose ``block_device_mapping`` names it (``bdm_v2``, ``root_device_name``)."""
        import json
        c = self.compute
        volumes = c.cloud.volumes
        vol = volumes.volumes.get(ctx, volume_id)
        snap = volumes.snapshots.create(ctx, {"volume_id": volume_id, "force": True,
                                              "name": f"snapshot for {body['name']}"})
        props = {k: v for k, v in body.items() if k != "kumo_rootfs"}
        props.update({"bdm_v2": "True", "root_device_name": "/dev/vda",
                      "block_device_mapping": json.dumps([{
                          "source_type": "snapshot", "destination_type": "volume",
                          "snapshot_id": snap.id, "volume_size": vol.size,
                          "boot_index": 0, "device_name": "/dev/vda",
                          "delete_on_termination": False, "device_type": "disk",
                          "disk_bus": None, "guest_format": None, "volume_id": None,
                          "image_id": None, "no_device": None, "tag": None,
                          "volume_type": None}])})
        made = c.images.create(ctx, props)
        try:
            c.images.upload(None, made.id, [b""])  # Nova activates it with no data
            with c.write() as s:
                row = c.servers.get(s, ctx, sid)
                c.actions.record(s, ctx, row, "createImage", rid, done=True)
        except Exception:
            self._delete(made.id)
            raise
        return made.id

    def boot_image(self, image_id: str) -> dict | None:
        """The feed's ``image`` facts of ``image_id`` (as a server's ``image``), or None
        when it is gone or not active."""
        try:
            image = self.compute.images.get(None, image_id)
        except exc.NotFound:
            return None
        if image.status != "active":
            return None
        props = {p.name: p.value for p in image.properties}
        return {"id": image.id, "name": image.name,
                "container_format": image.container_format,
                "disk_format": image.disk_format, "size": image.size,
                "checksum": image.checksum, "kumo_rootfs": props.get("kumo_rootfs"),
                "min_ram": image.min_ram, "min_disk": image.min_disk}

    # -- moves that carry the root filesystem (netns hosts) ------------------------------
    def transient(self, ctx, sid: str, kind: str, states=("active", "stopped")):
        """The hidden (``os_hidden``) transient image a move by stop and restart uploads
        the root filesystem into, created before the move's write (an image create is
        its own transaction); None when the server's host does not move instances that
        way (:data:`kumo.compute.lifecycle.MOVE_DRIVERS`) or the server is not in
        ``states`` without a task.
        The caller deletes it when the move does not use it."""
        from kumo.compute.lifecycle import MOVE_DRIVERS
        c = self.compute
        body = None
        with c.read() as s:
            row = c.servers.get(s, ctx, sid)
            src = s.scalar(sa.select(Host.driver).where(Host.host == row.host)) \
                if row.host else None
            if src in MOVE_DRIVERS and row.vm_state in states and row.task_state is None:
                name = {"resize": "resize"}.get(kind, "live-migration")
                body = self.image_body(ctx, row, f"{row.display_name}-{name}",
                                       "migration")
        return c.images.create(ctx, {**body, "os_hidden": True}) if body else None

    @staticmethod
    def movable(s, row, pick, transient) -> bool:
        """Whether the move of ``row`` to ``pick`` carries the root filesystem: a
        transient image was made and both hosts' drivers are in
        :data:`~kumo.compute.lifecycle.MOVE_DRIVERS`."""
        from kumo.compute.lifecycle import MOVE_DRIVERS
        if transient is None:
            return False
        drivers = dict(s.execute(sa.select(Host.host, Host.driver).where(
            Host.host.in_((row.host, pick.host)))).all())
        return all(drivers.get(h) in MOVE_DRIVERS for h in (row.host, pick.host))

    @staticmethod
    def pend_move(row, transient, pick, m, kind: str) -> bool:
        """Record the pending upload of the root filesystem of a move (kind ``migrate``:
        live, ``resize``: cold migration or resize to another host) and power the guest
        off; the rest happens when the upload lands
        (:meth:`kumo.compute.snapshots.Snapshots.finished`)."""
        meta = dict(row.system_metadata or {})
        meta["snapshot"] = {"image_id": transient.id, "kind": kind, "dest": pick.host,
                            "node": pick.node, "az": pick.az, "migration": m.uuid,
                            "power": row.power, "source_node": row.node,
                            "source_az": row.availability_zone}
        row.system_metadata = meta
        row.power, row.task_state = "off", TASKS[kind][0]
        return True

    # -- the agent side ------------------------------------------------------------
    def _pending(self, s, instance_id: str, image_id: str, host: str | None):
        row = s.scalar(sa.select(Instance).where(
            Instance.id == instance_id, Instance.deleted.is_(False)).with_for_update())
        if row is None:
            raise InstanceNotFound(id=instance_id)
        if host is not None and row.host != host:
            raise exc.Conflict(f"Instance {instance_id} is not on host {host}")
        pending = (row.system_metadata or {}).get("snapshot") or {}
        if pending.get("image_id") != image_id:
            raise exc.Conflict(f"Instance {instance_id} has no snapshot {image_id} "
                               "in progress")
        return row, pending

    def begin_upload(self, instance_id: str, image_id: str, host: str | None,
                     size: int | None):
        """Start the agent's upload of the snapshot data: the task becomes
        ``image_uploading`` (``shelving_image_uploading``) and the image ``saving``;
        returns the image store's :class:`~kumo.image.manager.Upload` wrapped so that
        its ``finish`` also ends the task (:meth:`finished`). 404/409 as
        :meth:`_pending` and Glance's upload (the image deleted: 404; not queued: 409)."""
        c = self.compute
        with c.db.session() as s:
            row, pending = self._pending(s, instance_id, image_id, host)
            row.task_state = TASKS[pending.get("kind", "snapshot")][1]
            row.updated_at = utcnow()
        upload = c.images.begin_upload(None, image_id, size)
        return _SnapshotSink(self, upload, instance_id, image_id, host)

    def finished(self, instance_id: str, image_id: str, host: str | None,
                 error: str | None = None) -> None:
        """End the pending snapshot ``image_id`` of the instance: its task, the instance
        action (``error`` marks it failed) and what follows (rotation, shelved state,
        offload). On ``error`` the image is deleted. 404/409 as :meth:`_pending`."""
        c = self.compute
        after = []
        boot = self.boot_image(image_id) if error is None else None
        with c.write(network=True) as s:
            row, pending = self._pending(s, instance_id, image_id, host)
            meta = dict(row.system_metadata or {})
            meta.pop("snapshot", None)
            kind = pending.get("kind", "snapshot")
            if kind in ("migrate", "resize"):
                self._moved(s, row, meta, pending, boot, error)
                if error is not None:
                    after.append(lambda: self._delete(image_id))
                for step in after:
                    after_commit(s, step)
                return
            if kind == "shelve" and error is None:
                meta.update({"shelved_image_id": image_id,
                             "shelved_at": utcnow().isoformat(),
                             "shelved_host": row.host or ""})
            row.system_metadata = meta
            row.task_state = None
            if kind == "shelve":
                row.power = "off"
                if error is None:
                    row.vm_state, row.power_state = "shelved", 4
                    if c.settings.shelved_offload_time == 0:
                        c.lifecycle._offload(s, row)
                else:
                    row.vm_state, row.power_state = "stopped", 4
            row.updated_at = utcnow()
            c.actions._finish(s, row, error)
            c.changed(s, row)
        if error is not None:
            LOG.warning("snapshot %s of instance %s failed: %s", image_id, instance_id,
                        error)
            after.append(lambda: self._delete(image_id))
        elif kind == "backup":
            after.append(lambda: self.rotate(instance_id, pending.get("backup_type") or "",
                                             int(pending.get("rotation") or 0)))
        for step in after:
            step()

    def _moved(self, s, row: Instance, meta: dict, pending: dict, boot: dict | None,
               error: str | None) -> None:
        """A move's root filesystem is uploaded (kind ``migrate``: live migration,
        ``resize``: cold migration or resize to another host): the instance leaves the
        source (a feed delete) and boots on the destination from the transient image.
        A live move's report of the guest running completes the migration and deletes
        the image (:meth:`kumo.compute.actions.Actions._booted`); a cold move's
        migration is ``finished`` and the server ends VERIFY_RESIZE, the image kept as
        the source's copy (``resize_image_id``) until confirmResize deletes it or
        revertResize boots the source from it. On ``error`` the instance stays and runs
        again on the source (a resize keeps its old flavor), the migration in ``error``."""
        from kumo.compute.models import Migration
        c = self.compute
        cold = pending.get("kind") == "resize"
        m = s.scalar(sa.select(Migration).where(Migration.uuid == pending.get("migration")))
        row.power = pending.get("power") or "on"
        if error is not None or boot is None:
            if m is not None:
                m.status, m.updated_at = "error", utcnow()
            if cold and row.old_flavor:
                old = row.old_flavor
                row.flavor = old
                row.vcpus, row.memory_mb, row.root_gb = old["vcpus"], old["ram"], \
                    old["disk"]
            if cold:
                row.old_flavor, row.old_host = None, None
            row.system_metadata = meta
            row.task_state = None
            c.actions._finish(s, row, error or "the transient image is gone")
        else:
            c.changed(s, row, "delete", host=row.host)
            row.host, row.node = pending["dest"], pending.get("node")
            row.availability_zone = pending.get("az") or row.availability_zone
            c.servers.rebind(s, row, row.host)
            meta["boot_image"] = boot
            if cold:
                meta["resize_image_id"] = boot["id"]
                meta["resize_source"] = {"node": pending.get("source_node"),
                                         "az": pending.get("source_az")}
                if m is not None:
                    m.status, m.updated_at = "finished", utcnow()
                if row.power == "off":
                    row.vm_state, row.task_state = "resized", None
                    c.actions._finish(s, row)
                else:
                    row.task_state = "resize_finish"
            else:
                meta["moved_image_id"] = boot["id"]
                if m is not None:
                    meta["moving_migration"] = m.uuid
                    m.updated_at = utcnow()
            row.system_metadata = meta
        row.updated_at = utcnow()
        c.changed(s, row)

    def _delete(self, image_id: str) -> None:
        try:
            self.compute.images.delete(None, image_id)
        except exc.KumoError:
            pass  # deleted already (or protected meanwhile: then it stays)

    def rotate(self, instance_id: str, backup_type: str, rotation: int) -> None:
        """Delete the oldest backups of ``backup_type`` of the instance beyond
        ``rotation`` (Nova's ``_rotate_backups``: rotation 0 deletes them all)."""
        found, _ = self.compute.images.list(None, {
            "instance_uuid": [instance_id], "image_type": ["backup"],
            "backup_type": [backup_type], "sort_key": ["created_at"],
            "sort_dir": ["desc"], "limit": ["1000"]})
        for old in found[rotation:]:
            self._delete(old.id)


class _SnapshotSink:
    """The image store's upload (a :class:`~kumo.common.http.BodySink`) that also ends
    the server's task once the image is ``active``."""

    def __init__(self, snapshots: Snapshots, upload, instance_id: str, image_id: str,
                 host: str | None):
        self.snapshots, self.upload = snapshots, upload
        self.instance_id, self.image_id, self.host = instance_id, image_id, host

    def write(self, chunk: bytes) -> None:
        self.upload.write(chunk)

    def finish(self) -> None:
        self.upload.finish()
        self.snapshots.finished(self.instance_id, self.image_id, self.host)

    def abort(self) -> None:
        self.upload.abort()
