"""The Identity service's logic, with no HTTP in it.

:class:`Identity` composes the parts (resources, users, assignments, catalog,
application credentials, auth) around one :class:`~kumo.db.Database` and one
revision-keyed cache. Every write goes through :meth:`Identity.write`, which bumps the
``identity`` revision in the same transaction and, after commit, drops this process's
cached reads; other API processes notice the new revision on their next check.
"""
from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from typing import Callable, Iterator

import bcrypt
import sqlalchemy as sa
from sqlalchemy import orm

from kumo.config import Settings
from kumo.db import Database, after_commit
from kumo.identity import models

AREA = "identity"


def new_id() -> str:
    """A 32-character hex UUID, Keystone's id shape."""
    return uuid.uuid4().hex


class RevisionCache:
    """Memoized reads that stay valid while the ``identity`` revision is unchanged.

    ``get(key, loader)`` returns the cached value or calls ``loader()``. The revision is
    read from the database at most every ``recheck_s`` seconds (0: on every
    :meth:`refresh`); local writes invalidate at once.
    """

    MAX_ENTRIES = 200_000

    def __init__(self, db: Database, recheck_s: float = 0.0):
        self.db = db
        self.recheck_s = recheck_s
        self._revision = -1
        self._checked_at = 0.0
        self._memo: dict = {}
        self._lock = threading.Lock()
        self._stmt = sa.select(models.Revision.value).where(models.Revision.name == AREA)

    def refresh(self) -> None:
        now = time.monotonic()
        if self.recheck_s and now - self._checked_at < self.recheck_s:
            return
        with self.db.read_engine.connect() as conn:
            revision = conn.execute(self._stmt).scalar() or 0
            conn.rollback()
        self._checked_at = now
        if revision != self._revision:
            with self._lock:
                self._memo = {}
                self._revision = revision

    def invalidate(self) -> None:
        with self._lock:
            self._memo = {}
            self._revision = -1
            self._checked_at = 0.0

    def get(self, key, loader: Callable):
        memo = self._memo
        try:
            return memo[key]
        except KeyError:
            value = loader()
            if len(memo) >= self.MAX_ENTRIES:
                memo.clear()  # bounded memory under many distinct tokens
            memo[key] = value
            return value


class Identity:
    """Facade over the identity parts; see each part for its operations."""

    def __init__(self, settings: Settings, db: Database):
        from kumo.identity.access_rules import AccessRules
        from kumo.identity.appcreds import ApplicationCredentials
        from kumo.identity.assignment import Assignments
        from kumo.identity.auth import Auth
        from kumo.identity.catalog import Catalog
        from kumo.identity.compliance import Compliance
        from kumo.identity.credentials import Credentials
        from kumo.identity.endpoint_filter import EndpointFilter
        from kumo.identity.federation import Federation
        from kumo.identity.limits import DomainConfigs, Limits, Policies
        from kumo.identity.oauth1 import OAuth1
        from kumo.identity.resource import Resources
        from kumo.identity.trusts import Trusts
        from kumo.identity.users import Users

        self.settings = settings
        self.db = db
        self.cache = RevisionCache(db, settings.cache_recheck_s)
        self.resources = Resources(self)
        self.users = Users(self)
        self.compliance = Compliance(self)
        self.assignments = Assignments(self)
        self.catalog = Catalog(self)
        self.app_creds = ApplicationCredentials(self)
        self.access_rules = AccessRules(self)
        self.auth = Auth(self)
        self.credentials = Credentials(self)
        self.trusts = Trusts(self)
        self.endpoint_filter = EndpointFilter(self)
        self.policies = Policies(self)
        self.domain_configs = DomainConfigs(self)
        self.limits = Limits(self)
        self.oauth1 = OAuth1(self)
        self.federation = Federation(self)

    @contextlib.contextmanager
    def write(self) -> Iterator[orm.Session]:
        """A write transaction that bumps the identity revision."""
        with self.db.session() as session:
            if not session.info.get("identity_bumped"):
                session.info["identity_bumped"] = True
                bump(session, AREA)
                after_commit(session, self.cache.invalidate)
            yield session

    def read(self) -> contextlib.AbstractContextManager[orm.Session]:
        return self.db.session(readonly=True)

    # Password hashing (bcrypt at the configured cost, 12 by default). bcrypt reads at
    # most 72 bytes and bcrypt>=4.1 refuses longer input, so secrets are cut there, as
    # Keystone does (application credential secrets are 86 characters).
    def hash_secret(self, secret: str) -> str:
        return bcrypt.hashpw(_bcrypt_input(secret),
                             bcrypt.gensalt(self.settings.bcrypt_rounds)).decode()

    def check_secret(self, secret: str, hashed: str | None) -> bool:
        if not hashed:
            # Same cost as a real check, so timing does not tell whether a user exists.
            bcrypt.checkpw(b"x", _dummy_hash(self.settings.bcrypt_rounds))
            return False
        return bcrypt.checkpw(_bcrypt_input(secret), hashed.encode())


BCRYPT_MAX_BYTES = 72


def _bcrypt_input(secret: str) -> bytes:
    return secret.encode()[:BCRYPT_MAX_BYTES]


@functools.cache
def _dummy_hash(rounds: int) -> bytes:
    return bcrypt.hashpw(b"dummy", bcrypt.gensalt(rounds))


def bump(session: orm.Session, area: str) -> None:
    """Increment the revision counter ``area`` inside ``session``'s transaction."""
    result = session.execute(
        sa.update(models.Revision).where(models.Revision.name == area)
        .values(value=models.Revision.value + 1))
    if result.rowcount == 0:
        session.add(models.Revision(name=area, value=1))
        session.flush()
