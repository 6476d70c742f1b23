"""kumo.db.retrying: which database errors re-run a transaction, and when it is safe."""
from __future__ import annotations

import os
import sqlite3

import psycopg
import pytest
import sqlalchemy as sa

from kumo import db as kdb
from kumo.db import Database, is_retriable, retrying


def _wrapped(orig) -> sa.exc.OperationalError:
    return sa.exc.OperationalError("UPDATE ...", {}, orig)


@pytest.fixture
def sqlite_db(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'x.db'}", pool_size=2)
    with d.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    yield d
    d.dispose()


def test_retriable_errors_are_exactly_serialization_deadlock_and_locked():
    assert is_retriable(_wrapped(psycopg.errors.SerializationFailure("x")))
    assert is_retriable(_wrapped(psycopg.errors.DeadlockDetected("x")))
    assert is_retriable(_wrapped(sqlite3.OperationalError("database is locked")))
    assert not is_retriable(_wrapped(psycopg.errors.UniqueViolation("x")))
    assert not is_retriable(_wrapped(psycopg.errors.QueryCanceled("x")))
    assert not is_retriable(_wrapped(sqlite3.OperationalError("no such table: t")))
    assert not is_retriable(ValueError("40001"))


def test_a_simulated_serialization_failure_is_retried(sqlite_db):
    calls = []

    @retrying(first_delay_s=0)
    def write():
        with sqlite_db.session() as s:
            s.execute(sa.text("INSERT INTO t VALUES (:n)"), {"n": len(calls)})
            calls.append(1)
            if len(calls) < 3:  # fails before commit: the insert is rolled back
                raise _wrapped(psycopg.errors.SerializationFailure("could not serialize"))
        return "done"

    assert write() == "done"
    assert len(calls) == 3
    with sqlite_db.session(readonly=True) as s:
        assert s.execute(sa.text("SELECT n FROM t")).scalars().all() == [2]


def test_gives_up_after_the_attempts(sqlite_db):
    calls = []

    @retrying(attempts=3, first_delay_s=0)
    def write():
        calls.append(1)
        with sqlite_db.session():
            raise _wrapped(psycopg.errors.DeadlockDetected("deadlock detected"))

    with pytest.raises(sa.exc.OperationalError):
        write()
    assert len(calls) == 3


def test_other_errors_are_not_retried(sqlite_db):
    calls = []

    @retrying(first_delay_s=0)
    def write():
        calls.append(1)
        with sqlite_db.session():
            raise sa.exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("x"))

    with pytest.raises(sa.exc.IntegrityError):
        write()
    assert calls == [1]


def test_not_retried_after_an_earlier_write_committed(sqlite_db):
    """Re-running would repeat the first (committed) transaction: the error goes up."""
    calls = []

    @retrying(first_delay_s=0)
    def two_writes():
        calls.append(1)
        with sqlite_db.session() as s:
            s.execute(sa.text("INSERT INTO t VALUES (1)"))
        with sqlite_db.session():
            raise _wrapped(psycopg.errors.SerializationFailure("x"))

    with pytest.raises(sa.exc.OperationalError):
        two_writes()
    assert calls == [1]
    with sqlite_db.session(readonly=True) as s:
        assert s.execute(sa.text("SELECT count(*) FROM t")).scalar() == 1


def test_not_retried_inside_an_outer_transaction(sqlite_db):
    """Only the whole transaction can run again: the inner call lets it go up."""
    inner_calls = []

    @retrying(first_delay_s=0)
    def inner():
        inner_calls.append(1)
        raise _wrapped(psycopg.errors.SerializationFailure("x"))

    outer_calls = []

    @retrying(first_delay_s=0, attempts=2)
    def outer():
        outer_calls.append(1)
        with sqlite_db.session():
            assert kdb.in_transaction()
            inner()

    with pytest.raises(sa.exc.OperationalError):
        outer()
    assert outer_calls == [1, 1]  # the outer one retried, the inner never did
    assert inner_calls == [1, 1]
    assert not kdb.in_transaction()


@pytest.mark.postgresql
def test_a_real_postgresql_serialization_failure_is_retried():
    """The server raises SQLSTATE 40001 in the first attempt's transaction."""
    base = os.environ.get("KUMO_TEST_PG_URL")
    if not base:
        pytest.skip("KUMO_TEST_PG_URL is not set")
    d = Database(base, pg_pool_size=1, pg_max_overflow=0)
    calls = []

    @retrying(first_delay_s=0)
    def work():
        calls.append(1)
        with d.session() as s:
            if len(calls) == 1:
                s.execute(sa.text("DO $$ BEGIN RAISE EXCEPTION 'simulated' USING "
                                  "ERRCODE = '40001'; END $$"))
            return s.execute(sa.text("SELECT 42")).scalar()

    try:
        assert work() == 42
        assert len(calls) == 2
    finally:
        d.dispose()


def test_postgresql_pools_fit_three_processes():
    """Three API processes with the default settings fit max_connections=100 minus the
    3 reserved for superusers, with room left for kumo commands and psql."""
    from kumo.config import Settings

    s = Settings()
    d = Database("postgresql+psycopg://u:p@127.0.0.1:1/x", pg_pool_size=s.db_pool_size,
                 pg_max_overflow=s.db_max_overflow)
    per_process = d.engine.pool.size() + d.engine.pool._max_overflow
    assert d.read_engine is d.engine  # one pool serves reads and writes
    assert 3 * per_process <= 100 - 3 - 10
    d.dispose()
