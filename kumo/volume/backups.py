"""Volume backups (Block Storage API v3 "Backups"): create (full or incremental; an
in-use volume with ``force`` is read from a temporary snapshot, so the server keeps
running), list, show, update, delete, restore to a new or an existing volume,
export/import record, ``os-reset_status``. No HTTP here.

**The backup store** (setting ``volume_backup_dir``, default ``<state>/backups``) keeps
one directory per backup: ``chunks/<n>`` files of :data:`CHUNK` bytes (an all-zero
chunk is not stored) and ``map.json``, the backup's whole chunk map
``{n: [backup id holding it, sha256]}``. A full backup stores every non-zero chunk; an
incremental one only those whose hash differs from its parent's map, and refers to
the parent's files for the rest. So a restore reads one map, and a backup with
incremental children cannot be deleted (Cinder's rule). Files are 0600, directories
0700; a failed backup removes its directory.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.common.listing import CINDER
from kumo.common.timeutils import utcnow
from kumo.volume import models
from kumo.volume.drivers import GiB
from kumo.volume.errors import InvalidInput, NotFoundError, invalid_volume
from kumo.volume.volumes import is_admin

LOG = logging.getLogger(__name__)
CHUNK = 4 << 20
_ZERO = bytes(CHUNK)
SORT_COLUMNS = {"created_at": models.Backup.created_at, "id": models.Backup.id,
                "name": models.Backup.name, "size": models.Backup.size,
                "status": models.Backup.status, "updated_at": models.Backup.updated_at,
                "volume_id": models.Backup.volume_id}


def _data_chunks(fd: int, size: int):
    """The chunk numbers of a file that hold data: holes of a sparse file are skipped
    (``SEEK_DATA``/``SEEK_HOLE``), every chunk where the filesystem cannot tell."""
    total = -(-size // CHUNK)
    if not hasattr(os, "SEEK_DATA"):
        yield from range(total)
        return
    n = 0
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError:  # ENXIO: no data after offset
            return
        end = os.lseek(fd, start, os.SEEK_HOLE)
        first = max(n, start // CHUNK)
        last = -(-end // CHUNK)
        yield from range(first, last)
        n = last
        offset = max(end, last * CHUNK)


class Backups:
    def __init__(self, manager):
        self.m = manager
        self.root: Path = manager.backup_dir

    def store_ok(self) -> bool:
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            return os.access(self.root, os.W_OK)
        except OSError:
            return False

    # -- reads -------------------------------------------------------------------------
    def get(self, ctx, backup_id: str, s: orm.Session | None = None) -> models.Backup:
        def find(session):
            stmt = sa.select(models.Backup).where(models.Backup.id == backup_id)
            if not is_admin(ctx):
                stmt = stmt.where(models.Backup.project_id == ctx.project_id)
            backup = session.scalar(stmt)
            if backup is None:
                raise NotFoundError(f"Backup {backup_id} could not be found.")
            return backup
        if s is not None:
            return find(s)
        with self.m.read() as session:
            return find(session)

    def list(self, ctx, query, all_tenants: bool) -> tuple[list[models.Backup], bool]:
        B = models.Backup
        stmt = sa.select(B)
        if not (is_admin(ctx) and all_tenants):
            stmt = stmt.where(B.project_id == ctx.project_id)
        elif query.get("project_id"):
            stmt = stmt.where(B.project_id == query["project_id"])
        # the marker is looked up among the rows the caller may see (not the filters')
        visible = sa.select(B) if is_admin(ctx) else sa.select(B).where(
            B.project_id == ctx.project_id)
        for key, col in (("name", B.name), ("status", B.status), ("volume_id", B.volume_id)):
            if key in query:
                stmt = stmt.where(col == query[key])
        with self.m.read() as s:
            return CINDER.list(s, visible, stmt, query, SORT_COLUMNS, ("id", B.id))

    def has_dependents(self, s: orm.Session, backup_id: str) -> bool:
        return bool(s.scalar(sa.select(sa.func.count()).select_from(models.Backup).where(
            models.Backup.parent_id == backup_id)))

    # -- create ------------------------------------------------------------------------
    def create(self, ctx, body: dict) -> models.Backup:
        force = bool(body.get("force"))
        with self.m.write() as s:
            vol = self.m.volumes.get(ctx, body["volume_id"], s)
            snapshot = None
            if body.get("snapshot_id"):
                snapshot = self.m.snapshots.get(ctx, body["snapshot_id"], s)
                if snapshot.volume_id != vol.id:
                    raise InvalidInput("Invalid input received: the snapshot is not of "
                                       "the volume.")
                if snapshot.status != "available":
                    raise InvalidInput("Invalid snapshot: Snapshot to be backed up must "
                                       "be available, but the current status is "
                                       f"\"{snapshot.status}\".")
            elif vol.status == "in-use" and not force:
                raise invalid_volume(f"Volume to be backed up must be available or in-use, "
                                     f"but the current status is \"in-use\". Set force "
                                     "to back up an in-use volume.")
            elif vol.status not in ("available", "in-use"):
                raise invalid_volume(f"Volume to be backed up must be available or in-use, "
                                     f"but the current status is \"{vol.status}\".")
            parent = None
            if body.get("incremental"):
                parent = s.scalar(sa.select(models.Backup).where(
                    models.Backup.volume_id == vol.id, models.Backup.status == "available")
                    .order_by(models.Backup.data_timestamp.desc()).limit(1))
                if parent is None:
                    raise InvalidInput("Invalid backup: No backups available to do an "
                                       "incremental backup.")
            self.m.check_quota(s, vol.project_id, backups=1, backup_gigabytes=vol.size)
            now = utcnow()
            backup = models.Backup(
                id=str(uuid.uuid4()), volume_id=vol.id,
                snapshot_id=snapshot.id if snapshot else None, project_id=vol.project_id,
                user_id=ctx.user_id, name=body.get("name"),
                description=body.get("description"), size=vol.size, status="creating",
                container=body.get("container") or "volumebackups",
                availability_zone="nova", parent_id=parent.id if parent else None,
                is_incremental=parent is not None, object_count=0,
                metadata_json=body.get("metadata") or {}, data_timestamp=now,
                created_at=now, updated_at=now)
            s.add(backup)
            if snapshot is not None:
                snapshot.status = "backing-up"  # not deleted while it is read
            previous = vol.status
            if vol.status == "available":
                vol.status = "backing-up"
            _, driver = self.m.backend_of(vol.host)
        bid, vid, sid = backup.id, vol.id, backup.snapshot_id
        parent_id = backup.parent_id
        # the volume's metadata goes with the backup (restored with it, as Cinder's)
        vol_meta = {m.key: m.value for m in vol.metadata_items}
        self.m.backup_worker.submit(lambda: self._run_backup(bid, vid, sid, driver, previous,
                                                      parent_id, vol_meta),
                             lambda e: self._failed(bid, vid, previous, e))
        return backup

    @staticmethod
    def _release_snapshot(s, backup) -> None:
        if backup is not None and backup.snapshot_id:
            snap = s.get(models.Snapshot, backup.snapshot_id)
            if snap is not None and snap.status == "backing-up":
                snap.status = "available"

    def _failed(self, backup_id: str, volume_id: str, previous: str, e) -> None:
        shutil.rmtree(self.root / backup_id, ignore_errors=True)
        # the message first: whoever sees the backup in error finds it
        self.m.messages.backup_failed(backup_id)
        with self.m.write() as s:
            backup = s.get(models.Backup, backup_id)
            self._release_snapshot(s, backup)
            if backup is not None:
                backup.status = "error"
                backup.fail_reason = str(e)[:1000]
            vol = s.get(models.Volume, volume_id)
            if vol is not None and vol.status == "backing-up":
                vol.status = previous

    def _run_backup(self, backup_id, volume_id, snapshot_id, driver, previous,
                    parent_id, vol_meta: dict | None = None) -> None:
        temp_snap = None
        if snapshot_id is None and previous == "in-use":
            temp_snap = f"backup-{backup_id}"
            driver.create_snapshot(volume_id, temp_snap)
        try:
            path = driver.read_path(volume_id, snapshot_id or temp_snap)
            parent_map = self._map(parent_id) if parent_id else {}
            count = self._write_chunks(backup_id, path, parent_map, vol_meta)
        finally:
            if temp_snap:
                driver.delete_snapshot(temp_snap)
        with self.m.write() as s:
            backup = s.get(models.Backup, backup_id)
            self._release_snapshot(s, backup)
            backup.status = "available"
            backup.object_count = count
            backup.updated_at = utcnow()
            vol = s.get(models.Volume, volume_id)
            if vol is not None and vol.status == "backing-up":
                vol.status = previous

    def _map(self, backup_id: str) -> dict[str, list[str]]:
        return json.loads((self.root / backup_id / "map.json").read_text())["chunks"]

    def _write_chunks(self, backup_id: str, path: Path | None, parent_map: dict,
                      vol_meta: dict | None = None) -> int:
        """Store ``path``'s chunks (see the module doc) and, in ``map.json``, the
        volume's metadata; returns how many chunks were written."""
        where = self.root / backup_id
        (where / "chunks").mkdir(parents=True, mode=0o700)
        os.chmod(where, 0o700)
        chunks: dict[str, list[str]] = {}
        written = 0
        size = 0
        if path is not None:
            size = path.stat().st_size
            with open(path, "rb") as f:
                for n in _data_chunks(f.fileno(), size):
                    f.seek(n * CHUNK)
                    data = f.read(CHUNK)
                    if data == _ZERO[:len(data)]:
                        continue
                    digest = hashlib.sha256(data).hexdigest()
                    have = parent_map.get(str(n))
                    if have and have[1] == digest:
                        chunks[str(n)] = have
                        continue
                    fd = os.open(where / "chunks" / str(n),
                                 os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as out:
                        out.write(data)
                    chunks[str(n)] = [backup_id, digest]
                    written += 1
        fd = os.open(where / "map.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"size_bytes": size, "chunk_size": CHUNK, "chunks": chunks,
                       "volume_metadata": vol_meta or {}}, out)
        return written

    def assemble(self, backup_id: str, out: Path) -> None:
        """Write the backup's volume image to the new file ``out`` (sparse)."""
        meta = json.loads((self.root / backup_id / "map.json").read_text())
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.truncate(meta["size_bytes"])
            for n, (holder, _) in meta["chunks"].items():
                f.seek(int(n) * meta["chunk_size"])
                f.write((self.root / holder / "chunks" / n).read_bytes())

    # -- update, delete ----------------------------------------------------------------
    def update(self, ctx, backup_id: str, attrs: dict) -> models.Backup:
        with self.m.write() as s:
            backup = self.get(ctx, backup_id, s)
            for key in ("name", "description"):
                if key in attrs:
                    setattr(backup, key, attrs[key])
            if "metadata" in attrs:
                backup.metadata_json = attrs["metadata"] or {}
            backup.updated_at = utcnow()
            s.flush()
            return backup

    def delete(self, ctx, backup_id: str, force: bool = False) -> None:
        with self.m.write() as s:
            backup = self.get(ctx, backup_id, s)
            if not force and backup.status not in ("available", "error"):
                raise InvalidInput("Invalid backup: Backup status must be available or "
                                   "error")
            if self.has_dependents(s, backup.id):
                raise InvalidInput("Invalid backup: Incremental backups exist for this "
                                   "backup.")
            s.delete(backup)
        shutil.rmtree(self.root / backup_id, ignore_errors=True)

    def reset_status(self, ctx, backup_id: str, status: str) -> None:
        if status not in ("available", "error"):
            raise InvalidInput(f"Invalid input received: Must specify a valid status "
                               f"(got {status!r}).")
        with self.m.write() as s:
            backup = self.get(ctx, backup_id, s)
            backup.status = status

    # -- restore -----------------------------------------------------------------------
    def restore(self, ctx, backup_id: str, volume_id: str | None, name: str | None
                ) -> tuple[models.Backup, models.Volume]:
        """Restore into a new volume (a create from the backup) or into ``volume_id``
        (``available``, at least the backup's size)."""
        if volume_id is None:
            backup = self.get(ctx, backup_id)
            vol = self.m.volumes.create(ctx, {"size": backup.size, "backup_id": backup_id,
                                              "name": name or
                                              f"restore_backup_{backup_id}"})
            return backup, vol
        with self.m.write() as s:
            backup = self.get(ctx, backup_id, s)
            if backup.status != "available":
                raise InvalidInput("Invalid backup: Backup status must be available")
            target = self.m.volumes.get(ctx, volume_id, s)
            if target.status != "available" or target.attachments:
                raise invalid_volume(f"Volume to be restored to must be available, but "
                                     f"the current status is \"{target.status}\".")
            if target.size < backup.size:
                raise invalid_volume(f"volume size {target.size} is too small to restore "
                                     f"backup of size {backup.size}.")
            backup.status = "restoring"
            target.status = "restoring-backup"
            _, driver = self.m.backend_of(target.host)
            s.flush()
            s.refresh(target)
        self.m.backup_worker.submit(lambda: self._run_restore(backup_id, volume_id, driver),
                             lambda e: self._restore_failed(backup_id, volume_id, e))
        return backup, target

    def set_status(self, backup_id: str, status: str) -> None:
        with self.m.write() as s:
            backup = s.get(models.Backup, backup_id)
            if backup is not None:
                backup.status = status

    def restore_data(self, backup_id: str, volume_id: str, driver) -> None:
        """Write the backup's data over the volume's (in the worker), and merge the
        backed-up volume's metadata into the volume's (Cinder restores it too)."""
        self._restore_metadata(backup_id, volume_id)
        if driver.read_path(volume_id) is None:
            driver.write_from(volume_id, None)
            return
        tmp = self.root / f".restore-{backup_id}-{volume_id}"
        tmp.unlink(missing_ok=True)
        try:
            self.assemble(backup_id, tmp)
            driver.write_from(volume_id, tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def _restore_metadata(self, backup_id: str, volume_id: str) -> None:
        try:
            meta = json.loads((self.root / backup_id / "map.json").read_text()).get(
                "volume_metadata") or {}
        except (OSError, ValueError):
            return
        if not meta:
            return
        with self.m.write() as s:
            vol = s.get(models.Volume, volume_id)
            if vol is None:
                return
            have = {m.key: m for m in vol.metadata_items}
            for key, value in meta.items():
                if key in have:
                    have[key].value = value
                else:
                    vol.metadata_items.append(models.VolumeMetadata(
                        volume_id=vol.id, key=key, value=value))

    def _run_restore(self, backup_id: str, volume_id: str, driver) -> None:
        self.restore_data(backup_id, volume_id, driver)
        with self.m.write() as s:
            backup = s.get(models.Backup, backup_id)
            if backup is not None:
                backup.status = "available"
            vol = s.get(models.Volume, volume_id)
            vol.status = "available"
            vol.updated_at = utcnow()

    def _restore_failed(self, backup_id: str, volume_id: str, e) -> None:
        with self.m.write() as s:
            backup = s.get(models.Backup, backup_id)
            if backup is not None:
                backup.status = "available"
            vol = s.get(models.Volume, volume_id)
            if vol is not None:
                vol.status = "error_restoring"
                vol.error = str(e)

    # -- export/import (kumo/volume/backup_records.py) ---------------------------------
    def export_record(self, ctx, backup_id: str) -> dict:
        """Cinder's ``backup-record`` (``backup_service``, ``backup_url``)."""
        from kumo.volume import backup_records
        return backup_records.export_record(self, self.get(ctx, backup_id))

    def import_record(self, ctx, service: str, url: str) -> models.Backup:
        """The backup a record describes, ``available`` in the caller's project."""
        from kumo.volume import backup_records
        return backup_records.import_record(self, ctx, service, url)


__all__ = ["Backups", "CHUNK", "GiB"]
