"""The per-host agent's reconcile loop (``kumo agent``; one in-process in ``kumo up``).

Data flow::

    Informer (list, then watch)  --changed keys-->  WorkQueue (one entry per object)
         |                                               |  N worker threads
         v                                               v
    cache of desired objects  <--- latest object ---  Driver.reconcile(desired, revision)
                                                         |  Report (port statuses)
    controller  <--- port status (changes only), heartbeats with realized revision

- **Level-triggered.** A queued key means "look at this object again"; the worker reads
  the *latest* desired object from the cache at processing time, so bursts of changes to
  one object collapse into one reconcile. Every ``resync_s`` all keys are queued again,
  the informer relists and orphans are cleaned, changes or not.
- **One queue per object.** :class:`WorkQueue` never hands the same key to two workers
  at once (a key added while in flight is processed again after), and different keys
  run in parallel on ``workers`` threads.
- **Batches.** A worker takes every queued key at once (up to ``batch``, 256), reads
  the snapshot once and gives each driver its keys in one
  :meth:`Driver.reconcile_many` call, which answers per key; so a driver shares work
  across them (one kernel listing, one nft transaction, each network once) and a key
  failing fails only itself. The statuses of a batch go north in one call of the
  client's ``report_statuses`` (the controller's batched route; else one call each).
- **Failures are per driver.** Each driver's part of a key is reconciled on its own:
  one driver raising loses only its own report (the others' port statuses still go
  north). A failed (key, driver) is retried with exponential backoff and jitter
  (``RETRY_MIN_S`` doubling to ``RETRY_MAX_S``), also across resyncs, and at once when
  the key's desired object changes; success clears it. The first failure is logged at
  WARNING (with the traceback unless permanent), repeats of the same error at DEBUG.
  Current failures are in every heartbeat as ``configurations["errors"]`` (and the
  ports a :class:`~kumo.agent.dataplane.errors.PermanentError` names are reported
  ``ERROR``). A transient failure holds back the realized revision; a permanent one
  (:func:`~kumo.agent.dataplane.errors.is_permanent`) does not: everything that can be
  realized is, and the error is reported instead.
- **Realized revision.** When the queue is empty and nothing failed, the revision of
  the last snapshot is realized; it is sent in every heartbeat as
  ``configurations["realized_revision"]`` (with ``"desired_revision"``).
- **Status flows north.** Drivers report port (and floating IP) statuses; the agent
  posts only those bound to its host whose status differs from the API's view.
- **Orphans** are cleaned by :meth:`Driver.cleanup_orphans` after the first list and on
  every resync, while no reconcile runs (an exclusive lock), so a newer object being
  realized is never mistaken for an orphan.
- **Shutdown** (SIGTERM/SIGINT in :meth:`Agent.run_forever`, or :meth:`Agent.stop`)
  stops watching and working and calls each driver's ``stop()``; realized state stays.
"""
from __future__ import annotations

import dataclasses
import logging
import random
import time

from kumo.agent import client as api
from kumo.agent.controller import Backoff, Controller
from kumo.agent.dataplane.errors import is_permanent
from kumo.agent.drivers import Driver, FakeDriver, Report, build, register_driver
from kumo.agent.watch import Key
from kumo.agent.workqueue import SharedExclusive, WorkQueue

__all__ = ["Agent", "Driver", "FakeDriver", "Report", "WorkQueue", "build",
           "register_driver"]
LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Failure:
    """One driver's failure on one key. ``obj`` is the desired object it failed for
    (a changed object is retried at once); times are the agent's clock (seconds)."""

    driver: str
    error: str
    permanent: bool
    attempts: int
    delay: float
    retry_at: float
    since: float
    obj: object = None
    ports: tuple[str, ...] = ()


class Agent(Controller):
    """The agent of ``host``: watches the controller through ``client`` (a
    :class:`kumo.agent.client.ControllerClient` or anything with the same methods) and
    drives ``drivers``; each worker takes up to ``batch`` queued keys at once (default
    :attr:`BATCH`). Times are in seconds."""

    #: Reconcile retries: the first after ``RETRY_MIN_S``, doubling up to ``RETRY_MAX_S``.
    RETRY_MIN_S = 1.0
    RETRY_MAX_S = 300.0
    #: Most entries in ``configurations["errors"]``.
    ERRORS_SHOWN = 50
    #: Status reports per batch request (``POST /kumo/v1/ports/status``).
    STATUS_BATCH = 1000
    #: Most keys a worker takes from the queue at once (one driver call for them all).
    BATCH = 256

    def __init__(self, client, host: str, drivers: list[Driver], workers: int = 4,
                 resync_s: float = 120.0, heartbeat_s: float = 30.0, wait_s: float = 20.0,
                 clock=time.monotonic, jitter=lambda: random.uniform(0.8, 1.2),
                 batch: int | None = None, availability_zone: str | None = None):
        if not drivers:
            raise ValueError("an agent needs at least one driver")
        self.availability_zone = availability_zone
        super().__init__(client, host, workers=workers, resync_s=resync_s,
                         heartbeat_s=heartbeat_s, wait_s=wait_s,
                         batch=batch if batch is not None else self.BATCH)
        self.drivers = list(drivers)
        self.realized_revision: int | None = None
        self._target: int | None = None
        self._clock = clock
        #: Reconcile retries: ``RETRY_MIN_S`` doubling to ``RETRY_MAX_S``, ``jitter``.
        self._retry = Backoff(self.RETRY_MIN_S, self.RETRY_MAX_S, jitter=jitter)
        #: Current failures: ``{key: {driver name: Failure}}``.
        self.failures: dict[Key, dict[str, Failure]] = {}
        self._sent: dict[tuple[str, str], tuple[str, object]] = {}
        self._cleanup_lock = SharedExclusive()
        self._started_types: set[str] = set()

    # -- lifecycle ---------------------------------------------------------------
    def describe(self) -> str:
        return "drivers: " + ", ".join(d.name for d in self.drivers)

    def watches(self):
        """Each driver's own ``watch`` (those overriding :meth:`Driver.watch`)."""
        return [(d.name, lambda stop, d=d: d.watch(self.queue.add, stop))
                for d in self.drivers if type(d).watch is not Driver.watch]

    def stop_drivers(self) -> None:
        for d in self.drivers:
            try:
                d.stop()
            except Exception:  # noqa: BLE001
                LOG.exception("driver %s: stop failed", d.name)

    # -- the informer's events and the workers (the queue and threads: Controller) ---
    def on_revision(self, revision: int) -> None:
        self._target = revision

    def after_batch(self) -> None:
        self._check_realized()

    def process(self, key: Key) -> bool:
        """Reconcile ``key`` (see :meth:`process_batch`); True when every driver
        succeeded."""
        return self.process_batch([key])[key]

    def process_batch(self, keys: list[Key]) -> dict[Key, bool]:
        """Reconcile ``keys`` (distinct) against one snapshot: each driver gets, in one
        :meth:`Driver.reconcile_many` call, the keys of the kinds it handles, and
        answers per key, so one key failing (or one driver raising) loses nothing of
        the others. Reports the combined statuses (one batch of status calls) and
        schedules a retry for each (key, driver) that failed. A driver still backing off
        from a failure on the same desired object is not given that key. Returns
        ``{key: every driver succeeded}``."""
        ok = {key: True for key in keys}
        reports = {key: Report() for key in keys}
        self._cleanup_lock.acquire_shared()
        try:
            state = self.informer.snapshot()
            revision = int(state.get("revision", 0))
            objs = {key: self.informer.get(key) for key in keys}
            with self._lock:
                failed = {key: dict(self.failures.get(key, {})) for key in keys}
            now = self._clock()
            for d in self.drivers:
                batch, prev = [], {}
                for key in keys:
                    if d.kinds is not None and key[0] not in d.kinds:
                        continue
                    f = failed[key].get(d.name)
                    if f is not None and f.obj == objs[key] and now < f.retry_at:
                        ok[key] = False  # backing off; its retry is already scheduled
                        continue
                    prev[key] = f
                    batch.append({"kind": key[0], "id": key[1], "object": objs[key],
                                  "state": state})
                if not batch:
                    continue
                try:
                    results = d.reconcile_many(batch, revision)
                except Exception as e:  # noqa: BLE001 - the whole batch failed
                    results = {key: e for key in prev}
                for key, f in prev.items():
                    result = results.get(key)
                    if isinstance(result, Exception):
                        ok[key] = False
                        self._failed(key, d.name, result, objs[key],
                                     f if f and f.obj == objs[key] else None)
                        continue
                    reports[key].merge(result)
                    if f is not None:
                        self._recovered(key, d.name)
        finally:
            self._cleanup_lock.release_shared()
        report = Report()
        with self._lock:
            for key in keys:
                for f in self.failures.get(key, {}).values():
                    if f.permanent:
                        reports[key].merge(Report(ports={p: "ERROR" for p in f.ports}))
        for r in reports.values():
            report.merge(r)
        self._report(report)
        return ok

    def _failed(self, key: Key, driver: str, e: Exception, obj, prev: Failure | None):
        """Record driver ``driver``'s failure on ``key``, log it (once per distinct
        error) and schedule the retry."""
        permanent = is_permanent(e)
        error = f"{type(e).__name__}: {e}"
        attempts = (prev.attempts if prev else 0) + 1
        delay = self._retry.delay(attempts)
        f = Failure(driver=driver, error=error, permanent=permanent, attempts=attempts,
                    delay=delay, retry_at=self._clock() + delay,
                    since=prev.since if prev and prev.error == error else time.time(),
                    obj=obj, ports=tuple(getattr(e, "ports", ()) or ()))
        with self._lock:
            self.failures.setdefault(key, {})[driver] = f
        kind, obj_id = key
        kind = kind[:-1] if kind.endswith("s") else kind  # "port p1" in the log
        if prev is not None and prev.error == error:
            LOG.debug("%s: reconcile of %s %s by driver %s still failing (attempt %d, "
                      "retry in %.0f s): %s", self.host, kind, obj_id, driver, attempts,
                      delay, error)
        elif permanent:
            LOG.error("%s: reconcile of %s %s by driver %s failed (permanent: retrying "
                      "in %.0f s, then less often): %s", self.host, kind, obj_id, driver,
                      delay, error)
        else:
            LOG.error("%s: reconcile of %s %s by driver %s failed (attempt %d, retrying "
                      "in %.1f s): %s", self.host, kind, obj_id, driver, attempts, delay,
                      error, exc_info=e)
        if permanent and (prev is None or prev.error != error):
            self.wake_heartbeat()
        self.queue.add_after(key, delay)

    def _recovered(self, key: Key, driver: str) -> None:
        with self._lock:
            entry = self.failures.get(key, {})
            f = entry.pop(driver, None)
            if not entry:
                self.failures.pop(key, None)
        if f is not None:
            LOG.info("%s: reconcile of %s %s by driver %s succeeded after %d failed "
                     "attempt(s)", self.host, key[0].rstrip("s"), key[1], driver,
                     f.attempts)
            if f.permanent:
                self.wake_heartbeat()

    def errors(self, drivers: list[Driver] | None = None) -> list[dict]:
        """The current failures (of ``drivers``, default all) for the heartbeat:
        ``[{"kind", "id", "driver", "error", "permanent", "attempts", "since",
        "retry_in_s"}]``, permanent ones first, at most :attr:`ERRORS_SHOWN`."""
        names = None if drivers is None else {d.name for d in drivers}
        now = self._clock()
        with self._lock:
            items = [(key, f) for key, entry in self.failures.items()
                     for f in entry.values() if names is None or f.driver in names]
        items.sort(key=lambda kf: (not kf[1].permanent, kf[1].since, kf[0]))
        return [{"kind": key[0], "id": key[1], "driver": f.driver, "error": f.error[:500],
                 "permanent": f.permanent, "attempts": f.attempts,
                 "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(f.since)),
                 "retry_in_s": round(max(0.0, f.retry_at - now), 1)}
                for key, f in items[:self.ERRORS_SHOWN]]

    def _report(self, report: Report) -> None:
        """Post the statuses that differ from the API's: the informer's view, or what
        this agent last sent while the view is no newer than that (a report appends no
        feed change, so the view does not show it); and a status differing from the
        last one sent (that report may have landed after the change the view shows).
        Sent in batches when the client can (``report_statuses``), else one by one."""
        for kind, statuses, send in (
                ("ports", report.ports, self.client.report_port_status),
                ("floatingips", report.floatingips, self.client.report_floatingip_status)):
            todo: dict[str, tuple] = {}
            for obj_id, status in statuses.items():
                obj = self.informer.get((kind, obj_id))
                if obj is None:
                    continue
                if kind == "ports" and obj.get("binding:host_id") != self.host:
                    continue
                # Status reports append no feed change, so the cached object's status
                # is the controller's only until we report: what we last sent for
                # this version of the object is newer.
                version = (status, obj.get("revision_number"))
                with self._lock:
                    sent = self._sent.get((kind, obj_id))
                known = sent[0] if sent is not None and sent[1] == version[1] \
                    else obj.get("status")
                # a report of ours may have landed after the change the view shows
                # (they do not serialize): resend once when the last sent differs
                if known != status or (sent is not None and sent[0] != status):
                    todo[obj_id] = version
            if todo:
                self._send_statuses(kind, todo, send)

    def _send_statuses(self, kind: str, todo: dict[str, tuple], send) -> None:
        many = getattr(self.client, "report_statuses", None)
        items = list(todo.items())
        if many is not None and len(items) > 1:
            for i in range(0, len(items), self.STATUS_BATCH):
                chunk = dict(items[i:i + self.STATUS_BATCH])
                try:
                    many(kind, {k: v[0] for k, v in chunk.items()})
                except api.NotFound:  # a controller without the batch route
                    many, items = None, items[i:]
                    break
                except api.ControllerError as e:
                    LOG.warning("reporting %d %s failed: %s", len(chunk), kind, e)
                    continue
                with self._lock:  # unknown ids are gone: nothing to retry either
                    self._sent.update(((kind, k), v) for k, v in chunk.items())
            if many is not None:
                return
        for obj_id, version in items:
            try:
                send(obj_id, version[0])
            except api.NotFound:
                continue
            except api.ControllerError as e:
                LOG.warning("reporting %s %s %s failed: %s", kind, obj_id, version[0], e)
                continue
            with self._lock:
                self._sent[(kind, obj_id)] = version

    def _check_realized(self) -> None:
        target = self._target
        # delayed retries are in self.failures: only transient ones hold the revision
        if target is not None and self.queue.idle(delayed=False):
            with self._lock:
                if not any(not f.permanent for entry in self.failures.values()
                           for f in entry.values()):
                    self.realized_revision = target

    # -- what the timer calls (Controller: heartbeats, resyncs, orphan cleanup) ----
    def cleanup_orphans(self) -> None:
        """Call each driver's ``cleanup_orphans`` with the latest snapshot while no
        reconcile runs."""
        self._cleanup_lock.acquire_exclusive()
        try:
            desired = self.informer.snapshot()
            for d in self.drivers:
                try:
                    d.cleanup_orphans(desired)
                except Exception:  # noqa: BLE001
                    LOG.exception("driver %s: orphan cleanup failed", d.name)
        finally:
            self._cleanup_lock.release_exclusive()

    def heartbeat(self) -> bool:
        """One heartbeat per agent type of the drivers; ``configurations`` carries the
        realized and desired revisions and the drivers' own entries. True when the
        controller took every one."""
        ok = True
        self._check_realized()
        by_type: dict[str, list[Driver]] = {}
        for d in self.drivers:
            by_type.setdefault(d.agent_type, []).append(d)
        for agent_type, drivers in by_type.items():
            conf: dict = {}
            for d in drivers:
                conf.update(d.configurations())
            conf.update({"realized_revision": self.realized_revision,
                         "desired_revision": self._target,
                         "drivers": [d.name for d in drivers],
                         "errors": self.errors(drivers)})
            try:
                self.client.heartbeat(self.host, agent_type, drivers[0].binary or None,
                                      conf, start_flag=agent_type not in self._started_types,
                                      availability_zone=self.availability_zone
                                      if agent_type in ("DHCP agent", "L3 agent") else None)
                self._started_types.add(agent_type)
            except api.ControllerError as e:
                ok = False
                LOG.warning("heartbeat %s on %s failed: %s", agent_type, self.host, e)
            except Exception:  # noqa: BLE001
                ok = False
                LOG.exception("heartbeat %s on %s failed", agent_type, self.host)
        return ok


def from_settings(settings, client, host: str | None = None,
                  drivers: list[Driver] | None = None) -> Agent:
    """An :class:`Agent` with the ``agent_*`` settings (drivers from
    ``agent_drivers`` unless given)."""
    import socket

    host = host or settings.agent_host or socket.gethostname()
    drivers = drivers if drivers is not None else build(
        list(settings.agent_drivers), host, settings, client=client)
    return Agent(client, host, drivers, workers=settings.agent_workers,
                 resync_s=settings.agent_resync_s, heartbeat_s=settings.agent_heartbeat_s,
                 wait_s=settings.agent_wait_s,
                 availability_zone=settings.agent_availability_zone or None)
