"""Periodic jobs that run once per interval across every API process of a cloud.

:class:`PeriodicRunner` is a daemon thread started by ``kumo up`` and ``kumo api``. Every
tick it goes through its :class:`Job`\\ s; for each one it

1. on PostgreSQL, takes the job's advisory lock with ``pg_try_advisory_lock`` on a
   connection of its own (key: :func:`lock_key` of the job's name); a process that does
   not get it skips the job this tick (another process is running it). SQLite serves one
   process, so no lock is needed there;
2. reads the job's row in ``kumo_periodic_job``: if the job ran less than its interval
   ago (in any process), it is skipped;
3. runs the job (wrapped in :func:`kumo.db.retrying`), then records the run (time,
   ``runs`` + 1, which process) and releases the lock.

So a job runs at most once per interval in the whole cloud and never twice at once,
whichever processes are up; when the process that ran it last stops, another one takes
over at its next tick. A job that raises is logged and retried at the next interval.

:func:`cloud_jobs` lists Kumo's jobs: pruning expired revocation events, moving routers
off dead L3 agents, purging old deleted servers.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from kumo.common.timeutils import utcnow
from kumo.db import Database, retrying
from kumo.db.models import PeriodicJob

LOG = logging.getLogger(__name__)


@dataclass
class Job:
    """``fn()`` runs every ``interval_s`` seconds, once across all processes; its return
    value is logged (at debug level)."""

    name: str
    fn: Callable[[], object]
    interval_s: float


def lock_key(name: str) -> int:
    """The job's PostgreSQL advisory lock key: a signed 64-bit integer from the name."""
    digest = hashlib.blake2b(b"kumo-periodic:" + name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PeriodicRunner:
    """Runs ``jobs`` on a daemon thread (see the module doc). ``tick_s``: how often it
    looks for due jobs (default: a quarter of the shortest interval, at most 10 s)."""

    def __init__(self, db: Database, jobs: list[Job], tick_s: float | None = None,
                 runner_id: str | None = None):
        self.db = db
        self.jobs = list(jobs)
        shortest = min((j.interval_s for j in self.jobs), default=60.0)
        self.tick_s = tick_s if tick_s is not None else max(0.1, min(shortest / 4, 10.0))
        self.runner_id = runner_id or f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "PeriodicRunner":
        self._thread = threading.Thread(target=self._loop, name="kumo-periodic",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop ticking; waits up to ``timeout`` for a job in progress to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            self.run_due()

    def run_due(self) -> list[str]:
        """One tick: run each job that is due and not running elsewhere; returns the
        names of the jobs this process ran."""
        ran = []
        for job in self.jobs:
            if self._stop.is_set():
                break
            try:
                if self.run_job(job):
                    ran.append(job.name)
            except Exception:
                LOG.exception("periodic job %s failed", job.name)
        return ran

    def run_job(self, job: Job, force: bool = False) -> bool:
        """Run ``job`` if it is due (or ``force``) and no other process holds its lock;
        returns whether it ran here. Exceptions of the job propagate (after the lock
        is released)."""
        if self.db.is_sqlite:
            return self._run_if_due(job, force)
        key = lock_key(job.name)
        with self.db.engine.connect() as conn:
            got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar()
            conn.commit()
            if not got:
                return False
            try:
                return self._run_if_due(job, force)
            finally:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                conn.commit()

    def _run_if_due(self, job: Job, force: bool) -> bool:
        started = utcnow()
        with self.db.session(readonly=True) as s:
            last = s.scalar(sa.select(PeriodicJob.last_run_at)
                            .where(PeriodicJob.name == job.name))
        if not force and last is not None and \
                (started - last).total_seconds() < job.interval_s:
            return False
        result = retrying(job.fn)()
        LOG.debug("periodic job %s: %r", job.name, result)
        self._record(job.name, started)
        return True

    @retrying
    def _record(self, name: str, started) -> None:
        with self.db.session() as s:
            row = s.get(PeriodicJob, name)
            if row is None:
                s.add(PeriodicJob(name=name, last_run_at=started, runs=1,
                                  runner=self.runner_id))
            else:
                row.last_run_at, row.runs, row.runner = started, row.runs + 1, \
                    self.runner_id


def cloud_jobs(cloud) -> list[Job]:
    """Kumo's periodic jobs over ``cloud`` (a :class:`kumo.app.Cloud`), each every
    ``periodic_interval_s``."""
    from kumo.compute.purge import purge_deleted

    settings = cloud.settings
    every = float(settings.periodic_interval_s)

    def prune_revocations() -> int:
        return cloud.identity.auth.prune_events()

    def reschedule_routers() -> list[str]:
        scheduler = cloud.networking.l3_scheduler
        with cloud.networking.read() as s:  # the common case writes nothing
            if not scheduler.stranded(s):
                return []
        with cloud.networking.write() as s:
            moved = scheduler.reschedule_from_dead(s)
        if moved:
            LOG.warning("moved %d router(s) off dead L3 agents: %s", len(moved),
                        ", ".join(moved))
        return moved

    def purge_instances() -> int:
        return purge_deleted(cloud.db, settings.compute_purge_deleted_days)

    def expire_volume_attachments() -> list:
        return cloud.volumes.attachments.expire(settings.volume_attach_timeout_s)

    return [Job("revocation_prune", prune_revocations, every),
            Job("l3_reschedule", reschedule_routers, every),
            Job("compute_purge_deleted", purge_instances, every),
            Job("volume_attach_timeout", expire_volume_attachments, every)]


def start(cloud) -> PeriodicRunner | None:
    """Start :func:`cloud_jobs` on a :class:`PeriodicRunner` (None when
    ``periodic_interval_s`` is 0: no periodic work in this process)."""
    if not cloud.settings.periodic_interval_s or cloud.settings.periodic_interval_s <= 0:
        return None
    return PeriodicRunner(cloud.db, cloud_jobs(cloud)).start()
