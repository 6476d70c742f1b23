"""Volume type encryption specs (Block Storage API v3 "Volume type encryption"): one
spec per volume type (``provider``, ``control_location``, ``cipher``, ``key_size``),
created, shown, updated and deleted by admins. No HTTP here.

**Nothing is encrypted.** Cinder itself encrypts no data: the compute side does
(os-brick with dm-crypt/LUKS in front of the attached device, a key from Barbican).
Kumo has neither, so the spec is only stored, and a volume of a type with a spec is
refused (400, :func:`refuse_encrypted`) rather than created unencrypted while
claiming ``encrypted: true``. A spec may be created, changed or removed only while no
volume has the type (400, as Cinder's "Volume type in use").
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from kumo.common.timeutils import isotime, utcnow
from kumo.volume import models
from kumo.volume.errors import InvalidInput, NotFoundError

FIELDS = ("provider", "cipher", "key_size", "control_location")


def refuse_encrypted(vtype: models.VolumeType) -> None:
    """400 for a volume of a type with an encryption spec (see the module doc)."""
    if vtype.encryption is not None:
        raise InvalidInput(
            f"Invalid volume type: volume type {vtype.name} has an encryption spec "
            f"(provider {vtype.encryption.provider}), and this cloud's block storage "
            "does not encrypt volumes; use a type without encryption.")


def render(enc: models.TypeEncryption) -> dict:
    """The spec as Cinder's ``GET /types/{id}/encryption`` shows it."""
    return {"volume_type_id": enc.volume_type_id, "encryption_id": enc.encryption_id,
            "provider": enc.provider, "cipher": enc.cipher, "key_size": enc.key_size,
            "control_location": enc.control_location,
            "created_at": isotime(enc.created_at), "updated_at": isotime(enc.updated_at),
            "deleted": False, "deleted_at": None}


class Encryption:
    def __init__(self, manager):
        self.m = manager

    def get(self, type_id: str) -> dict:
        """The type's spec, ``{}`` when it has none; 404 for an unknown type."""
        with self.m.read() as s:
            vtype = self.m.get_type(None, type_id, s)
            return render(vtype.encryption) if vtype.encryption is not None else {}

    def _in_use(self, s, vtype: models.VolumeType, what: str) -> None:
        if s.scalar(sa.select(models.Volume.id).where(
                models.Volume.volume_type_id == vtype.id).limit(1)):
            raise InvalidInput(f"Cannot {what} encryption specs. Volume type in use.")

    def create(self, type_id: str, spec: dict) -> dict:
        """400 if the type has a spec already or volumes; 404 for an unknown type."""
        with self.m.write() as s:
            vtype = self.m.get_type(None, type_id, s)
            self._in_use(s, vtype, "create")
            if vtype.encryption is not None:
                raise InvalidInput(f"Volume type encryption for type {vtype.id} already "
                                   "exists.")
            now = utcnow()
            vtype.encryption = models.TypeEncryption(
                volume_type_id=vtype.id, encryption_id=str(uuid.uuid4()),
                provider=spec["provider"], cipher=spec.get("cipher"),
                key_size=spec.get("key_size"),
                control_location=spec["control_location"],
                created_at=now, updated_at=None)
            s.flush()
            return render(vtype.encryption)

    def update(self, type_id: str, spec: dict) -> dict:
        """400 while volumes have the type; 404 without a spec."""
        with self.m.write() as s:
            vtype = self.m.get_type(None, type_id, s)
            self._in_use(s, vtype, "update")
            enc = vtype.encryption
            if enc is None:
                raise NotFoundError(f"Volume type encryption for type {vtype.id} does "
                                    "not exist.")
            for key in FIELDS:
                if key in spec:
                    setattr(enc, key, spec[key])
            enc.updated_at = utcnow()
            s.flush()
            return render(enc)

    def delete(self, type_id: str) -> None:
        """400 while volumes have the type; 404 without a spec."""
        with self.m.write() as s:
            vtype = self.m.get_type(None, type_id, s)
            self._in_use(s, vtype, "delete")
            if vtype.encryption is None:
                raise NotFoundError(f"Volume type encryption for type {vtype.id} does "
                                    "not exist.")
            vtype.encryption = None
