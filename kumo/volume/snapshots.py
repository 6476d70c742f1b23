"""Volume snapshots (Block Storage API v3 "Volume snapshots"): create (``force`` for
an in-use volume), list, show, update, delete, metadata, ``os-reset_status``. The
backend copies the volume's data (a reflink where it can). No HTTP here."""
from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.common.listing import CINDER
from kumo.common.timeutils import utcnow
from kumo.volume import listing, models
from kumo.volume import messages as msgs
from kumo.volume.errors import InvalidInput, NotFoundError, invalid_volume
from kumo.volume.volumes import is_admin

SORT_COLUMNS = {"created_at": models.Snapshot.created_at,
                "updated_at": models.Snapshot.updated_at, "id": models.Snapshot.id,
                "name": models.Snapshot.name, "display_name": models.Snapshot.name,
                "size": models.Snapshot.size, "status": models.Snapshot.status,
                "volume_id": models.Snapshot.volume_id}
LOG = logging.getLogger(__name__)
STATUSES = ("creating", "available", "deleting", "error", "error_deleting",
            "backing-up", "restoring")


class Snapshots:
    def __init__(self, manager):
        self.m = manager

    def get(self, ctx, snapshot_id: str, s: orm.Session | None = None) -> models.Snapshot:
        def find(session):
            stmt = sa.select(models.Snapshot).where(models.Snapshot.id == snapshot_id)
            if not is_admin(ctx):
                stmt = stmt.where(models.Snapshot.project_id == ctx.project_id)
            snap = session.scalar(stmt)
            if snap is None:
                raise NotFoundError(f"Snapshot {snapshot_id} could not be found.")
            return snap
        if s is not None:
            return find(s)
        with self.m.read() as session:
            return find(session)

    def list(self, ctx, query, all_tenants: bool) -> tuple[list[models.Snapshot], bool]:
        S = models.Snapshot
        stmt = sa.select(S)
        if not (is_admin(ctx) and all_tenants):
            stmt = stmt.where(S.project_id == ctx.project_id)
        elif query.get("project_id"):
            stmt = stmt.where(S.project_id == query["project_id"])
        # the marker is looked up among the rows the caller may see (not the filters')
        visible = sa.select(S) if is_admin(ctx) else sa.select(S).where(
            S.project_id == ctx.project_id)
        for key, col in (("name", S.name), ("status", S.status), ("volume_id", S.volume_id)):
            if key in query:
                stmt = stmt.where(col == query[key])
        if "metadata" in query:
            for key, value in listing.parse_dict(query["metadata"], "metadata").items():
                stmt = stmt.where(sa.select(models.SnapshotMetadata.snapshot_id).where(
                    models.SnapshotMetadata.snapshot_id == S.id,
                    models.SnapshotMetadata.key == key,
                    models.SnapshotMetadata.value == value).exists())
        with self.m.read() as s:
            return CINDER.list(s, visible, stmt, query, SORT_COLUMNS, ("id", S.id))

    def create(self, ctx, body: dict) -> models.Snapshot:
        force = body.get("force", False)
        with self.m.write() as s:
            vol = self.m.volumes.get(ctx, body["volume_id"], s)
            ok = ("available", "in-use") if force else ("available",)
            if vol.status not in ok:
                raise invalid_volume(f"Volume {vol.id} status must be available, but "
                                     f"current status is: {vol.status}." if not force
                                     else f"Volume {vol.id} status must be available or "
                                     f"in-use, but current status is: {vol.status}.")
            self.m.check_quota(s, vol.project_id, snapshots=1, gigabytes=vol.size,
                               volume_type_id=vol.volume_type_id)
            now = utcnow()
            snap = models.Snapshot(
                id=str(uuid.uuid4()), volume_id=vol.id, project_id=vol.project_id,
                user_id=ctx.user_id, name=body.get("name"),
                description=body.get("description"), size=vol.size, status="creating",
                progress="0%", created_at=now, updated_at=now)
            snap.metadata_items = [models.SnapshotMetadata(key=k, value=v) for k, v in
                                   (body.get("metadata") or {}).items()]
            s.add(snap)
            s.flush()
            s.refresh(snap)
            _, driver = self.m.backend_of(vol.host)
        sid, vid = snap.id, vol.id
        self.m.worker.submit(
            lambda: (driver.create_snapshot(vid, sid),
                     self._set(sid, status="available", progress="100%")),
            lambda e: (self.m.messages.record(  # first: who sees the error finds it
                msgs.SNAPSHOT_CREATE, msgs.SNAPSHOT_CREATE_ERROR, msgs.VOLUME_SNAPSHOT,
                sid), self._set(sid, status="error")))
        return snap

    def _set(self, snapshot_id: str, **fields) -> None:
        with self.m.write() as s:
            snap = s.get(models.Snapshot, snapshot_id)
            if snap is None:
                return
            for key, value in fields.items():
                setattr(snap, key, value)
            snap.updated_at = utcnow()

    def update_status(self, ctx, snapshot_id: str, status: str,
                      progress: str | None) -> None:
        """``os-update_snapshot_status`` (Cinder's "Update database fields of
        snapshot"): a ``creating`` snapshot may become ``creating``, ``available`` or
        ``error``, a ``deleting`` one ``deleting`` or ``error_deleting``; anything
        else is a 400. ``progress`` (a string such as "80%") is stored as given."""
        allowed = {"creating": ("creating", "available", "error"),
                   "deleting": ("deleting", "error_deleting")}
        with self.m.write() as s:
            snap = self.get(ctx, snapshot_id, s)
            if snap.status not in allowed:
                raise InvalidInput(f"Invalid input received: Snapshot status "
                                   f"{snap.status} not allowed for "
                                   f"update_snapshot_status")
            if status not in allowed[snap.status]:
                raise InvalidInput(f"Invalid input received: Provided snapshot status "
                                   f"{status} not allowed for snapshot with status "
                                   f"{snap.status}.")
            snap.status = status
            if progress is not None:
                snap.progress = progress
            snap.updated_at = utcnow()

    def assisted(self, op: str, volume_id: str, snapshot_id: str) -> bool:
        """The hypervisor's part of Nova's ``os-assisted-volume-snapshots`` (the calls
        Cinder's file-based remotefs drivers make to Nova for an attached volume), done
        with Kumo's own storage. ``op`` is ``create`` or ``delete``.

        When snapshot ``snapshot_id`` of volume ``volume_id`` exists in status
        ``creating`` (``deleting`` for ``delete``), the volume worker (the API call does
        not wait) takes it through the volume's backend: ``driver.create_snapshot``, the
        call a snapshot of an in-use volume makes (``delete_snapshot`` for ``delete``);
        then it finishes as Cinder's remotefs driver does once libvirt has reported
        (libvirt's own 90% report would only be visible between two transactions):
        ``available`` with progress ``100%`` (for ``delete``: the row is removed). A
        failed backend step sets ``error`` (with the user message a failed snapshot
        create leaves) or ``error_deleting``. A snapshot whose status changed meanwhile
        is left as it is. Returns True once the step is submitted.

        Otherwise (no such snapshot, another volume's, another status: Tempest sends a
        random id, and Nova in front of an LVM-backed Cinder sees the same) nothing
        changes, a warning is logged and False is returned."""
        want = "creating" if op == "create" else "deleting"
        with self.m.read() as s:
            snap = s.get(models.Snapshot, snapshot_id)
            vol = s.get(models.Volume, volume_id)
            if snap is None or vol is None or snap.volume_id != volume_id \
                    or snap.status != want:
                LOG.warning(
                    "assisted snapshot %s of volume %s: no snapshot %s of that volume "
                    "in status %s here; nothing done", op, volume_id, snapshot_id, want)
                return False
            project_id = snap.project_id
            _, driver = self.m.backend_of(vol.host)

        def still(s) -> models.Snapshot | None:
            row = s.get(models.Snapshot, snapshot_id)
            return row if row is not None and row.status == want else None

        def step():
            if op == "create":
                driver.create_snapshot(volume_id, snapshot_id)
            else:
                driver.delete_snapshot(snapshot_id)
            with self.m.write() as s:  # the copy is the whole snapshot here
                row = still(s)
                if row is not None and op == "create":
                    row.status, row.progress, row.updated_at = \
                        "available", "100%", utcnow()
                elif row is not None:
                    s.delete(row)

        def failed(_e):
            if op == "create":
                self.m.messages.record(msgs.SNAPSHOT_CREATE, msgs.SNAPSHOT_CREATE_ERROR,
                                       msgs.VOLUME_SNAPSHOT, snapshot_id,
                                       project_id=project_id)
            with self.m.write() as s:
                row = still(s)
                if row is not None:
                    row.status = "error" if op == "create" else "error_deleting"
                    row.updated_at = utcnow()
        self.m.worker.submit(step, failed)
        return True

    def update(self, ctx, snapshot_id: str, attrs: dict) -> models.Snapshot:
        with self.m.write() as s:
            snap = self.get(ctx, snapshot_id, s)
            for key in ("name", "description"):
                if key in attrs:
                    setattr(snap, key, attrs[key])
            snap.updated_at = utcnow()
            s.flush()
            return snap

    def delete(self, ctx, snapshot_id: str, force: bool = False) -> None:
        with self.m.write() as s:
            snap = self.get(ctx, snapshot_id, s)
            if snap.group_snapshot_id:
                raise InvalidInput("Invalid snapshot: Volume Snapshot status must be "
                                   "available or error and must not be part of a group "
                                   f"(it is in group snapshot {snap.group_snapshot_id}).")
            if not force and snap.status not in ("available", "error"):
                raise InvalidInput("Invalid snapshot: Volume Snapshot status must be "
                                   "available or error and must not be part of a group.")
            used = s.scalar(sa.select(sa.func.count()).select_from(models.Volume).where(
                models.Volume.snapshot_id == snap.id, models.Volume.status == "creating"))
            if used:
                raise InvalidInput("Invalid snapshot: a volume is being created from it.")
            snap.status = "deleting"
            vol = s.get(models.Volume, snap.volume_id)
            _, driver = self.m.backend_of(vol.host if vol else None)

        def step():
            driver.delete_snapshot(snapshot_id)
            with self.m.write() as s:
                snap = s.get(models.Snapshot, snapshot_id)
                if snap is not None:
                    s.delete(snap)
        self.m.worker.submit(step, lambda e: self._set(snapshot_id,
                                                       status="error_deleting"))

    def set_metadata(self, ctx, snapshot_id: str, meta: dict, replace: bool) -> dict:
        with self.m.write() as s:
            snap = self.get(ctx, snapshot_id, s)
            have = {} if replace else {m.key: m.value for m in snap.metadata_items}
            have.update(meta)
            snap.metadata_items = [models.SnapshotMetadata(key=k, value=v)
                                   for k, v in have.items()]
            return have

    def delete_metadata(self, ctx, snapshot_id: str, key: str) -> None:
        with self.m.write() as s:
            snap = self.get(ctx, snapshot_id, s)
            item = next((m for m in snap.metadata_items if m.key == key), None)
            if item is None:
                raise NotFoundError(f"Snapshot {snapshot_id} has no metadata with key "
                                    f"{key}.")
            snap.metadata_items.remove(item)

    def reset_status(self, ctx, snapshot_id: str, status: str) -> None:
        if status not in STATUSES:
            raise InvalidInput(f"Invalid input received: Must specify a valid status "
                               f"(got {status!r}).")
        self.get(ctx, snapshot_id)
        self._set(snapshot_id, status=status)
