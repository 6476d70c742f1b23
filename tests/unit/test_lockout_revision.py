"""Lockout counting (kumo/identity/compliance.py) between two API processes sharing one
database, on SQLite and, with ``KUMO_TEST_PG_URL``, PostgreSQL: a wrong password does
not bump the identity revision (else anyone could empty every process's identity caches
at will by failing logins), and a process whose cached user predates the failures
still sees the lockout another process counted."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from kumo import config
from kumo.common import exceptions as exc
from kumo.db import Database, upgrade
from kumo.identity import compliance, models
from kumo.identity.bootstrap import bootstrap
from kumo.identity.manager import Identity
from tests.conftest import scratch_database

ATTEMPTS = 3


@pytest.fixture(params=["sqlite", "postgresql"])
def two(request, tmp_path):
    """Two Identity managers (as two API processes) over one database."""
    with scratch_database(request.param, tmp_path, "lockout-revision") as url:
        upgrade(url)
        dbs = [Database(url), Database(url)]
        settings = dict(database_url=url, bcrypt_rounds=4, cache_recheck_s=0.0,
                        lockout_failure_attempts=ATTEMPTS, lockout_duration_s=600)
        idents = [Identity(config.load(str(tmp_path), **settings), db) for db in dbs]
        bootstrap(idents[0])
        yield idents
        for db in dbs:
            db.dispose()


def _revision(ident: Identity) -> int:
    with ident.read() as s:
        return s.scalar(sa.select(models.Revision.value).where(
            models.Revision.name == "identity")) or 0


def _login(ident: Identity, user_id: str, password: str) -> None:
    ident.cache.refresh()
    user = ident.users.find_user({"id": user_id})
    ident.compliance.check_password(user, password)


def test_failures_do_not_bump_the_revision_and_every_process_sees_the_lockout(two):
    a, b = two
    user = a.users.create_user({"name": "locky", "password": "right-pass",
                                "options": {compliance.IGNORE_FIRST_USE: True}})
    _login(b, user.id, "right-pass")  # b now holds the user in its cache
    before = _revision(a)
    for _ in range(ATTEMPTS):
        with pytest.raises(exc.Unauthorized) as err:
            _login(a, user.id, "wrong-pass")
        assert not isinstance(err.value, compliance.AccountLocked)
    assert _revision(a) == before
    # b's cached user knows nothing of the failures; the lockout holds there too
    with pytest.raises(compliance.AccountLocked):
        _login(b, user.id, "right-pass")
    with pytest.raises(compliance.AccountLocked):
        _login(a, user.id, "right-pass")


def test_a_success_resets_the_count_for_every_process(two):
    a, b = two
    user = a.users.create_user({"name": "resetty", "password": "right-pass",
                                "options": {compliance.IGNORE_FIRST_USE: True}})
    for _ in range(ATTEMPTS - 1):
        with pytest.raises(exc.Unauthorized):
            _login(a, user.id, "wrong-pass")
    _login(b, user.id, "right-pass")  # resets the count a recorded
    for _ in range(ATTEMPTS - 1):
        with pytest.raises(exc.Unauthorized):
            _login(b, user.id, "wrong-pass")
    _login(a, user.id, "right-pass")  # not locked: the count started again at 0
