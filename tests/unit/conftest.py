"""Fixtures of the unit tests."""
from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture
def pg_database_url():
    """The URL of a fresh, empty PostgreSQL database of its own (dropped afterwards),
    on the server of ``KUMO_TEST_PG_URL``; skips when that is not set."""
    base = os.environ.get("KUMO_TEST_PG_URL")
    if not base:
        pytest.skip("KUMO_TEST_PG_URL is not set")
    import psycopg

    name = f"kumo_unit_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request, tmp_path):
    """The URL of a fresh, empty database: SQLite in ``tmp_path``, and PostgreSQL
    (:func:`pg_database_url`) when ``KUMO_TEST_PG_URL`` is set."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/kumo.db"
    return request.getfixturevalue("pg_database_url")


@pytest.fixture
def prepared_cloud(tmp_path):
    """A cloud as ``kumo up`` readies it (keys, migrated SQLite schema, every area's
    bootstrap) under ``tmp_path``, without API server or data plane; closed after."""
    from kumo import cli, config

    settings = config.load(str(tmp_path / "state"))
    settings.bcrypt_rounds = 4
    settings.dataplane = "off"
    made = cli.prepare(settings, migrate=True)
    yield made
    made.close()
