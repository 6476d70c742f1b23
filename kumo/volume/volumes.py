"""Volumes (Block Storage API v3 "Volumes", "Volume actions"): create (empty, from an
image, a snapshot, another volume), list, update, delete (``cascade``), extend,
metadata, image metadata, bootable and read-only flags, ``os-reset_status``;
migration between backends and retype are in :mod:`kumo.volume.migration`. No HTTP
here.

Every request checks everything first, then writes in one
:meth:`~kumo.volume.manager.VolumeManager.write` (quota and backend capacity counted
inside it), so bad input changes nothing. The data step runs afterwards in the worker
and ends in ``available`` or ``error`` (see :mod:`kumo.volume.manager`).
"""
from __future__ import annotations

import logging
import time
import uuid

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.common import exceptions as exc
from kumo.common.listing import CINDER
from kumo.common.timeutils import utcnow
from kumo.volume import listing, models
from kumo.volume import messages as msgs
from kumo.volume.drivers import GiB
from kumo.volume.encryption import refuse_encrypted
from kumo.volume.errors import InvalidInput, NoValidBackend, NotFoundError, invalid_volume
from kumo.volume.migration import Migration

LOG = logging.getLogger(__name__)

#: Statuses a volume may be deleted in (Cinder's ``volume.api.API.delete``).
DELETABLE = ("available", "error", "error_restoring", "error_extending",
             "error_managing")
#: Cinder's ``os-reset_status`` accepts these.
VALID_STATUSES = ("creating", "available", "deleting", "error", "error_deleting",
                  "error_managing", "managing", "attaching", "in-use", "detaching",
                  "maintenance", "reserved", "awaiting-transfer", "backing-up",
                  "restoring-backup", "error_restoring", "error_extending",
                  "downloading", "uploading", "retyping", "extending")
SORT_COLUMNS = {"created_at": models.Volume.created_at, "updated_at": models.Volume.updated_at,
                "id": models.Volume.id, "name": models.Volume.name,
                "display_name": models.Volume.name, "size": models.Volume.size,
                "status": models.Volume.status, "availability_zone":
                    models.Volume.availability_zone, "bootable": models.Volume.bootable,
                "project_id": models.Volume.project_id}


def is_admin(ctx) -> bool:
    return ctx is None or ctx.is_admin


def image_rootfs(image) -> bool:
    return any(p.name == "kumo_rootfs" and p.value == "tar" for p in image.properties)


class Volumes(Migration):
    def __init__(self, manager):
        self.m = manager

    # -- reads -------------------------------------------------------------------------
    def _scoped(self, ctx, stmt, all_tenants: bool = False, project_id: str | None = None):
        if is_admin(ctx) and (all_tenants or project_id):
            if project_id:
                stmt = stmt.where(models.Volume.project_id == project_id)
            return stmt
        return stmt.where(models.Volume.project_id == ctx.project_id) if ctx else stmt

    def summary(self, ctx, all_tenants: bool) -> tuple[int, int, dict[str, list[str]]]:
        """``GET /v3/volumes/summary`` (3.12): how many volumes the caller sees, their
        total GiB, and (3.36) every metadata key with the values it has among them."""
        V, M = models.Volume, models.VolumeMetadata
        with self.m.read() as s:
            count, size = s.execute(self._scoped(ctx, sa.select(
                sa.func.count(), sa.func.coalesce(sa.func.sum(V.size), 0)),
                all_tenants)).one()
            meta: dict[str, list[str]] = {}
            for key, value in s.execute(self._scoped(ctx, sa.select(M.key, M.value)
                                                     .join(V, V.id == M.volume_id),
                                                     all_tenants)
                                        .distinct().order_by(M.key, M.value)):
                meta.setdefault(key, []).append(value)
        return count, size, meta

    def get(self, ctx, volume_id: str, s: orm.Session | None = None) -> models.Volume:
        """The volume if the caller's project owns it (admins: any); 404 otherwise."""
        def find(session):
            stmt = sa.select(models.Volume).where(models.Volume.id == volume_id)
            if not is_admin(ctx):
                stmt = stmt.where(models.Volume.project_id == ctx.project_id)
            vol = session.scalar(stmt)
            if vol is None:
                raise NotFoundError(f"Volume {volume_id} could not be found.")
            return vol
        if s is not None:
            return find(s)
        with self.m.read() as session:
            return find(session)

    def list(self, ctx, query, all_tenants: bool, with_count: bool = False
             ) -> tuple[list[models.Volume], bool, int | None]:
        """A page of volumes, whether more follow, and (``with_count``) how many match
        in all."""
        V = models.Volume
        stmt = self._scoped(ctx, sa.select(V), all_tenants, query.get("project_id")
                            if is_admin(ctx) else None)
        # the marker is looked up among the rows the caller may see (not the filters')
        visible = sa.select(V) if is_admin(ctx) else sa.select(V).where(
            V.project_id == ctx.project_id)
        for key, col in (("name", V.name), ("display_name", V.name), ("status", V.status),
                         ("availability_zone", V.availability_zone), ("size", V.size),
                         ("id", V.id)):
            if key in query:
                value = query[key]
                if key == "size":
                    try:
                        value = int(value)
                    except ValueError:
                        raise InvalidInput("Invalid input received: size must be an "
                                           "integer") from None
                stmt = stmt.where(col == value)
        if "bootable" in query:
            stmt = stmt.where(V.bootable == (query["bootable"].lower() in
                                             ("true", "1", "yes", "t")))
        if "volume_type" in query:
            stmt = stmt.join(models.VolumeType).where(sa.or_(
                models.VolumeType.name == query["volume_type"],
                models.VolumeType.id == query["volume_type"]))
        if "metadata" in query:
            for key, value in listing.parse_dict(query["metadata"], "metadata").items():
                stmt = stmt.where(sa.select(models.VolumeMetadata.volume_id).where(
                    models.VolumeMetadata.volume_id == V.id,
                    models.VolumeMetadata.key == key,
                    models.VolumeMetadata.value == value).exists())
        if "glance_metadata" in query:
            for key, value in listing.parse_dict(query["glance_metadata"],
                                                 "glance_metadata").items():
                stmt = stmt.where(sa.select(models.VolumeImageMetadata.volume_id).where(
                    models.VolumeImageMetadata.volume_id == V.id,
                    models.VolumeImageMetadata.key == key,
                    models.VolumeImageMetadata.value == value).exists())
        with self.m.read() as s:
            count = s.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) \
                if with_count else None
            rows, more = CINDER.list(s, visible, stmt, query, SORT_COLUMNS, ("id", V.id))
            return rows, more, count

    # -- create ------------------------------------------------------------------------
    def create(self, ctx, body: dict) -> models.Volume:
        """Create from a validated ``volume`` body; returns the ``creating`` row."""
        snapshot = source = image = None
        size = body.get("size")
        size = int(size) if size is not None else None
        if size is not None and not 1 <= size <= 2 ** 31 - 1:
            raise InvalidInput(f"Invalid input received: Volume size '{size}' must be an "
                               "integer and greater than 0.")
        sources = [k for k in ("snapshot_id", "source_volid", "imageRef", "backup_id")
                   if body.get(k)]
        if len(sources) > 1:
            raise InvalidInput("Invalid input received: only one of snapshot_id, "
                               "source_volid, imageRef and backup_id may be given.")
        with self.m.read() as s:
            if body.get("snapshot_id"):
                snapshot = self.m.snapshots.get(ctx, body["snapshot_id"], s)
                if snapshot.status != "available":
                    raise InvalidInput(f"Invalid snapshot: Originating snapshot status "
                                       f"must be one of 'available' values")
                size = size if size is not None else snapshot.size
                if size < snapshot.size:
                    raise InvalidInput(f"Invalid input received: Volume size '{size}'GB "
                                       f"cannot be smaller than the snapshot size "
                                       f"{snapshot.size}GB. They must be >= original "
                                       "snapshot size.")
            if body.get("source_volid"):
                source = self.get(ctx, body["source_volid"], s)
                if source.status not in ("available", "in-use"):
                    raise invalid_volume("Unable to clone volumes that are in an error "
                                         "state")
                size = size if size is not None else source.size
                if size < source.size:
                    raise InvalidInput(f"Invalid input received: Volume size '{size}'GB "
                                       "cannot be smaller than original volume size "
                                       f"{source.size}GB. They must be >= original "
                                       "volume size.")
            backup = None
            if body.get("backup_id"):
                backup = self.m.backups.get(ctx, body["backup_id"], s)
                if backup.status != "available":
                    raise InvalidInput("Invalid backup: Backup status must be available")
                size = size if size is not None else backup.size
                if size < backup.size:
                    raise InvalidInput(f"Invalid input received: Volume size {size}GB "
                                       "cannot be smaller than the backup size "
                                       f"{backup.size}GB.")
            if body.get("imageRef"):
                image = self._image(ctx, body["imageRef"])
                image_gb = -(-(image.size or 0) // GiB)
                need = max(image.min_disk or 0, image_gb)
                if size is None:
                    raise InvalidInput("Invalid input received: size is required when "
                                       "creating a volume from an image")
                if image.min_disk and size < image.min_disk:
                    raise InvalidInput(f"Invalid input received: Volume size {size}GB "
                                       "cannot be smaller than the image minDisk size "
                                       f"{image.min_disk}GB.")
                if size < need:
                    raise InvalidInput(f"Invalid input received: Size of specified "
                                       f"image {image_gb}GB is larger than volume size "
                                       f"{size}GB.")
            if size is None:
                raise InvalidInput("Invalid input received: size is required")
            if body.get("volume_type"):
                vtype = self.m.get_type(ctx, body["volume_type"], s)
            elif snapshot is not None or source is not None:
                origin = source or s.get(models.Volume, snapshot.volume_id)
                vtype = origin.volume_type
            else:
                vtype = self.m.default_type(s)
            refuse_encrypted(vtype)
            if source is not None or snapshot is not None:  # made where its data is
                origin = source or s.get(models.Volume, snapshot.volume_id)
                backend = self.m.backend_of(origin.host)[0]
            else:
                # None: no backend can take the type; the volume is made and ends in
                # error with Cinder's "No valid backend" user message (the scheduler's)
                backend = self.m.schedule(vtype)
            zone = body.get("availability_zone") or "nova"
            if zone != "nova":
                raise InvalidInput(f"Invalid input received: Availability zone '{zone}' "
                                   "is invalid.")
        now = utcnow()
        vol = models.Volume(
            id=str(uuid.uuid4()), project_id=ctx.project_id, user_id=ctx.user_id,
            name=body.get("name"), description=body.get("description"), size=size,
            status="creating", attach_status="detached", availability_zone=zone,
            host=self.m.host_of(backend) if backend else None, volume_type_id=vtype.id,
            snapshot_id=snapshot.id if snapshot else None,
            source_volid=source.id if source else None,
            image_id=image.id if image else None,
            backup_id=backup.id if backup else None,
            multiattach=bool(body.get("multiattach")), bootable=False,
            created_at=now, updated_at=now)
        vol.metadata_items = [models.VolumeMetadata(key=k, value=v) for k, v in
                              (body.get("metadata") or {}).items()]
        if image is not None:
            vol.image_metadata = [models.VolumeImageMetadata(key=k, value=v)
                                  for k, v in self._image_metadata(image).items()]
        elif source is not None or snapshot is not None:
            with self.m.read() as s:
                origin = source or s.get(models.Volume, snapshot.volume_id)
                vol.image_metadata = [models.VolumeImageMetadata(key=i.key, value=i.value)
                                      for i in origin.image_metadata]
                vol.bootable = origin.bootable
        with self.m.write() as s:
            if body.get("group_id"):  # 3.13: the group must take this type
                vol.group_id = self.m.groups.check_join(s, ctx, body["group_id"],
                                                        vtype.id).id
            self.m.check_quota(s, ctx.project_id, volumes=1, gigabytes=size,
                               per_volume_gigabytes=size, volume_type_id=vtype.id)
            if backend is not None:
                self.m.check_capacity(s, backend, size)
            if backup is not None:
                backup = self.m.backups.get(ctx, backup.id, s)
                if backup.status != "available":
                    raise InvalidInput("Invalid backup: Backup status must be available")
                backup.status = "restoring"
            s.add(vol)
            s.flush()
            s.refresh(vol)
        driver = self.m.backends[backend] if backend else None
        failure = msgs.create_failure(vol.id, backend is not None, image is not None,
                                      backup.id if backup else None,
                                      snapshot is not None or source is not None)
        if backend is None:
            def step():
                if backup is not None:
                    self.m.backups.set_status(backup.id, "available")
                raise NoValidBackend(f"No valid backend was found. No backend can take "
                                     f"volumes of type {vtype.name}.")
        elif snapshot is not None:
            step = lambda: driver.from_snapshot(snapshot.id, vol.id, size)  # noqa: E731
        elif source is not None:
            step = lambda: driver.clone(source.id, vol.id, size)  # noqa: E731
        elif image is not None:
            path = self.m.images.store.path(image.id)
            key = f"{image.id}-{image.checksum or (image.os_hash_value or '')[:32]}"
            rootfs = image_rootfs(image)

            def step():
                if not driver.cached(key):  # a cache hit is a copy, not a download
                    self._set(vol.id, status="downloading")
                started = time.monotonic()
                hit = driver.from_image(vol.id, size, path, key, rootfs)
                LOG.info("volume %s from image %s: %s (%.0f ms)", vol.id, image.id,
                         "image cache hit" if hit else "image cache miss",
                         (time.monotonic() - started) * 1000)
        elif backup is not None:
            backup_id = backup.id

            def step():
                driver.create(vol.id, size)
                self._set(vol.id, status="restoring-backup")
                try:
                    self.m.backups.restore_data(backup_id, vol.id, driver)
                finally:
                    self.m.backups.set_status(backup_id, "available")
        else:
            step = lambda: driver.create(vol.id, size)  # noqa: E731

        def failed(e):  # the message first: whoever sees the status finds it
            self.m.messages.record_failure(failure, e)
            self._set(vol.id, status="error", error=str(e))
        self.m.worker.submit(lambda: self._finish_create(vol.id, step, image is not None),
                             failed)
        return vol

    def _finish_create(self, volume_id: str, step, from_image: bool) -> None:
        step()
        fields = {"status": "available"}
        if from_image:
            fields["bootable"] = True
        self._set(volume_id, **fields)

    def _set(self, volume_id: str, **fields) -> None:
        with self.m.write() as s:
            vol = s.get(models.Volume, volume_id)
            if vol is None:
                return
            for key, value in fields.items():
                setattr(vol, key, value)
            vol.updated_at = utcnow()

    def _image(self, ctx, image_id: str):
        try:
            image = self.m.images.get(ctx, image_id)
        except exc.NotFound:
            raise InvalidInput(f"Invalid image identifier or unable to access requested "
                               f"image.") from None
        if image.status != "active":
            raise InvalidInput(f"Invalid image identifier or unable to access requested "
                               f"image: image {image_id} is not active.")
        return image

    @staticmethod
    def _image_metadata(image) -> dict[str, str]:
        meta = {"image_id": image.id, "image_name": image.name or "",
                "checksum": image.checksum or "", "container_format":
                    image.container_format or "", "disk_format": image.disk_format or "",
                "min_disk": str(image.min_disk), "min_ram": str(image.min_ram),
                "size": str(image.size or 0)}
        for p in image.properties:
            meta.setdefault(p.name, p.value)
        return meta

    # -- update, delete ----------------------------------------------------------------
    def update(self, ctx, volume_id: str, attrs: dict) -> models.Volume:
        with self.m.write() as s:
            vol = self.get(ctx, volume_id, s)
            for key in ("name", "description"):
                if key in attrs:
                    setattr(vol, key, attrs[key])
            if "metadata" in attrs:
                vol.metadata_items = [models.VolumeMetadata(key=k, value=v)
                                      for k, v in (attrs["metadata"] or {}).items()]
            vol.updated_at = utcnow()
            s.flush()
            return vol

    def delete(self, ctx, volume_id: str, cascade: bool = False, force: bool = False
               ) -> None:
        """Start deleting (``deleting``); the worker removes data and row."""
        with self.m.write() as s:
            vol = self.get(ctx, volume_id, s)
            if not force:
                if vol.status not in DELETABLE or vol.attachments or vol.group_id or \
                        vol.migration_status in ("migrating", "starting"):
                    raise invalid_volume(
                        "Volume status must be available or error or error_restoring or "
                        "error_extending or error_managing and must not be migrating, "
                        "attached, belong to a group, have snapshots, awaiting a "
                        "transfer, or be disassociated from snapshots after volume "
                        "transfer.")
            snaps = list(s.scalars(sa.select(models.Snapshot).where(
                models.Snapshot.volume_id == vol.id)))
            if snaps and not cascade:
                raise invalid_volume("Volume has dependent snapshots: delete them first "
                                     "or delete with cascade.")
            if any(sn.group_snapshot_id for sn in snaps):
                raise invalid_volume("Volume has snapshots in a group snapshot: delete "
                                     "the group snapshot first.")
            if cascade and any(sn.status not in ("available", "error", "deleting")
                               for sn in snaps):
                raise invalid_volume("Snapshot of the volume is in an invalid state "
                                     "for deletion.")
            if force and vol.attachments:
                vol.attachments.clear()
            for sn in snaps:
                sn.status = "deleting"
            vol.status = "deleting"
            vol.updated_at = utcnow()
        self.m.worker.submit(lambda: self.finish_delete(volume_id),
                             lambda e: self._set(volume_id, status="error_deleting",
                                                 error=str(e)))

    def finish_delete(self, volume_id: str) -> None:
        with self.m.read() as s:
            vol = s.get(models.Volume, volume_id)
            if vol is None:
                return
            host = vol.host
            snap_ids = list(s.scalars(sa.select(models.Snapshot.id).where(
                models.Snapshot.volume_id == volume_id)))
        _, driver = self.m.backend_of(host)
        for sid in snap_ids:
            driver.delete_snapshot(sid)
        driver.delete(volume_id)
        with self.m.write() as s:
            s.execute(sa.delete(models.SnapshotMetadata).where(
                models.SnapshotMetadata.snapshot_id.in_(snap_ids)))
            s.execute(sa.delete(models.Snapshot).where(models.Snapshot.id.in_(snap_ids)))
            vol = s.get(models.Volume, volume_id)
            if vol is not None:
                s.delete(vol)

    # -- actions -----------------------------------------------------------------------
    def extend(self, ctx, volume_id: str, new_size: int, attached_ok: bool) -> None:
        with self.m.write() as s:
            vol = self.get(ctx, volume_id, s)
            allowed = ("available", "in-use") if attached_ok else ("available",)
            if vol.status not in allowed:
                raise invalid_volume(f"Volume status must be {' or '.join(allowed)} to "
                                     f"extend, but current status is: {vol.status}.")
            if new_size <= vol.size:
                raise InvalidInput(f"Invalid input received: New size for extend must be "
                                   f"greater than current size. (current: {vol.size}, "
                                   f"extended: {new_size}).")
            delta = new_size - vol.size
            self.m.check_quota(s, vol.project_id, gigabytes=delta,
                               per_volume_gigabytes=new_size,
                               volume_type_id=vol.volume_type_id)
            backend, driver = self.m.backend_of(vol.host)
            self.m.check_capacity(s, backend, delta)
            old_size, old_status = vol.size, vol.status
            vol.size = new_size
            vol.status = "extending"
            vol.updated_at = utcnow()
        self.m.worker.submit(
            lambda: (driver.extend(volume_id, new_size),
                     self._set(volume_id, status=old_status),
                     self.m.attachments.volume_changed(volume_id)),
            lambda e: (self.m.messages.record(msgs.EXTEND_VOLUME,
                                              msgs.DRIVER_FAILED_EXTEND,
                                              resource_uuid=volume_id),
                       self._set(volume_id, status="error_extending", size=old_size,
                                 error=str(e))))

    def set_metadata(self, ctx, volume_id: str, meta: dict, replace: bool) -> dict:
        with self.m.write() as s:
            vol = self.get(ctx, volume_id, s)
            if vol.status == "maintenance":
                raise invalid_volume("Volume is in maintenance.")
            have = {} if replace else {m.key: m.value for m in vol.metadata_items}
            have.update(meta)
            vol.metadata_items = [models.VolumeMetadata(key=k, value=v)
                                  for k, v in have.items()]
            vol.updated_at = utcnow()
            return have

    def delete_metadata(self, ctx, volume_id: str, key: str) -> None:
        with self.m.write() as s:
            vol = self.get(ctx, volume_id, s)
            item = next((m for m in vol.metadata_items if m.key == key), None)
            if item is None:
                raise NotFoundError(f"Volume {volume_id} has no metadata with key {key}.")
            vol.metadata_items.remove(item)

    def set_image_metadata(self, ctx, volume_id: str, meta: dict) -> dict:
        with self.m.write() as s:
            vol = self.get(ctx, volume_id, s)
            have = {m.key: m for m in vol.image_metadata}
            for key, value in meta.items():
                if key in have:
                    have[key].value = value
                else:
                    vol.image_metadata.append(models.VolumeImageMetadata(key=key,
                                                                         value=value))
            return {m.key: m.value for m in vol.image_metadata}

    def unset_image_metadata(self, ctx, volume_id: str, key: str) -> None:
        with self.m.write() as s:
            vol = self.get(ctx, volume_id, s)
            item = next((m for m in vol.image_metadata if m.key == key), None)
            if item is None:
                raise NotFoundError(f"Glance metadata for volume {volume_id} with key "
                                    f"{key} could not be found.")
            vol.image_metadata.remove(item)

    def set_flag(self, ctx, volume_id: str, **flags: bool) -> None:
        with self.m.write() as s:
            vol = self.get(ctx, volume_id, s)
            if "readonly" in flags and vol.status not in ("available", "in-use"):
                raise invalid_volume(f"Volume status must be available or in-use to "
                                     f"update its read-only flag, but current status is: "
                                     f"{vol.status}.")
            for key, value in flags.items():
                setattr(vol, key, value)
            if "readonly" in flags:
                # Cinder keeps the flag as admin metadata, which volume show and
                # lists include in ``metadata`` ("True"/"False", as Tempest reads it)
                value = "True" if flags["readonly"] else "False"
                item = next((m for m in vol.metadata_items if m.key == "readonly"), None)
                if item is None:
                    vol.metadata_items.append(models.VolumeMetadata(key="readonly",
                                                                    value=value))
                else:
                    item.value = value
            vol.updated_at = utcnow()

    def reset_status(self, ctx, volume_id: str, status: str | None,
                     attach_status: str | None, migration_status: str | None) -> None:
        if status is not None and status not in VALID_STATUSES:
            raise InvalidInput(f"Invalid input received: Must specify a valid status "
                               f"(got {status!r}).")
        if attach_status is not None and attach_status not in ("attached", "detached"):
            raise InvalidInput(f"Invalid input received: Must specify a valid attach "
                               f"status (got {attach_status!r}).")
        with self.m.write() as s:
            vol = self.get(ctx, volume_id, s)
            if status is not None:
                vol.status = status
            if attach_status is not None:
                vol.attach_status = attach_status
            if migration_status is not None:
                vol.migration_status = None if migration_status == "none" \
                    else migration_status
            vol.updated_at = utcnow()
