"""OAuth1 consumers (Identity API v3 "OS-OAUTH1": ``/v3/OS-OAUTH1/consumers``).

A consumer's secret is shown once, at creation, and kept encrypted under the
credential keys. Request and access tokens (the delegation flow) are not served yet.
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from cryptography.fernet import Fernet, MultiFernet

from kumo.common import exceptions as exc
from kumo.identity.manager import new_id
from kumo.identity.models_more import OAuth1Consumer


class OAuth1:
    def __init__(self, identity):
        self.identity = identity

    def create_consumer(self, description: str | None, extra: dict
                        ) -> tuple[OAuth1Consumer, str]:
        secret = uuid.uuid4().hex
        keys = self.identity.credentials._keys()
        row = OAuth1Consumer(id=new_id(), description=description,
                             encrypted_secret=Fernet(keys[0]).encrypt(secret.encode()).decode(),
                             extra=extra)
        with self.identity.write() as s:
            s.add(row)
        return row, secret

    def consumer_secret(self, row: OAuth1Consumer) -> str:
        keys = self.identity.credentials._keys()
        return MultiFernet([Fernet(k) for k in keys]).decrypt(
            row.encrypted_secret.encode()).decode()

    def get_consumer(self, consumer_id: str) -> OAuth1Consumer:
        with self.identity.read() as s:
            row = s.get(OAuth1Consumer, consumer_id)
        if row is None:
            raise exc.NotFound(resource="consumer", id=consumer_id)
        return row

    def list_consumers(self) -> list[OAuth1Consumer]:
        with self.identity.read() as s:
            return list(s.scalars(sa.select(OAuth1Consumer).order_by(OAuth1Consumer.id)))

    def update_consumer(self, consumer_id: str, changes: dict) -> OAuth1Consumer:
        with self.identity.write() as s:
            row = s.get(OAuth1Consumer, consumer_id)
            if row is None:
                raise exc.NotFound(resource="consumer", id=consumer_id)
            if "description" in changes:
                row.description = changes["description"]
            extra = dict(row.extra or {})
            extra.update({k: v for k, v in changes.items() if k != "description"})
            row.extra = extra
            return row

    def delete_consumer(self, consumer_id: str) -> None:
        with self.identity.write() as s:
            if s.execute(sa.delete(OAuth1Consumer).where(OAuth1Consumer.id == consumer_id)
                         ).rowcount == 0:
                raise exc.NotFound(resource="consumer", id=consumer_id)
