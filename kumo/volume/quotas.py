"""Volume quotas (Block Storage API v3 "Quota sets extension (os-quota-sets)", "Quota
class set extension (os-quota-class-sets)", "Limits"). No HTTP in here.

**Resources.** The global ones (:data:`GLOBAL`: ``volumes``, ``gigabytes``,
``snapshots``, ``backups``, ``backup_gigabytes``, ``per_volume_gigabytes``, ``groups``)
and, as Cinder's ``VolumeTypeQuotaEngine``, three per volume type (public or private):
``volumes_<type name>``, ``gigabytes_<type name>``, ``snapshots_<type name>``. A
per-type key's default is -1 (unlimited); the settings ``volume_quota_*`` give the
global ones'.

**Limits** are rows of ``volume_quota`` (project, resource, hard limit): a project's
own, and quota classes' under the project ``class:<name>``. A project's limit is its
row, else the ``default`` class's, else the default above; a class's is its row, else
the ``default`` class's, else the default. Only resources that exist are shown: a
renamed type's rows are renamed with it (Cinder's ``update_quota_resource``), a deleted
type's rows go with it (Cinder leaves them behind, to come back for a new type of the
same name; here a new type starts unlimited).

**Usage** is counted from the rows, never stored: a volume counts against ``volumes``
and ``gigabytes`` and its type's ``volumes_<type>`` and ``gigabytes_<type>``; a
snapshot against ``snapshots`` and ``gigabytes`` and, through its volume's current
type, ``snapshots_<type>`` and ``gigabytes_<type>`` (Cinder counts snapshot GiB in
``gigabytes`` unless ``no_snapshot_gb_quota``). :meth:`Quotas.check` runs inside
:meth:`~kumo.volume.manager.VolumeManager.write`, whose revision row lock serializes
the count and the insert it allows.

**Over a limit** is Cinder's 413 ``overLimit`` with its exception's words:
``VolumeSizeExceedsAvailableQuota`` ("Requested volume or snapshot exceeds allowed
gigabytes_<type> quota. Requested 5G, quota is 3G and 0G has been consumed."),
``VolumeLimitExceeded`` ("Maximum number of volumes allowed (2) exceeded for quota
'volumes_<type>'."), ``SnapshotLimitExceeded``, ``BackupLimitExceeded``,
``VolumeBackupSizeExceedsAvailableQuota``, ``GroupLimitExceeded`` and
``VolumeSizeExceedsLimit`` (``per_volume_gigabytes``).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.common import exceptions as exc
from kumo.volume import models
from kumo.volume.errors import InvalidInput

GLOBAL = ("volumes", "gigabytes", "snapshots", "backups", "backup_gigabytes",
          "per_volume_gigabytes", "groups")
#: The resources a volume type has one of each (``<part>_<type name>``).
PER_TYPE = ("volumes", "gigabytes", "snapshots")
#: Keys a quota set body may carry besides resources (Cinder's ``NON_QUOTA_KEYS``).
NON_QUOTA_KEYS = ("tenant_id", "id")


class QuotaExceeded(exc.KumoError):
    """Cinder's quota errors: 413 ``overLimit``."""

    status = 413
    title = "Request Entity Too Large"


def _over(resource: str, part: str, requested: int, limit: int, used: int
          ) -> QuotaExceeded:
    """The error Cinder's ``process_reserve_over_quota`` raises for ``resource`` (a
    global or per-type name) when the request was for ``part``'s kind."""
    if "gigabytes" in resource:
        if resource == "backup_gigabytes":
            return QuotaExceeded(
                f"Requested backup exceeds allowed Backup gigabytes quota. Requested "
                f"{requested}G, quota is {limit}G and {used}G has been consumed.")
        return QuotaExceeded(
            f"Requested volume or snapshot exceeds allowed {resource} quota. Requested "
            f"{requested}G, quota is {limit}G and {used}G has been consumed.")
    if part == "volumes":
        return QuotaExceeded(f"Maximum number of volumes allowed ({limit}) exceeded "
                             f"for quota '{resource}'.")
    return QuotaExceeded(f"Maximum number of {part} allowed ({limit}) exceeded")


class Quotas:
    """The quota logic of the volume service (see the module doc)."""

    def __init__(self, manager):
        self.m = manager
        self.settings = manager.settings

    # -- resources ---------------------------------------------------------------------
    def type_names(self, s: orm.Session) -> dict[str, str]:
        """Every volume type's name by id, oldest first."""
        T = models.VolumeType
        return dict(s.execute(sa.select(T.id, T.name).order_by(T.created_at, T.name)).all())

    def resources(self, s: orm.Session, names: dict[str, str] | None = None
                  ) -> list[str]:
        """The quota resources there are now: :data:`GLOBAL`, then three per type
        (``names``: :meth:`type_names`, when the caller has them)."""
        names = self.type_names(s) if names is None else names
        return list(GLOBAL) + [f"{part}_{name}" for name in names.values()
                               for part in PER_TYPE]

    def _defaults(self, resources: list[str]) -> dict[str, int]:
        return {r: getattr(self.settings, f"volume_quota_{r}") if r in GLOBAL else -1
                for r in resources}

    def limits(self, s: orm.Session, project_id: str,
               names: dict[str, str] | None = None) -> dict[str, int]:
        """A project's limits: its rows over the ``default`` class's over the
        defaults (see the module doc); ``project_id`` may be ``class:<name>``. One
        query for both owners' rows."""
        limits = self._defaults(self.resources(s, names))
        Q = models.Quota
        rows = s.execute(sa.select(Q.project_id, Q.resource, Q.hard_limit).where(
            Q.project_id.in_({"class:default", project_id}))).all()
        for owner in dict.fromkeys(("class:default", project_id)):  # the project's last
            for row_owner, resource, value in rows:
                if row_owner == owner and resource in limits:
                    limits[resource] = value
        return limits

    def class_limits(self, s: orm.Session, name: str) -> dict[str, int]:
        return self.limits(s, f"class:{name}")

    def usage(self, s: orm.Session, project_id: str,
              names: dict[str, str] | None = None,
              only: set[str] | None = None) -> dict[str, int]:
        """What the project uses of each resource (``per_volume_gigabytes``: 0);
        ``only``: backups and groups are counted only when named there (a volume or
        snapshot check needs neither)."""
        V, S, B = models.Volume, models.Snapshot, models.Backup
        names = self.type_names(s) if names is None else names
        used = dict.fromkeys(self.resources(s, names), 0)
        for type_id, n, gb in s.execute(
                sa.select(V.volume_type_id, sa.func.count(),
                          sa.func.coalesce(sa.func.sum(V.size), 0))
                .where(V.project_id == project_id).group_by(V.volume_type_id)):
            used["volumes"] += n
            used["gigabytes"] += gb
            if type_id in names:
                used[f"volumes_{names[type_id]}"] += n
                used[f"gigabytes_{names[type_id]}"] += gb
        for type_id, n, gb in s.execute(
                sa.select(V.volume_type_id, sa.func.count(S.id),
                          sa.func.coalesce(sa.func.sum(S.size), 0))
                .select_from(S).join(V, V.id == S.volume_id, isouter=True)
                .where(S.project_id == project_id).group_by(V.volume_type_id)):
            used["snapshots"] += n
            used["gigabytes"] += gb
            if type_id in names:
                used[f"snapshots_{names[type_id]}"] += n
                used[f"gigabytes_{names[type_id]}"] += gb
        if only is None or {"backups", "backup_gigabytes"} & only:
            used["backups"], used["backup_gigabytes"] = s.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(B.size), 0))
                .where(B.project_id == project_id)).one()
        if only is None or "groups" in only:
            used["groups"] = s.scalar(sa.select(sa.func.count()).select_from(
                models.Group).where(models.Group.project_id == project_id))
        return used

    # -- enforcement -------------------------------------------------------------------
    def check(self, s: orm.Session, project_id: str, volume_type_id: str | None = None,
              by_type: dict[str, dict[str, int]] | None = None, **deltas: int) -> None:
        """413 when adding ``deltas`` (global resources: ``volumes=1,
        gigabytes=5``...; ``per_volume_gigabytes`` is the size of one volume) passes a
        limit. ``volume_type_id``: the ``volumes``/``gigabytes``/``snapshots`` deltas
        also count against that type's keys (Cinder's ``add_volume_type_opts``);
        ``by_type``: per-type deltas of their own, ``{type id: {"volumes": 1...}}``
        (several types at once, or a type's keys alone as a retype needs)."""
        names = self.type_names(s)
        limits = self.limits(s, project_id, names)
        per_volume = deltas.pop("per_volume_gigabytes", None)
        if per_volume is not None and 0 <= limits["per_volume_gigabytes"] < per_volume:
            raise QuotaExceeded(
                f"Requested volume size {per_volume}G is larger than maximum allowed "
                f"limit {limits['per_volume_gigabytes']}G.")
        wanted: dict[str, tuple[str, int]] = {r: (r, d) for r, d in deltas.items()}
        per_type: dict[str, dict[str, int]] = {}
        if volume_type_id is not None:
            per_type[volume_type_id] = {p: deltas[p] for p in PER_TYPE if p in deltas}
        for type_id, parts in (by_type or {}).items():
            have = per_type.setdefault(type_id, {})
            for part, delta in parts.items():
                have[part] = have.get(part, 0) + delta
        if per_type:
            for type_id, parts in per_type.items():
                if type_id not in names:
                    continue
                for part, delta in parts.items():
                    wanted[f"{part}_{names[type_id]}"] = (part, delta)
        if not any(delta > 0 and limits.get(r, -1) >= 0 for r, (_, delta) in
                   wanted.items()):
            return
        used = self.usage(s, project_id, names, only=set(wanted))
        for resource, (part, delta) in wanted.items():
            limit = limits.get(resource, -1)
            if delta <= 0 or limit < 0 or used[resource] + delta <= limit:
                continue
            raise _over(resource, part, delta, limit, used[resource])

    def check_retype(self, s: orm.Session, vol: models.Volume, type_id: str) -> None:
        """413 when ``vol`` (with its snapshots) does not fit in the new type's
        ``volumes_``/``gigabytes_``/``snapshots_<type>`` quotas (the totals do not
        change; Cinder's ``get_volume_type_reservation(reserve_vol_type_only=True)``)."""
        S = models.Snapshot
        n, gb = s.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(S.size),
                                                                      0))
                          .where(S.volume_id == vol.id)).one()
        parts = {"volumes": 1, "gigabytes": vol.size + gb}
        if n:
            parts["snapshots"] = n
        self.check(s, vol.project_id, by_type={type_id: parts})

    # -- quota sets --------------------------------------------------------------------
    def show(self, project_id: str, usage: bool = False) -> dict:
        """A project's limits, or with ``usage`` ``{resource: {"limit", "in_use",
        "reserved", "allocated"}}``."""
        with self.m.read() as s:
            names = self.type_names(s)
            limits = self.limits(s, project_id, names)
            if not usage:
                return limits
            used = self.usage(s, project_id, names)
            return {r: {"limit": limits[r], "in_use": used[r], "reserved": 0,
                        "allocated": 0} for r in limits}

    def show_class(self, name: str) -> dict[str, int]:
        with self.m.read() as s:
            return self.class_limits(s, name)

    def _check_keys(self, s: orm.Session, values: dict, what: str) -> None:
        known = set(self.resources(s))
        bad = [k for k in values if k not in known]
        if bad:
            raise InvalidInput(f"Invalid input received: Bad key(s) in {what}: "
                               f"{', '.join(bad)}")

    def _write(self, s: orm.Session, owner: str, values: dict[str, int]) -> None:
        for resource, value in values.items():
            row = s.get(models.Quota, (owner, resource))
            if row is None:
                s.add(models.Quota(project_id=owner, resource=resource,
                                   hard_limit=value))
            else:
                row.hard_limit = value
        s.flush()

    def set(self, project_id: str, values: dict[str, int]) -> dict[str, int]:
        """Set a project's limits (``values`` already integers in -1..2^31-1): every
        key must be a resource and no limit below what is used (``per_volume_
        gigabytes`` and -1 aside), else 400 and nothing changes; returns the limits."""
        with self.m.write() as s:
            self._check_keys(s, values, "quota set")
            used = self.usage(s, project_id)
            for key, value in values.items():
                if key != "per_volume_gigabytes" and 0 <= value < used[key]:
                    raise InvalidInput(
                        f"Invalid input received: Quota {key} limit must be equal or "
                        f"greater than existing resources. Current usage is "
                        f"{used[key]} and the requested limit is {value}.")
            self._write(s, project_id, values)
            return self.limits(s, project_id)

    def set_class(self, name: str, values: dict[str, int]) -> dict[str, int]:
        """Set a quota class's limits (unknown keys: 400, nothing changes)."""
        with self.m.write() as s:
            self._check_keys(s, values, "quota class set")
            self._write(s, f"class:{name}", values)
            return self.class_limits(s, name)

    def delete(self, project_id: str) -> None:
        """Drop a project's own limits (it falls back to the defaults)."""
        with self.m.write() as s:
            s.execute(sa.delete(models.Quota).where(models.Quota.project_id == project_id))

    # -- volume types ------------------------------------------------------------------
    def rename_type(self, s: orm.Session, old: str, new: str) -> None:
        """A type's quota rows (projects' and classes') follow its new name."""
        for part in PER_TYPE:
            s.execute(sa.update(models.Quota).where(
                models.Quota.resource == f"{part}_{old}").values(resource=f"{part}_{new}"))

    def drop_type(self, s: orm.Session, name: str) -> None:
        """A deleted type's quota rows go with it."""
        s.execute(sa.delete(models.Quota).where(models.Quota.resource.in_(
            [f"{part}_{name}" for part in PER_TYPE])))
