"""Group snapshots (Block Storage API v3 "Group snapshots", 3.14) and groups made
from a group snapshot or another group (``create-from-src``, 3.14). No HTTP here.

A group snapshot is one snapshot of every volume of an ``available`` group (volumes
``available`` or ``in-use``), each carrying ``group_snapshot_id``; they count against
the ``snapshots`` and ``gigabytes`` quotas as other snapshots do (Cinder counts a
group snapshot's members that way). The backend copies the volumes one after the
other in one worker step, so the snapshot is consistent per volume, not across them
(nothing here pauses writes). A member snapshot cannot be deleted alone; deleting the
group snapshot deletes them all, and is refused (400) unless it is ``available`` or
``error`` or while a group is being created from it. A group with group snapshots
cannot be deleted (400, as Cinder).

``create-from-src`` makes a ``creating`` group of the source's group type and volume
types with one ``creating`` volume per member snapshot (or per volume of the source
group, cloned), quota counted; one worker step fills them and makes the group and its
volumes ``available`` (or ``error``).
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.common.listing import CINDER
from kumo.common.timeutils import utcnow
from kumo.volume import models
from kumo.volume.encryption import refuse_encrypted
from kumo.volume.errors import InvalidInput, NotFoundError
from kumo.volume.volumes import is_admin

GS = models.GroupSnapshot
SORT_COLUMNS = {"created_at": GS.created_at, "id": GS.id, "name": GS.name,
                "status": GS.status, "group_id": GS.group_id}
STATUSES = ("creating", "available", "deleting", "error", "error_deleting")


class GroupSnapshots:
    def __init__(self, manager):
        self.m = manager

    # -- reads -------------------------------------------------------------------------
    def get(self, ctx, gs_id: str, s: orm.Session | None = None) -> models.GroupSnapshot:
        def find(session):
            gs = session.get(GS, gs_id)
            if gs is None or (not is_admin(ctx) and gs.project_id != ctx.project_id):
                raise NotFoundError(f"GroupSnapshot {gs_id} could not be found.")
            return gs
        if s is not None:
            return find(s)
        with self.m.read() as session:
            return find(session)

    def list(self, ctx, query, all_tenants: bool) -> tuple[list[models.GroupSnapshot],
                                                           bool]:
        stmt = sa.select(GS)
        if not (is_admin(ctx) and all_tenants):
            stmt = stmt.where(GS.project_id == ctx.project_id)
        elif query.get("project_id"):
            stmt = stmt.where(GS.project_id == query["project_id"])
        visible = sa.select(GS) if is_admin(ctx) else sa.select(GS).where(
            GS.project_id == ctx.project_id)
        for key, col in (("name", GS.name), ("status", GS.status),
                         ("group_id", GS.group_id)):
            if key in query:
                stmt = stmt.where(col == query[key])
        with self.m.read() as s:
            return CINDER.list(s, visible, stmt, query, SORT_COLUMNS, ("id", GS.id))

    # -- create, delete ----------------------------------------------------------------
    def create(self, ctx, body: dict) -> models.GroupSnapshot:
        """400 unless the group is ``available`` with ``available``/``in-use``
        volumes; 404 for an unknown group; 413 past the snapshot quotas."""
        with self.m.write() as s:
            group = self.m.groups.get(ctx, body["group_id"], s)
            if group.status != "available":
                raise InvalidInput(f"Invalid group: Group {group.id} status must be "
                                   f"available, but current status is: {group.status}.")
            vols = list(s.scalars(sa.select(models.Volume).where(
                models.Volume.group_id == group.id).order_by(models.Volume.id)))
            for vol in vols:
                if vol.status not in ("available", "in-use"):
                    raise InvalidInput(f"Invalid volume: Volume {vol.id} in group "
                                       f"{group.id} is {vol.status}; it must be "
                                       "available or in-use to be snapshotted.")
            by_type: dict[str, dict[str, int]] = {}
            for vol in vols:
                parts = by_type.setdefault(vol.volume_type_id,
                                           {"snapshots": 0, "gigabytes": 0})
                parts["snapshots"] += 1
                parts["gigabytes"] += vol.size
            self.m.check_quota(s, group.project_id, snapshots=len(vols),
                               gigabytes=sum(v.size for v in vols), by_type=by_type)
            now = utcnow()
            gs = GS(id=str(uuid.uuid4()), project_id=group.project_id,
                    user_id=ctx.user_id, group_id=group.id,
                    group_type_id=group.group_type_id, name=body.get("name"),
                    description=body.get("description"), status="creating",
                    created_at=now, updated_at=now)
            s.add(gs)
            members = []
            for vol in vols:
                snap = models.Snapshot(
                    id=str(uuid.uuid4()), volume_id=vol.id, project_id=vol.project_id,
                    user_id=ctx.user_id, name=f"snapshot-{gs.id}"
                    if not body.get("name") else body["name"],
                    description=body.get("description"), size=vol.size,
                    status="creating", progress="0%", created_at=now, updated_at=now,
                    group_snapshot_id=gs.id)
                s.add(snap)
                members.append((snap.id, vol.id, self.m.backend_of(vol.host)[1]))
            s.flush()
            s.refresh(gs)
        gs_id = gs.id

        def step():
            for sid, vid, driver in members:
                driver.create_snapshot(vid, sid)
            self._finish(gs_id, "available", snapshots="available")
        self.m.worker.submit(step, lambda e: self._finish(gs_id, "error",
                                                          snapshots="error"))
        return gs

    def _finish(self, gs_id: str, status: str, snapshots: str | None = None) -> None:
        with self.m.write() as s:
            gs = s.get(GS, gs_id)
            if gs is None:
                return
            gs.status = status
            gs.updated_at = utcnow()
            if snapshots:
                for snap in s.scalars(sa.select(models.Snapshot).where(
                        models.Snapshot.group_snapshot_id == gs_id)):
                    snap.status = snapshots
                    if snapshots == "available":
                        snap.progress = "100%"
                    snap.updated_at = gs.updated_at

    def delete(self, ctx, gs_id: str) -> None:
        """400 unless ``available``/``error`` with no group being made from it."""
        with self.m.write() as s:
            gs = self.get(ctx, gs_id, s)
            if gs.status not in ("available", "error"):
                raise InvalidInput(f"Invalid GroupSnapshot: Group snapshot status must "
                                   f"be available or error, but current status is: "
                                   f"{gs.status}.")
            if s.scalar(sa.select(models.Group.id).where(
                    models.Group.group_snapshot_id == gs.id,
                    models.Group.status == "creating").limit(1)):
                raise InvalidInput(f"Invalid GroupSnapshot: a group is being created "
                                   f"from group snapshot {gs.id}.")
            snaps = list(s.scalars(sa.select(models.Snapshot).where(
                models.Snapshot.group_snapshot_id == gs.id)))
            for snap in snaps:
                if snap.status not in ("available", "error"):
                    raise InvalidInput(f"Invalid GroupSnapshot: snapshot {snap.id} of "
                                       f"group snapshot {gs.id} is {snap.status}.")
            busy = s.scalar(sa.select(models.Volume.snapshot_id).where(
                models.Volume.snapshot_id.in_([snap.id for snap in snaps]),
                models.Volume.status == "creating").limit(1)) if snaps else None
            if busy is not None:
                raise InvalidInput(f"Invalid GroupSnapshot: a volume is being "
                                   f"created from its snapshot {busy}.")
            gs.status = "deleting"
            gs.updated_at = utcnow()
            members = []
            for snap in snaps:
                snap.status = "deleting"
                vol = s.get(models.Volume, snap.volume_id)
                members.append((snap.id, self.m.backend_of(vol.host if vol else None)[1]))

        def step():
            for sid, driver in members:
                driver.delete_snapshot(sid)
            with self.m.write() as s:
                for snap in s.scalars(sa.select(models.Snapshot).where(
                        models.Snapshot.group_snapshot_id == gs_id)):
                    s.delete(snap)
                gs = s.get(GS, gs_id)
                if gs is not None:
                    s.delete(gs)
        self.m.worker.submit(step, lambda e: self._finish(gs_id, "error_deleting",
                                                          snapshots="error_deleting"))

    def reset_status(self, ctx, gs_id: str, status: str) -> None:
        if status not in STATUSES:
            raise InvalidInput(f"Invalid input received: Must specify a valid status "
                               f"(got {status!r}).")
        self.get(ctx, gs_id)
        self._finish(gs_id, status)

    def recover(self) -> None:
        """After a restart: group snapshots and groups left ``creating`` are
        ``error``, ``deleting`` group snapshots ``error_deleting``."""
        with self.m.write() as s:
            for gs in s.scalars(sa.select(GS).where(GS.status.in_(
                    ("creating", "deleting")))):
                gs.status = "error" if gs.status == "creating" else "error_deleting"
            for g in s.scalars(sa.select(models.Group).where(
                    models.Group.status == "creating")):
                g.status = "error"

    # -- create-from-src ---------------------------------------------------------------
    def create_group_from_src(self, ctx, body: dict) -> models.Group:
        """A new group from ``group_snapshot_id`` or ``source_group_id`` (exactly
        one; 400 otherwise); 404 for an unknown source, 400 unless it is
        ``available``; 413 past the volume quotas."""
        if bool(body.get("group_snapshot_id")) == bool(body.get("source_group_id")):
            raise InvalidInput("Invalid input received: Either 'group_snapshot_id' or "
                               "'source_group_id' must be provided to create group, "
                               "but not both.")
        with self.m.write() as s:
            if body.get("group_snapshot_id"):
                gs = self.get(ctx, body["group_snapshot_id"], s)
                if gs.status != "available":
                    raise InvalidInput(f"Invalid GroupSnapshot: Group snapshot status "
                                       f"must be available, but current status is: "
                                       f"{gs.status}.")
                source = s.get(models.Group, gs.group_id)
                items = []
                for snap in s.scalars(sa.select(models.Snapshot).where(
                        models.Snapshot.group_snapshot_id == gs.id).order_by(
                        models.Snapshot.id)):
                    origin = s.get(models.Volume, snap.volume_id)
                    items.append((origin, snap))
            else:
                gs = None
                source = self.m.groups.get(ctx, body["source_group_id"], s)
                if source.status != "available":
                    raise InvalidInput(f"Invalid group: Source group {source.id} status "
                                       "must be available, but current status is: "
                                       f"{source.status}.")
                items = []
                for vol in s.scalars(sa.select(models.Volume).where(
                        models.Volume.group_id == source.id).order_by(models.Volume.id)):
                    if vol.status not in ("available", "in-use"):
                        raise InvalidInput(f"Invalid volume: Source volume {vol.id} is "
                                           f"{vol.status}.")
                    items.append((vol, None))
            for origin, _ in items:
                refuse_encrypted(origin.volume_type)
            size = sum((snap.size if snap else vol.size) for vol, snap in items)
            by_type: dict[str, dict[str, int]] = {}
            for origin, snap in items:
                parts = by_type.setdefault(origin.volume_type_id,
                                           {"volumes": 0, "gigabytes": 0})
                parts["volumes"] += 1
                parts["gigabytes"] += snap.size if snap else origin.size
            self.m.check_quota(s, ctx.project_id, volumes=len(items), gigabytes=size,
                               by_type=by_type)
            now = utcnow()
            group = models.Group(
                id=str(uuid.uuid4()), project_id=ctx.project_id, user_id=ctx.user_id,
                name=body.get("name"), description=body.get("description"),
                group_type_id=source.group_type_id if source else gs.group_type_id,
                volume_type_ids=list(source.volume_type_ids or []) if source else [],
                status="creating", availability_zone="nova",
                group_snapshot_id=gs.id if gs else None,
                source_group_id=None if gs else source.id, created_at=now,
                updated_at=now)
            s.add(group)
            steps = []
            for origin, snap in items:
                vol = models.Volume(
                    id=str(uuid.uuid4()), project_id=ctx.project_id, user_id=ctx.user_id,
                    name=origin.name, description=origin.description,
                    size=snap.size if snap else origin.size, status="creating",
                    attach_status="detached", availability_zone="nova",
                    host=origin.host, volume_type_id=origin.volume_type_id,
                    snapshot_id=snap.id if snap else None,
                    source_volid=None if snap else origin.id, bootable=origin.bootable,
                    multiattach=origin.multiattach, group_id=group.id,
                    created_at=now, updated_at=now)
                vol.image_metadata = [models.VolumeImageMetadata(key=i.key, value=i.value)
                                      for i in origin.image_metadata]
                s.add(vol)
                driver = self.m.backend_of(origin.host)[1]
                steps.append((vol.id, vol.size, driver, snap.id if snap else None,
                              origin.id))
            s.flush()
            s.refresh(group)
        group_id = group.id

        def step():
            for vid, vsize, driver, sid, oid in steps:
                if sid:
                    driver.from_snapshot(sid, vid, vsize)
                else:
                    driver.clone(oid, vid, vsize)
            self._group_done(group_id, "available")
        self.m.worker.submit(step, lambda e: self._group_done(group_id, "error"))
        return group

    def _group_done(self, group_id: str, status: str) -> None:
        with self.m.write() as s:
            group = s.get(models.Group, group_id)
            if group is None:
                return
            group.status = status
            group.updated_at = utcnow()
            for vol in s.scalars(sa.select(models.Volume).where(
                    models.Volume.group_id == group_id,
                    models.Volume.status == "creating")):
                vol.status = status
                vol.updated_at = group.updated_at
