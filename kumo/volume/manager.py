"""The Block Storage facade: backends, the volume worker, write transactions, volume
types (Block Storage API v3 "Volume types"); quotas are :mod:`kumo.volume.quotas`
(``VolumeManager.quota``). No HTTP in here.

**Writes and quotas.** :meth:`VolumeManager.write` is a transaction that first bumps
the ``volume`` row of ``kumo_revision``: every write of the area holds that row lock
until it commits, so a quota check (a count over the project's rows) and the insert it
allows are never interleaved with another's, on SQLite and PostgreSQL alike.

**The worker.** Cinder's API answers ``202`` and cinder-volume moves the data. Here
:class:`Worker` (a small thread pool in the API process) runs the backend step after
the request's transaction committed, then sets the final status (``available``,
``error``...). A process that stops mid-step leaves the row in its transient status;
the next start sets such rows to ``error`` (``creating``) or finishes them
(``deleting``).
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.config import Settings
from kumo.db import Database
from kumo.db.models import Revision
from kumo.volume import drivers, models
from kumo.volume.errors import InvalidInput, NotFoundError
from kumo.volume.quotas import QuotaExceeded, Quotas

__all__ = ["QuotaExceeded", "VolumeManager", "Worker"]

LOG = logging.getLogger(__name__)
AREA = "volume"
ZONE = "nova"
_REV = sa.table("kumo_revision", sa.column("name"), sa.column("value"))
_BUMP = (sa.update(_REV).where(_REV.c.name == AREA)
         .values(value=_REV.c.value + 1).returning(_REV.c.value))


class Worker:
    """Runs backend steps off the request threads (see the module doc)."""

    def __init__(self, threads: int = 2, name: str = "volume-worker"):
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    def submit(self, fn: Callable[[], None], on_error: Callable[[BaseException], None]
               ) -> None:
        """Run ``fn`` (then ``on_error`` if it raised) in the submitting request's
        context: its log lines and user messages carry that request's id."""
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 (the row says what failed)
                LOG.exception("volume worker step failed: %s", e)
                try:
                    on_error(e)
                except Exception:
                    LOG.exception("recording a failed volume step failed")
        self.pool.submit(contextvars.copy_context().run, run)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)


class VolumeManager:
    """Everything the volume API calls: ``volumes``, ``snapshots``, ``backups`` (the
    logic modules) and types, quotas, services here."""

    def __init__(self, settings: Settings, db: Database, images=None):
        from kumo.volume.attachments import Attachments
        from kumo.volume.backups import Backups
        from kumo.volume.snapshots import Snapshots
        from kumo.volume.volumes import Volumes

        self.settings = settings
        self.db = db
        self.images = images
        self.hostname = settings.agent_host or socket.gethostname()
        root = Path(settings.volume_dir) if settings.volume_dir else \
            Path(settings.state_dir) / "volumes"
        self.backup_dir = Path(settings.volume_backup_dir) if settings.volume_backup_dir \
            else Path(settings.state_dir) / "backups"
        self.backends: dict[str, drivers.VolumeDriver] = {}
        for spec in settings.volume_backends or ["file-1:file"]:
            name, _, kind = str(spec).partition(":")
            self.backends[name] = drivers.make_driver(
                name, kind or "file", root, settings.volume_image_cache,
                settings.volume_image_cache_max_count,
                settings.volume_image_cache_max_size_gb)
        self.default_backend = next(iter(self.backends))
        self.worker = Worker()
        #: Backups, restores into existing volumes and uploads to images (long data
        #: copies) have their own threads, so they never hold up creates and deletes
        #: (Cinder's cinder-backup beside cinder-volume).
        self.backup_worker = Worker(name="backup-worker")
        self.volumes = Volumes(self)
        self.snapshots = Snapshots(self)
        self.backups = Backups(self)
        self.attachments = Attachments(self)
        from kumo.volume.qos import QosSpecs
        from kumo.volume.transfers import Transfers
        self.transfers = Transfers(self)
        self.qos = QosSpecs(self)
        from kumo.volume.manage import Manage
        self.manage = Manage(self)
        from kumo.volume.groups import Groups
        self.groups = Groups(self)
        from kumo.volume.encryption import Encryption
        from kumo.volume.group_snapshots import GroupSnapshots
        self.encryption = Encryption(self)
        self.group_snapshots = GroupSnapshots(self)
        self.quota = Quotas(self)
        from kumo.volume.messages import Messages
        self.messages = Messages(self)

    # -- transactions ------------------------------------------------------------------
    @contextlib.contextmanager
    def write(self) -> Iterator[orm.Session]:
        """A write transaction holding the ``volume`` revision row (see the module
        doc)."""
        with self.db.session() as session:
            if "volume_revision" not in session.info:
                value = session.execute(_BUMP).scalar()
                if value is None:
                    session.add(Revision(name=AREA, value=1))
                    session.flush()
                    value = 1
                session.info["volume_revision"] = value
            yield session

    def read(self):
        return self.db.session(readonly=True)

    # -- backends ----------------------------------------------------------------------
    def host_of(self, backend: str) -> str:
        """Cinder's ``host@backend#pool`` for a backend."""
        return f"{self.hostname}@{backend}#{backend}"

    def backend_of(self, host: str | None) -> tuple[str, drivers.VolumeDriver]:
        name = (host or "").partition("@")[2].partition("#")[0] or self.default_backend
        driver = self.backends.get(name)
        if driver is None:
            raise exc.KumoError(f"backend {name} is not configured")
        return name, driver

    def schedule(self, vtype: models.VolumeType) -> str | None:
        """The backend a type's new volumes go to (:mod:`kumo.volume.scheduling`: the
        backends whose capabilities satisfy its extra specs; the default backend first
        when it does), or None when none can take them (Cinder's "No valid
        backend": the volume ends in ``error`` with a user message)."""
        from kumo.volume.scheduling import candidates
        found = candidates(self.backends, {e.key: e.value for e in vtype.extra_specs})
        if not found:
            return None
        return self.default_backend if self.default_backend in found else found[0]

    def backend_for_type(self, vtype: models.VolumeType) -> str:
        """As :meth:`schedule`, for the synchronous moves (retype): a 400 when no
        backend can take the type."""
        backend = self.schedule(vtype)
        if backend is None:
            raise InvalidInput(f"No valid backend was found. No backend can take "
                               f"volumes of type {vtype.name} (its extra specs match "
                               "no backend's capabilities).")
        return backend

    def backend_used_gb(self, s: orm.Session, backend: str) -> int:
        host = self.host_of(backend)
        return s.scalar(sa.select(sa.func.coalesce(sa.func.sum(models.Volume.size), 0))
                        .where(models.Volume.host == host)) or 0

    def check_capacity(self, s: orm.Session, backend: str, size: int) -> None:
        """400 when ``backend`` cannot take ``size`` more GiB (or is disabled)."""
        if self.backend_disabled(s, backend):
            raise InvalidInput(f"No valid backend was found. The cinder-volume service "
                               f"of backend {backend} is disabled.")
        capacity = self.settings.volume_backend_capacity_gb
        used = self.backend_used_gb(s, backend)
        if used + size > capacity:
            raise InvalidInput(f"No valid backend was found. Backend {backend} has "
                               f"{max(0, capacity - used)} GiB free, {size} GiB "
                               "requested.")

    def services(self) -> list[dict]:
        """cinder-volume per backend and cinder-backup, ``up`` when usable,
        ``disabled`` when an operator said so (``os-services/disable``)."""
        now = utcnow()
        with self.read() as s:
            states = {(r.host, r.binary): r for r in s.scalars(
                sa.select(models.ServiceState))}
        out = [{"binary": "cinder-scheduler", "host": self.hostname, "zone": ZONE,
                "status": "enabled", "state": "up", "updated_at": now,
                "disabled_reason": None}]
        for name, driver in self.backends.items():
            out.append({"binary": "cinder-volume", "host": f"{self.hostname}@{name}",
                        "zone": ZONE, "status": "enabled",
                        "state": "up" if driver.check() else "down",
                        "updated_at": now, "disabled_reason": None})
        backup_ok = self.backups.store_ok()
        out.append({"binary": "cinder-backup", "host": self.hostname, "zone": ZONE,
                    "status": "enabled", "state": "up" if backup_ok else "down",
                    "updated_at": now, "disabled_reason": None})
        for svc in out:
            state = states.get((svc["host"], svc["binary"]))
            if state is not None and state.disabled:
                svc["status"] = "disabled"
                svc["disabled_reason"] = state.disabled_reason
        return out

    def set_service(self, host: str, binary: str, disabled: bool,
                    reason: str | None = None) -> dict:
        """Disable or enable a service (404 for one that does not exist)."""
        known = {(svc["host"], svc["binary"]) for svc in self.services()}
        if (host, binary) not in known:
            raise NotFoundError(f"Service {binary} on host {host} could not be found.")
        with self.write() as s:
            row = s.get(models.ServiceState, (host, binary))
            if row is None:
                row = models.ServiceState(host=host, binary=binary)
                s.add(row)
            row.disabled = disabled
            row.disabled_reason = reason if disabled else None
            row.updated_at = utcnow()
        return next(svc for svc in self.services()
                    if (svc["host"], svc["binary"]) == (host, binary))

    def backend_disabled(self, s: orm.Session, backend: str) -> bool:
        row = s.get(models.ServiceState, (f"{self.hostname}@{backend}", "cinder-volume"))
        return row is not None and row.disabled

    def recover(self) -> None:
        """After a restart: rows left in a transient status by a stopped worker."""
        with self.write() as s:
            for vol in s.scalars(sa.select(models.Volume).where(models.Volume.status.in_(
                    ("creating", "extending", "downloading", "backing-up",
                     "restoring-backup", "uploading", "retyping", "managing")))):
                vol.status = "error_managing" if vol.status == "managing" else \
                    "error" if vol.status in ("creating", "downloading") \
                    else "available" if not vol.attachments else "in-use"
            for snap in s.scalars(sa.select(models.Snapshot).where(
                    models.Snapshot.status.in_(("creating", "backing-up")))):
                snap.status = "error" if snap.status == "creating" else "available"
            for backup in s.scalars(sa.select(models.Backup).where(
                    models.Backup.status.in_(("creating", "restoring")))):
                backup.status = "error" if backup.status == "creating" else "available"
            deleting = [v.id for v in s.scalars(sa.select(models.Volume).where(
                models.Volume.status == "deleting"))]
        for vid in deleting:
            self.volumes.finish_delete(vid)
        self.group_snapshots.recover()

    # -- volume types ------------------------------------------------------------------
    def bootstrap(self) -> None:
        """A volume type per backend (``volume_backend_name`` its name), as DevStack
        makes one per enabled backend; ``__DEFAULT__`` comes from the migration."""
        with self.write() as s:
            for name in self.backends:
                if s.scalar(sa.select(models.VolumeType).where(
                        models.VolumeType.name == name)) is None:
                    vtype = models.VolumeType(
                        id=str(uuid.uuid4()), name=name, description=f"Backend {name}",
                        is_public=True, created_at=utcnow())
                    vtype.extra_specs = [models.TypeExtraSpec(
                        key="volume_backend_name", value=name)]
                    s.add(vtype)
        self.recover()

    def _type_visible(self, ctx, stmt):
        if ctx is None or ctx.is_admin:
            return stmt
        access = sa.select(models.TypeAccess.type_id).where(
            models.TypeAccess.type_id == models.VolumeType.id,
            models.TypeAccess.project_id == ctx.project_id).exists()
        return stmt.where(sa.or_(models.VolumeType.is_public, access))

    def get_type(self, ctx, ref: str, s: orm.Session | None = None) -> models.VolumeType:
        """A type by id or name the caller may see; 404 otherwise."""
        with contextlib.ExitStack() as stack:
            if s is None:
                s = stack.enter_context(self.read())
            stmt = self._type_visible(ctx, sa.select(models.VolumeType).where(
                sa.or_(models.VolumeType.id == ref, models.VolumeType.name == ref)))
            found = s.scalars(stmt).unique().all()
            by_id = [t for t in found if t.id == ref]
            vtype = by_id[0] if by_id else (found[0] if found else None)
            if vtype is None:
                raise NotFoundError(f"Volume type {ref} could not be found.")
            return vtype

    def default_type(self, s: orm.Session) -> models.VolumeType:
        return s.get(models.VolumeType, models.DEFAULT_TYPE_ID)

    def list_types(self, ctx, is_public: bool | None = None) -> list[models.VolumeType]:
        with self.read() as s:
            stmt = self._type_visible(ctx, sa.select(models.VolumeType))
            if is_public is not None and ctx is not None and ctx.is_admin:
                stmt = stmt.where(models.VolumeType.is_public == is_public)
            return list(s.scalars(stmt.order_by(models.VolumeType.created_at,
                                                models.VolumeType.name)).unique())

    def create_type(self, attrs: dict) -> models.VolumeType:
        with self.write() as s:
            if s.scalar(sa.select(models.VolumeType).where(
                    models.VolumeType.name == attrs["name"])) is not None:
                raise exc.Conflict(f"Volume Type {attrs['name']} already exists.")
            vtype = models.VolumeType(
                id=str(uuid.uuid4()), name=attrs["name"],
                description=attrs.get("description"),
                is_public=attrs.get("os-volume-type-access:is_public", True),
                created_at=utcnow())
            vtype.extra_specs = [models.TypeExtraSpec(key=k, value=str(v)) for k, v in
                                 (attrs.get("extra_specs") or {}).items()]
            s.add(vtype)
            s.flush()
            s.refresh(vtype)
            return vtype

    def update_type(self, type_id: str, attrs: dict) -> models.VolumeType:
        with self.write() as s:
            vtype = self.get_type(None, type_id, s)
            if "name" in attrs and attrs["name"] != vtype.name:
                if vtype.id == models.DEFAULT_TYPE_ID:
                    raise InvalidInput("The default volume type __DEFAULT__ cannot be "
                                       "renamed.")
                if s.scalar(sa.select(models.VolumeType).where(
                        models.VolumeType.name == attrs["name"])) is not None:
                    raise exc.Conflict(f"Volume Type {attrs['name']} already exists.")
                self.quota.rename_type(s, vtype.name, attrs["name"])
                vtype.name = attrs["name"]
            if "description" in attrs:
                vtype.description = attrs["description"]
            if "is_public" in attrs:
                vtype.is_public = attrs["is_public"]
            vtype.updated_at = utcnow()
            return vtype

    def delete_type(self, type_id: str) -> None:
        with self.write() as s:
            vtype = self.get_type(None, type_id, s)
            if vtype.id == models.DEFAULT_TYPE_ID:
                raise InvalidInput("Default volume type can not be deleted")
            used = s.scalar(sa.select(sa.func.count()).select_from(models.Volume).where(
                models.Volume.volume_type_id == vtype.id))
            if used:
                raise InvalidInput(f"Target volume type is still in use. Volume Type "
                                   f"{vtype.id} deletion is not allowed with volumes "
                                   "present with the type.")
            self.quota.drop_type(s, vtype.name)
            s.delete(vtype)

    def set_extra_specs(self, type_id: str, specs: dict) -> dict:
        with self.write() as s:
            vtype = self.get_type(None, type_id, s)
            have = {e.key: e for e in vtype.extra_specs}
            for key, value in specs.items():
                if key in have:
                    have[key].value = str(value)
                else:
                    vtype.extra_specs.append(models.TypeExtraSpec(key=key,
                                                                  value=str(value)))
            return {e.key: e.value for e in vtype.extra_specs}

    def delete_extra_spec(self, type_id: str, key: str) -> None:
        with self.write() as s:
            vtype = self.get_type(None, type_id, s)
            spec = next((e for e in vtype.extra_specs if e.key == key), None)
            if spec is None:
                raise NotFoundError(f"Volume Type {type_id} has no extra specs with key "
                                    f"{key}.")
            vtype.extra_specs.remove(spec)

    def type_access(self, type_id: str) -> list[str]:
        with self.read() as s:
            vtype = self.get_type(None, type_id, s)
            if vtype.is_public:
                raise NotFoundError("Access list not available for public volume types.")
            return list(s.scalars(sa.select(models.TypeAccess.project_id).where(
                models.TypeAccess.type_id == vtype.id)))

    def add_type_access(self, type_id: str, project_id: str) -> None:
        with self.write() as s:
            vtype = self.get_type(None, type_id, s)
            if vtype.is_public:
                raise InvalidInput("Invalid volume type: Type access modification is "
                                   "not applicable to public volume type.")
            if s.get(models.TypeAccess, (vtype.id, project_id)) is not None:
                raise exc.Conflict(f"Volume type access for {vtype.id} / {project_id} "
                                   "combination already exists.")
            s.add(models.TypeAccess(type_id=vtype.id, project_id=project_id))

    def remove_type_access(self, type_id: str, project_id: str) -> None:
        with self.write() as s:
            vtype = self.get_type(None, type_id, s)
            row = s.get(models.TypeAccess, (vtype.id, project_id))
            if row is None:
                raise NotFoundError(f"Volume type access not found for {vtype.id} / "
                                    f"{project_id} combination.")
            s.delete(row)

    def host_usage(self, host: str) -> dict[str, tuple[int, int, int, int]]:
        """Per project: (volumes, their GiB, snapshots, their GiB) on a volume
        service's host (``host@backend``; volumes' hosts are ``host@backend#pool``)."""
        V, S = models.Volume, models.Snapshot
        on_host = sa.or_(V.host == host, sa.func.substr(V.host, 1, len(host) + 1)
                         == host + "#")
        out: dict[str, list[int]] = {}
        with self.read() as s:
            for project, n, gb in s.execute(sa.select(
                    V.project_id, sa.func.count(), sa.func.coalesce(sa.func.sum(V.size), 0))
                    .where(on_host).group_by(V.project_id)):
                out[project] = [n, gb, 0, 0]
            for project, n, gb in s.execute(sa.select(
                    S.project_id, sa.func.count(), sa.func.coalesce(sa.func.sum(S.size), 0))
                    .join(V, V.id == S.volume_id).where(on_host).group_by(S.project_id)):
                out.setdefault(project, [0, 0, 0, 0])[2:] = [n, gb]
        return {p: tuple(u) for p, u in out.items()}

    # -- quotas (kumo/volume/quotas.py) -------------------------------------------------
    def check_quota(self, s: orm.Session, project_id: str, **deltas) -> None:
        """413 when adding ``deltas`` passes a limit (:meth:`Quotas.check`, which
        also takes ``volume_type_id`` and ``by_type``); call inside :meth:`write`."""
        self.quota.check(s, project_id, **deltas)
