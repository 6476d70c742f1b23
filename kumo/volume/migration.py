"""Volume migration and retype (Block Storage API v3 "Volume actions":
``os-migrate_volume``, ``os-retype``): the volume's data moves to another backend
while the volume stays ``available``, ``migration_status`` going ``migrating`` then
``success`` (``error`` on failure, the data left in place); a retype to a type whose
backend is the current one only changes the type, else it migrates when
``migration_policy`` is ``on-demand``. A mixin of :class:`kumo.volume.volumes.Volumes`
(``self.m`` is the :class:`~kumo.volume.manager.VolumeManager`). No HTTP here.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common.timeutils import utcnow
from kumo.volume import models
from kumo.volume.encryption import refuse_encrypted
from kumo.volume.errors import InvalidInput, invalid_volume


class Migration:
    def migrate(self, ctx, volume_id: str, host: str, new_type_id: str | None = None
                ) -> None:
        """Move the volume's data to the backend of ``host`` (``host@backend[#pool]``
        or the backend name); the volume stays ``available`` with ``migration_status``
        ``migrating`` then ``success`` (``error`` on failure, data left in place)."""
        target = host.partition("#")[0]
        name = target.partition("@")[2] or target
        if name not in self.m.backends:
            raise InvalidInput(f"Invalid input received: No valid host {host} was found.")
        with self.m.write() as s:
            vol = self.get(ctx, volume_id, s)
            if vol.status != "available" or vol.attachments:
                raise invalid_volume("Volume status must be available to migrate.")
            if vol.migration_status in ("migrating", "starting"):
                raise invalid_volume("Volume is already being migrated.")
            src_name, src = self.m.backend_of(vol.host)
            if src_name == name:
                raise invalid_volume("Destination host must be different than the "
                                     "current host.")
            if s.scalar(sa.select(sa.func.count()).select_from(models.Snapshot).where(
                    models.Snapshot.volume_id == vol.id)):
                raise invalid_volume("Volume must not have snapshots.")
            if new_type_id:
                self.m.quota.check_retype(s, vol, new_type_id)
            self.m.check_capacity(s, name, vol.size)
            vol.migration_status = "migrating"
            vol.status = "retyping" if new_type_id else vol.status
            size = vol.size
        dst = self.m.backends[name]

        def step():
            dst.create_from_file(volume_id, src.read_path(volume_id), size)
            try:
                with self.m.write() as s:
                    vol = s.get(models.Volume, volume_id)
                    vol.host = self.m.host_of(name)
                    vol.migration_status = "success"
                    vol.status = "available"
                    if new_type_id:
                        vol.volume_type_id = new_type_id
                    vol.updated_at = utcnow()
            except BaseException:
                dst.delete(volume_id)
                raise
            src.delete(volume_id)
        self.m.worker.submit(step, lambda e: self._set(
            volume_id, migration_status="error", status="available", error=str(e)))

    def retype(self, ctx, volume_id: str, new_type: str, policy: str) -> None:
        with self.m.read() as s:
            vol = self.get(ctx, volume_id, s)
            vtype = self.m.get_type(ctx, new_type, s)
            refuse_encrypted(vtype)
            if vol.volume_type_id == vtype.id:
                raise InvalidInput("Invalid input received: Retype requested to the "
                                   "same volume type.")
            if vol.status not in ("available", "in-use"):
                raise invalid_volume("Volume status must be available or in-use to "
                                     "retype.")
            backend = self.m.backend_for_type(vtype)
            current = self.m.backend_of(vol.host)[0]
        if backend == current:
            with self.m.write() as s:
                vol = self.get(ctx, volume_id, s)
                self.m.quota.check_retype(s, vol, vtype.id)
                vol.volume_type_id = vtype.id
                vol.updated_at = utcnow()
            return
        if policy != "on-demand":
            raise InvalidInput("Invalid input received: Retype needs a migration to "
                               f"backend {backend}; set migration_policy to on-demand.")
        self.migrate(ctx, volume_id, backend, new_type_id=vtype.id)
