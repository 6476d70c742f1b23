"""Bring existing backend data under management and let it go (Block Storage API v3
"Volume manage extension (manageable_volumes)", ``os-volume-manage`` before 3.8, and
the ``os-unmanage`` volume action). No HTTP here.

- :meth:`Manage.manageable` lists what a backend holds (for the ``file`` driver: the
  regular files in its directory but snapshots, dot files and the image cache), each
  ``safe_to_manage`` unless a volume of this cloud already is that file
  (``volume-<id>``: ``cinder_id`` names it).
- :meth:`Manage.manage` checks the reference, the type, the zone and the quota, writes
  a ``managing`` row sized from the data (GiB, rounded up), and the worker renames the
  file to the volume's and grows it to whole GiB: ``available``, or
  ``error_managing`` (also when two requests raced for the same data: the second
  finds it gone).
- :meth:`Manage.unmanage` removes the row (the quota is given back) and keeps the data
  on the backend, where :meth:`manageable` lists it again.
"""
from __future__ import annotations

import re
import uuid

import sqlalchemy as sa

from kumo.common.timeutils import utcnow
from kumo.volume import models, scheduling
from kumo.volume.drivers import DriverError
from kumo.volume.encryption import refuse_encrypted
from kumo.volume.errors import InvalidInput, NotFoundError, invalid_volume
from kumo.volume.volumes import DELETABLE

VOLUME_FILE = re.compile(r"^volume-([0-9a-f-]{36})$")


class Manage:
    def __init__(self, manager):
        self.m = manager

    def backend(self, host: str | None) -> tuple[str, object]:
        """The backend a ``host`` names (``host@backend`` or ``host@backend#pool``,
        as ``os-vol-host-attr:host`` shows); 400 when absent, 404 when unknown."""
        if not host:
            raise InvalidInput("Invalid input received: Either 'host' or 'cluster' must "
                               "be specified.")
        name = host.partition("@")[2].partition("#")[0]
        if not name or name not in self.m.backends or \
                host.partition("@")[0] != self.m.hostname:
            raise NotFoundError(f"Service {host} could not be found.")
        return name, self.m.backends[name]

    def manageable(self, host: str | None) -> list[dict]:
        """``[{"reference": {"source-name"}, "size", "safe_to_manage",
        "reason_not_safe", "cinder_id", "extra_info"}]`` sorted by name."""
        _, driver = self.backend(host)
        found = driver.manageable()
        ids = [m.group(1) for n, _ in found if (m := VOLUME_FILE.match(n))]
        with self.m.read() as s:
            known = set(s.scalars(sa.select(models.Volume.id).where(
                models.Volume.id.in_(ids)))) if ids else set()
        out = []
        for name, size in found:
            m = VOLUME_FILE.match(name)
            cinder_id = m.group(1) if m and m.group(1) in known else None
            out.append({"reference": {"source-name": name},
                        "size": max(1, -(-size // (1 << 30))),
                        "safe_to_manage": cinder_id is None,
                        "reason_not_safe": "already managed" if cinder_id else None,
                        "cinder_id": cinder_id, "extra_info": None})
        return out

    def manage(self, ctx, body: dict) -> models.Volume:
        """A ``managing`` volume over the existing data ``body["ref"]`` names (see
        the module doc); 400 for a bad reference, type or zone, 413 over quota."""
        backend, driver = self.backend(body.get("host"))
        ref = body.get("ref") or {}
        name = ref.get("source-name") or ref.get("source-id")
        if not isinstance(name, str) or not name:
            raise InvalidInput("Manage existing volume failed due to invalid backend "
                               "reference: a 'source-name' is required.")
        m = VOLUME_FILE.match(name)
        try:
            size = driver.manage_size(name)
        except DriverError as e:
            raise InvalidInput(f"Manage existing volume failed due to invalid backend "
                               f"reference {ref}: {e}") from None
        zone = body.get("availability_zone") or "nova"
        if zone != "nova":
            raise InvalidInput(f"Invalid input received: Availability zone '{zone}' is "
                               "invalid.")
        now = utcnow()
        with self.m.write() as s:
            if m and s.get(models.Volume, m.group(1)) is not None:
                raise InvalidInput(f"Manage existing volume failed due to invalid "
                                   f"backend reference {ref}: already managed as volume "
                                   f"{m.group(1)}.")
            vtype = self.m.get_type(ctx, body["volume_type"], s) \
                if body.get("volume_type") else self.m.default_type(s)
            refuse_encrypted(vtype)
            # the scheduler's capabilities filter, as for a new volume of the type
            if not scheduling.satisfies(scheduling.capabilities(backend),
                                        {e.key: e.value for e in vtype.extra_specs}):
                raise InvalidInput(f"Invalid volume type: type {vtype.name} cannot be "
                                   f"placed on backend {backend}.")
            self.m.check_quota(s, ctx.project_id, volumes=1, gigabytes=size,
                               per_volume_gigabytes=size, volume_type_id=vtype.id)
            vol = models.Volume(
                id=str(uuid.uuid4()), project_id=ctx.project_id, user_id=ctx.user_id,
                name=body.get("name"), description=body.get("description"), size=size,
                status="managing", attach_status="detached", availability_zone=zone,
                host=self.m.host_of(backend), volume_type_id=vtype.id,
                bootable=bool(body.get("bootable")), multiattach=False,
                created_at=now, updated_at=now)
            vol.metadata_items = [models.VolumeMetadata(key=k, value=str(v)) for k, v in
                                  (body.get("metadata") or {}).items()]
            s.add(vol)
            s.flush()
            s.refresh(vol)
        vid = vol.id

        def step():
            got = driver.manage(name, vid)
            with self.m.write() as s:
                row = s.get(models.Volume, vid)
                if row is not None:
                    row.status, row.size, row.error = "available", got, None
                    row.updated_at = utcnow()

        def failed(e):
            with self.m.write() as s:
                row = s.get(models.Volume, vid)
                if row is not None:
                    row.status, row.error = "error_managing", str(e)[:1000]
        self.m.worker.submit(step, failed)
        return vol

    def unmanage(self, ctx, volume_id: str) -> None:
        """Forget the volume, keep its data (see the module doc): 400 unless it is in
        a deletable status with no attachment and no snapshot."""
        with self.m.write() as s:
            vol = self.m.volumes.get(ctx, volume_id, s)
            if vol.status not in DELETABLE or vol.attachments or \
                    vol.migration_status in ("migrating", "starting"):
                raise invalid_volume(f"Volume {vol.id} status must be available or "
                                     f"error to unmanage, and not attached, but the "
                                     f"current status is {vol.status}.")
            if s.scalar(sa.select(models.Snapshot.id).where(
                    models.Snapshot.volume_id == vol.id).limit(1)):
                raise invalid_volume(f"Volume {vol.id} has snapshots: they must be "
                                     "deleted or unmanaged first.")
            if s.scalar(sa.select(models.Transfer.id).where(
                    models.Transfer.volume_id == vol.id).limit(1)):
                raise invalid_volume(f"Volume {vol.id} is awaiting a transfer.")
            s.delete(vol)

