"""An access rule another request adds between our look-up and our insert is reused
(the unique constraint and a savepoint), not a 500: on SQLite and, with
``KUMO_TEST_PG_URL``, PostgreSQL."""
from __future__ import annotations

import pytest

from kumo import config
from kumo.db import Database, upgrade
from kumo.identity import access_rules as ar
from kumo.identity.bootstrap import bootstrap
from kumo.identity.manager import Identity
from kumo.identity.models_more import AccessRule
from tests.conftest import scratch_database


@pytest.fixture(params=["sqlite", "postgresql"])
def identity(request, tmp_path):
    with scratch_database(request.param, tmp_path, "access-rule-race") as url:
        upgrade(url)
        db = Database(url)
        ident = Identity(config.load(str(tmp_path), database_url=url), db)
        bootstrap(ident)
        yield ident
        db.dispose()


def test_a_rule_added_meanwhile_is_reused(identity):
    user = identity.users.create_user({"name": "race", "password": "secret-pass"})
    ref = {"service": "compute", "method": "GET", "path": "/v2.1/servers"}
    with identity.write() as s:
        s.add(AccessRule(id="added-meanwhile", user_id=user.id, **ref))
    with identity.write() as s:
        real, calls = s.scalar, []

        def scalar(stmt, *args, **kwargs):  # the first look-up misses it (the race)
            calls.append(stmt)
            return None if len(calls) == 1 else real(stmt, *args, **kwargs)
        s.scalar = scalar
        rule = ar.AccessRules._find_or_add(s, user.id, ref)
        assert rule.id == "added-meanwhile"
        assert len(calls) == 2  # the insert failed and the rule was looked up again
    with identity.read() as s:
        assert s.query(AccessRule).filter_by(user_id=user.id).count() == 1
