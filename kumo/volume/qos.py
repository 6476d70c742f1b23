"""QoS specs (Block Storage API v3 "Quality of service (QoS) specifications
(qos-specs)"): create, list, show, set and unset keys, delete (``force`` when
associated), associate with volume types and disassociate. Kumo records them; the
file backend enforces none. No HTTP here."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.volume import models
from kumo.volume.errors import InvalidInput, NotFoundError

CONSUMERS = ("front-end", "back-end", "both")


class QosSpecs:
    def __init__(self, manager):
        self.m = manager

    def get(self, qos_id: str, s=None) -> models.QosSpecs:
        def find(session):
            row = session.get(models.QosSpecs, qos_id)
            if row is None:
                raise NotFoundError(f"No such QoS spec {qos_id}.")
            return row
        if s is not None:
            return find(s)
        with self.m.read() as session:
            return find(session)

    def list(self) -> list[models.QosSpecs]:
        with self.m.read() as s:
            return list(s.scalars(sa.select(models.QosSpecs).order_by(
                models.QosSpecs.created_at, models.QosSpecs.name)))

    def create(self, name: str, consumer: str, specs: dict) -> models.QosSpecs:
        if consumer not in CONSUMERS:
            raise InvalidInput(f"Invalid input received: consumer must be one of "
                               f"{', '.join(CONSUMERS)}.")
        with self.m.write() as s:
            if s.scalar(sa.select(models.QosSpecs).where(
                    models.QosSpecs.name == name)) is not None:
                raise exc.Conflict(f"QoS Specs {name} already exists.")
            row = models.QosSpecs(id=str(uuid.uuid4()), name=name, consumer=consumer,
                                  specs=specs, created_at=utcnow())
            s.add(row)
            return row

    def set_keys(self, qos_id: str, specs: dict) -> dict:
        with self.m.write() as s:
            row = self.get(qos_id, s)
            if "consumer" in specs:
                consumer = specs.pop("consumer")
                if consumer not in CONSUMERS:
                    raise InvalidInput(f"Invalid input received: consumer must be one "
                                       f"of {', '.join(CONSUMERS)}.")
                row.consumer = consumer
            row.specs = {**(row.specs or {}), **specs}
            return specs

    def delete_keys(self, qos_id: str, keys: list[str]) -> None:
        with self.m.write() as s:
            row = self.get(qos_id, s)
            specs = dict(row.specs or {})
            missing = [k for k in keys if k not in specs]
            if missing:
                raise NotFoundError(f"QoS spec {qos_id} has no spec with key "
                                    f"{missing[0]}.")
            for key in keys:
                specs.pop(key)
            row.specs = specs

    def types_of(self, s, qos_id: str) -> list[models.VolumeType]:
        return list(s.scalars(sa.select(models.VolumeType).where(
            models.VolumeType.qos_specs_id == qos_id)))

    def associations(self, qos_id: str) -> list[models.VolumeType]:
        with self.m.read() as s:
            self.get(qos_id, s)
            return self.types_of(s, qos_id)

    def delete(self, qos_id: str, force: bool) -> None:
        with self.m.write() as s:
            row = self.get(qos_id, s)
            types = self.types_of(s, qos_id)
            if types and not force:
                raise InvalidInput(f"QoS Specs {qos_id} is still associated with "
                                   "entities.")
            for vtype in types:
                vtype.qos_specs_id = None
            s.delete(row)

    def associate(self, qos_id: str, type_id: str) -> None:
        with self.m.write() as s:
            self.get(qos_id, s)
            vtype = self.m.get_type(None, type_id, s)
            if vtype.qos_specs_id and vtype.qos_specs_id != qos_id:
                raise InvalidInput(f"Type {vtype.id} is already associated with another "
                                   f"qos specs: {vtype.qos_specs_id}")
            vtype.qos_specs_id = qos_id

    def disassociate(self, qos_id: str, type_id: str | None) -> None:
        with self.m.write() as s:
            self.get(qos_id, s)
            types = [self.m.get_type(None, type_id, s)] if type_id else \
                self.types_of(s, qos_id)
            for vtype in types:
                if vtype.qos_specs_id == qos_id:
                    vtype.qos_specs_id = None
