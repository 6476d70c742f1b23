"""Volume transfers (Block Storage API v3 "Volume transfers", and
``volume-transfers`` from 3.55): offer a volume to another project with an auth key;
the volume is ``awaiting-transfer`` until accepted (it then belongs to the accepting
project, with its snapshots unless ``no_snapshots``) or the transfer is deleted. The
key is shown once; only its salted SHA-256 is stored. No HTTP here."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

import sqlalchemy as sa

from kumo.common.timeutils import utcnow
from kumo.volume import models
from kumo.volume.errors import InvalidInput, NotFoundError, invalid_volume
from kumo.volume.volumes import is_admin


def _hash(salt: str, key: str) -> str:
    return hashlib.sha256((salt + key).encode()).hexdigest()


class Transfers:
    def __init__(self, manager):
        self.m = manager

    def get(self, ctx, transfer_id: str, s=None) -> models.Transfer:
        def find(session):
            stmt = sa.select(models.Transfer).where(models.Transfer.id == transfer_id)
            if not is_admin(ctx):
                stmt = stmt.where(models.Transfer.project_id == ctx.project_id)
            row = session.scalar(stmt)
            if row is None:
                raise NotFoundError(f"Transfer {transfer_id} could not be found.")
            return row
        if s is not None:
            return find(s)
        with self.m.read() as session:
            return find(session)

    def list(self, ctx, all_tenants: bool) -> list[models.Transfer]:
        stmt = sa.select(models.Transfer)
        if not (is_admin(ctx) and all_tenants):
            stmt = stmt.where(models.Transfer.project_id == ctx.project_id)
        with self.m.read() as s:
            return list(s.scalars(stmt.order_by(models.Transfer.created_at.desc())))

    def create(self, ctx, volume_id: str, name: str | None, no_snapshots: bool
               ) -> tuple[models.Transfer, str]:
        key = secrets.token_hex(8)
        salt = secrets.token_hex(8)
        with self.m.write() as s:
            vol = self.m.volumes.get(ctx, volume_id, s)
            if vol.status != "available":
                raise invalid_volume(f"Status of volume {vol.id} must be available, "
                                     f"but it is {vol.status}.")
            vol.status = "awaiting-transfer"
            row = models.Transfer(id=str(uuid.uuid4()), volume_id=vol.id,
                                  project_id=vol.project_id, name=name, salt=salt,
                                  crypt_hash=_hash(salt, key) +
                                  (":nosnap" if no_snapshots else ""),
                                  created_at=utcnow())
            s.add(row)
            return row, key

    def delete(self, ctx, transfer_id: str) -> None:
        with self.m.write() as s:
            row = self.get(ctx, transfer_id, s)
            vol = s.get(models.Volume, row.volume_id)
            if vol is not None and vol.status == "awaiting-transfer":
                vol.status = "available"
            s.delete(row)

    def accept(self, ctx, transfer_id: str, auth_key: str) -> models.Transfer:
        with self.m.write() as s:
            row = s.get(models.Transfer, transfer_id)
            if row is None:
                raise NotFoundError(f"Transfer {transfer_id} could not be found.")
            digest, _, flag = row.crypt_hash.partition(":")
            if not hmac.compare_digest(digest, _hash(row.salt, auth_key)):
                raise InvalidInput(f"Invalid auth key: Attempt to transfer {transfer_id} "
                                   "with invalid auth key.")
            vol = s.get(models.Volume, row.volume_id)
            snaps = [] if flag == "nosnap" else list(s.scalars(sa.select(
                models.Snapshot).where(models.Snapshot.volume_id == vol.id)))
            self.m.check_quota(s, ctx.project_id, volumes=1,
                               gigabytes=vol.size + sum(x.size for x in snaps),
                               snapshots=len(snaps), volume_type_id=vol.volume_type_id)
            vol.project_id = ctx.project_id
            vol.user_id = ctx.user_id
            vol.status = "available"
            vol.updated_at = utcnow()
            for snap in snaps:
                snap.project_id = ctx.project_id
            s.delete(row)
            return row
