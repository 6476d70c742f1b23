"""Group types and generic volume groups (Block Storage API v3 "Group types" 3.11,
"Group type specs", "Generic volume groups" 3.13). No HTTP here.

A group holds volumes of the volume types it lists (``group_id`` on the volume): a
volume joins at create (``group_id``, 3.13) or by a group update's
``add_volumes``, leaves by ``remove_volumes``; a volume in a group cannot be deleted
on its own (Cinder's rule), and deleting a group with volumes needs
``delete-volumes``, which deletes them too. Group snapshots and groups made from one
or from another group are :mod:`kumo.volume.group_snapshots`. A group type in use cannot be
deleted (400).
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.volume import models
from kumo.volume.errors import InvalidInput, NotFoundError
from kumo.volume.volumes import DELETABLE, is_admin


class Groups:
    def __init__(self, manager):
        self.m = manager

    # -- group types -----------------------------------------------------------------
    def get_type(self, ctx, ref: str, s=None) -> models.GroupType:
        def find(session):
            gt = session.get(models.GroupType, ref) or session.scalar(
                sa.select(models.GroupType).where(models.GroupType.name == ref))
            if gt is None or (not gt.is_public and not is_admin(ctx)):
                raise NotFoundError(f"Group type with id {ref} could not be found.")
            return gt
        if s is not None:
            return find(s)
        with self.m.read() as session:
            return find(session)

    SORT_KEYS = ("id", "name", "description", "is_public", "created_at", "updated_at")

    def list_types(self, ctx, is_public: bool | None = None,
                   sort: list[tuple[str, str]] = ()) -> list[models.GroupType]:
        """Group types (GET /v3/group_types): public ones for non-admins; for admins
        all, or only public/private ones with ``is_public``. ``sort`` is a list of
        (key of :attr:`SORT_KEYS`, "asc"|"desc"), the default oldest first."""
        order = [getattr(models.GroupType, k).desc() if d == "desc"
                 else getattr(models.GroupType, k).asc() for k, d in sort]
        stmt = sa.select(models.GroupType).order_by(*order, models.GroupType.created_at,
                                                    models.GroupType.id)
        if not is_admin(ctx):
            stmt = stmt.where(models.GroupType.is_public.is_(True))
        elif is_public is not None:
            stmt = stmt.where(models.GroupType.is_public.is_(is_public))
        with self.m.read() as s:
            return list(s.scalars(stmt))

    def create_type(self, attrs: dict) -> models.GroupType:
        with self.m.write() as s:
            if s.scalar(sa.select(models.GroupType).where(
                    models.GroupType.name == attrs["name"])) is not None:
                raise exc.Conflict(f"Group Type {attrs['name']} already exists.")
            gt = models.GroupType(
                id=str(uuid.uuid4()), name=attrs["name"],
                description=attrs.get("description"),
                is_public=attrs.get("is_public", True),
                group_specs={k: str(v) for k, v in (attrs.get("group_specs") or {})
                             .items()}, created_at=utcnow())
            s.add(gt)
            s.flush()
            s.refresh(gt)
            return gt

    def update_type(self, ctx, type_id: str, attrs: dict) -> models.GroupType:
        with self.m.write() as s:
            gt = self.get_type(ctx, type_id, s)
            if attrs.get("name") and attrs["name"] != gt.name and s.scalar(
                    sa.select(models.GroupType).where(
                        models.GroupType.name == attrs["name"])) is not None:
                raise exc.Conflict(f"Group Type {attrs['name']} already exists.")
            for key in ("name", "description", "is_public"):
                if attrs.get(key) is not None or key == "description" and key in attrs:
                    setattr(gt, key, attrs[key])
            s.flush()
            s.refresh(gt)
            return gt

    def delete_type(self, ctx, type_id: str) -> None:
        with self.m.write() as s:
            gt = self.get_type(ctx, type_id, s)
            if s.scalar(sa.select(models.Group.id).where(
                    models.Group.group_type_id == gt.id).limit(1)):
                raise InvalidInput(f"Group Type {gt.id} deletion is not allowed with "
                                   "groups present with the type.")
            s.delete(gt)

    def set_specs(self, ctx, type_id: str, specs: dict, replace_key: str | None = None
                  ) -> dict:
        with self.m.write() as s:
            gt = self.get_type(ctx, type_id, s)
            merged = dict(gt.group_specs or {})
            merged.update({k: str(v) for k, v in specs.items()})
            gt.group_specs = merged
            return dict(merged)

    def delete_spec(self, ctx, type_id: str, key: str) -> None:
        with self.m.write() as s:
            gt = self.get_type(ctx, type_id, s)
            specs = dict(gt.group_specs or {})
            if key not in specs:
                raise NotFoundError(f"Group Type {gt.id} has no specs with key {key}.")
            specs.pop(key)
            gt.group_specs = specs

    # -- groups ------------------------------------------------------------------------
    def get(self, ctx, group_id: str, s=None) -> models.Group:
        def find(session):
            g = session.get(models.Group, group_id)
            if g is None or (not is_admin(ctx) and g.project_id != ctx.project_id):
                raise NotFoundError(f"Group {group_id} could not be found.")
            return g
        if s is not None:
            return find(s)
        with self.m.read() as session:
            return find(session)

    def list(self, ctx, all_tenants: bool) -> list[models.Group]:
        stmt = sa.select(models.Group).order_by(models.Group.created_at.desc(),
                                                models.Group.id)
        if not (is_admin(ctx) and all_tenants):
            stmt = stmt.where(models.Group.project_id == ctx.project_id)
        with self.m.read() as s:
            return list(s.scalars(stmt))

    def volume_ids(self, group_id: str) -> list[str]:
        with self.m.read() as s:
            return list(s.scalars(sa.select(models.Volume.id).where(
                models.Volume.group_id == group_id).order_by(models.Volume.id)))

    def create(self, ctx, body: dict) -> models.Group:
        """400 without a group type or volume types, or for an unknown zone; 404 for
        an unknown group type or volume type."""
        zone = body.get("availability_zone") or "nova"
        if zone != "nova":
            raise InvalidInput(f"Invalid input received: Availability zone '{zone}' is "
                               "invalid.")
        with self.m.write() as s:
            gt = self.get_type(ctx, body["group_type"], s)
            vtypes = [self.m.get_type(ctx, ref, s) for ref in body["volume_types"]]
            self.m.check_quota(s, ctx.project_id, groups=1)
            now = utcnow()
            g = models.Group(
                id=str(uuid.uuid4()), project_id=ctx.project_id, user_id=ctx.user_id,
                name=body.get("name"), description=body.get("description"),
                group_type_id=gt.id, volume_type_ids=[t.id for t in vtypes],
                status="available", availability_zone=zone, created_at=now,
                updated_at=now)
            s.add(g)
            s.flush()
            s.refresh(g)
            return g

    def check_join(self, s, ctx, group_id: str, vtype_id: str) -> models.Group:
        """The group a new volume of type ``vtype_id`` joins (volume create with
        ``group_id``); 400 unless the group is ``available`` and lists the type."""
        g = self.get(ctx, group_id, s)
        if g.status != "available":
            raise InvalidInput(f"Invalid group: Group {g.id} status must be available, "
                               f"but current status is: {g.status}.")
        if vtype_id not in (g.volume_type_ids or []):
            raise InvalidInput(f"Invalid input received: Invalid volume_type provided: "
                               f"{vtype_id} (valid types for group {g.id}: "
                               f"{', '.join(g.volume_type_ids or [])}).")
        return g

    def update(self, ctx, group_id: str, attrs: dict) -> None:
        """Name, description, ``add_volumes`` / ``remove_volumes`` (comma-separated
        ids); 400 for a volume that cannot join or is not a member, nothing changed."""
        def ids(key):
            return [v.strip() for v in (attrs.get(key) or "").split(",") if v.strip()]
        add, remove = ids("add_volumes"), ids("remove_volumes")
        if not any(k in attrs for k in ("name", "description")) and not add and not remove:
            raise InvalidInput("Invalid input received: Name, description, add_volumes "
                               "and remove_volumes can not be all empty in the request "
                               "body.")
        with self.m.write() as s:
            g = self.get(ctx, group_id, s)
            if (add or remove) and g.status != "available":
                raise InvalidInput(f"Invalid group: Group {g.id} status must be "
                                   f"available, but current status is: {g.status}.")
            for vid in add:
                vol = s.get(models.Volume, vid)
                if vol is None or vol.project_id != g.project_id:
                    raise InvalidInput(f"Invalid volume: Cannot add volume {vid} to "
                                       f"group {g.id} because volume cannot be found.")
                if vol.group_id:
                    raise InvalidInput(f"Invalid volume: Volume {vid} is already in a "
                                       "group.")
                if vol.volume_type_id not in (g.volume_type_ids or []):
                    raise InvalidInput(f"Invalid volume: Cannot add volume {vid} to "
                                       f"group {g.id} because volume type "
                                       f"{vol.volume_type_id} is not supported by the "
                                       "group.")
                if vol.status not in ("available", "in-use"):
                    raise InvalidInput(f"Invalid volume: Cannot add volume {vid} to "
                                       f"group {g.id} because volume is in an invalid "
                                       f"state: {vol.status}.")
                vol.group_id = g.id
            for vid in remove:
                vol = s.get(models.Volume, vid)
                if vol is None or vol.group_id != g.id:
                    raise InvalidInput(f"Invalid volume: Cannot remove volume {vid} from "
                                       f"group {g.id} because it is not in the group.")
                vol.group_id = None
            for key in ("name", "description"):
                if key in attrs:
                    setattr(g, key, attrs[key])
            g.updated_at = utcnow()

    def delete(self, ctx, group_id: str, delete_volumes: bool) -> None:
        """400 if it has volumes and ``delete_volumes`` is false, or one of them
        cannot be deleted (attached, in a transient status, with snapshots)."""
        with self.m.write() as s:
            g = self.get(ctx, group_id, s)
            vols = list(s.scalars(sa.select(models.Volume).where(
                models.Volume.group_id == g.id)))
            if s.scalar(sa.select(models.GroupSnapshot.id).where(
                    models.GroupSnapshot.group_id == g.id).limit(1)):
                raise InvalidInput(f"Invalid group: Group {g.id} still has dependent "
                                   "group snapshots.")
            if vols and not delete_volumes:
                raise InvalidInput(f"Invalid group: Group {g.id} still contains volumes. "
                                   "The delete-volumes flag is required to delete it.")
            for vol in vols:
                if vol.status not in DELETABLE or vol.attachments:
                    raise InvalidInput(f"Invalid volume: Volume {vol.id} in group "
                                       f"{g.id} is {vol.status} and cannot be deleted.")
                if s.scalar(sa.select(models.Snapshot.id).where(
                        models.Snapshot.volume_id == vol.id).limit(1)):
                    raise InvalidInput(f"Invalid volume: Volume {vol.id} in group "
                                       f"{g.id} has snapshots.")
                vol.group_id = None
            s.delete(g)
            doomed = [v.id for v in vols]
        for vid in doomed:
            self.m.volumes.delete(None, vid)

    def reset_status(self, ctx, group_id: str, status: str) -> None:
        with self.m.write() as s:
            g = self.get(ctx, group_id, s)
            g.status = status
            g.updated_at = utcnow()
