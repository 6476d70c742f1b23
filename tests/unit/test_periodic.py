"""Periodic jobs run once per interval across processes; the image store's start-up
cleanup leaves other processes' uploads alone; request handlers retry conflicts."""
from __future__ import annotations

import os
import threading
import time

import psycopg
import pytest
import sqlalchemy as sa

from kumo import db as kdb
from kumo.common import periodic
from kumo.common.http import Reply, Request, Service
from kumo.db.models import PeriodicJob
from kumo.image.store import FileStore


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'kumo.db'}"
    kdb.upgrade(url)
    return url


def _runs(d: kdb.Database, name: str) -> int:
    with d.session(readonly=True) as s:
        return s.scalar(sa.select(PeriodicJob.runs).where(PeriodicJob.name == name)) or 0


def test_a_job_runs_once_per_interval_and_records_it(sqlite_url):
    d = kdb.Database(sqlite_url, pool_size=2)
    calls = []
    runner = periodic.PeriodicRunner(d, [periodic.Job("j", lambda: calls.append(1), 3600)],
                                     runner_id="me")
    assert runner.run_due() == ["j"]
    assert runner.run_due() == []  # ran less than an interval ago
    other = periodic.PeriodicRunner(d, [periodic.Job("j", lambda: calls.append(2), 3600)])
    assert other.run_due() == []  # ...in any process
    assert calls == [1] and _runs(d, "j") == 1
    assert runner.run_job(runner.jobs[0], force=True)
    assert calls == [1, 1] and _runs(d, "j") == 2
    d.dispose()


def test_a_failing_job_is_logged_and_not_recorded(sqlite_url):
    d = kdb.Database(sqlite_url, pool_size=2)

    def boom():
        raise RuntimeError("boom")

    runner = periodic.PeriodicRunner(d, [periodic.Job("bad", boom, 0)])
    assert runner.run_due() == []
    assert _runs(d, "bad") == 0
    d.dispose()


@pytest.fixture
def pg_url(pg_database_url):
    kdb.upgrade(pg_database_url)
    return pg_database_url


@pytest.mark.postgresql
def test_postgresql_a_job_never_runs_in_two_processes_at_once(pg_url):
    """Two runners with their own pools (as two processes): while one runs the job
    (holding its advisory lock), the other does not run it, even when forced."""
    a, b = kdb.Database(pg_url, pg_pool_size=2), kdb.Database(pg_url, pg_pool_size=2)
    inside, release = threading.Event(), threading.Event()
    ran = []

    def slow():
        ran.append("a")
        inside.set()
        assert release.wait(30)

    ra = periodic.PeriodicRunner(a, [periodic.Job("j", slow, 0)], runner_id="a")
    rb = periodic.PeriodicRunner(b, [periodic.Job("j", lambda: ran.append("b"), 0)],
                                 runner_id="b")
    t = threading.Thread(target=ra.run_due)
    t.start()
    try:
        assert inside.wait(30)
        assert rb.run_job(rb.jobs[0], force=True) is False
        assert rb.run_due() == []
    finally:
        release.set()
        t.join(30)
    assert ran == ["a"]
    assert rb.run_due() == ["j"]  # lock released: b takes its turn
    assert ran == ["a", "b"] and _runs(b, "j") == 2
    a.dispose()
    b.dispose()


def test_store_start_removes_only_stale_temporaries(tmp_path):
    store = FileStore(tmp_path / "images")
    stale = store.tmp / "crashed"
    stale.write_bytes(b"x")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    writer = store.writer()
    writer.write(b"in flight in another process")
    FileStore(tmp_path / "images")  # another process starts on the shared store
    assert not stale.exists()
    assert writer.path.exists()
    written = writer.close()
    store.commit(written, "img")
    assert store.path("img").read_bytes() == b"in flight in another process"


def test_handlers_are_retried_on_a_conflict():
    from kumo.app import _retry_handlers

    svc = Service("t", "/t")
    calls = []

    @svc.route("GET", "/x", authenticated=False)
    def handler(req):
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("UPDATE", {}, psycopg.errors.DeadlockDetected())
        return Reply(200, {"ok": True})

    _retry_handlers([svc])
    _retry_handlers([svc])  # idempotent: not wrapped twice
    from starlette.datastructures import Headers, QueryParams
    req = Request("GET", "/x", QueryParams(""), Headers({}), b"", "http://h/t")
    assert svc.dispatch(req).status == 200
    assert len(calls) == 2


def test_purge_removes_only_old_deleted_instances(sqlite_url):
    import datetime as dt
    import uuid

    from kumo.compute import models
    from kumo.compute.purge import purge_deleted

    d = kdb.Database(sqlite_url, pool_size=2)
    now = dt.datetime(2030, 1, 31)

    def instance(deleted: bool, days_ago: float) -> str:
        at = now - dt.timedelta(days=days_ago)
        iid = str(uuid.uuid4())
        with d.session() as s:
            s.add(models.Instance(
                id=iid, project_id="p", user_id="u", display_name="s", hostname="s",
                vm_state="deleted" if deleted else "active", flavor={}, vcpus=1,
                memory_mb=64, root_gb=1, reservation_id="r-1", created_at=at,
                updated_at=at, deleted=deleted, terminated_at=at if deleted else None))
            s.add(models.InstanceAction(instance_id=iid, request_id="req", action="create",
                                        project_id="p", user_id="u", events=[],
                                        start_time=at, updated_at=at))
            s.add(models.Diagnostics(instance_id=iid, data={}, updated_at=at))
        return iid

    old, recent, live = instance(True, 31), instance(True, 29), instance(False, 400)
    assert purge_deleted(d, 0, now=now) == 0  # 0: keep forever
    assert purge_deleted(d, 30, now=now) == 1
    with d.session(readonly=True) as s:
        left = set(s.scalars(sa.select(models.Instance.id)))
        actions = set(s.scalars(sa.select(models.InstanceAction.instance_id)))
        diags = set(s.scalars(sa.select(models.Diagnostics.instance_id)))
    assert left == actions == diags == {recent, live}
    assert old not in left
    d.dispose()
