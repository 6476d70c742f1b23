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
import signal
import threading
import time

from kumo.agent import client as api
from kumo.agent.dataplane.errors import is_permanent
from kumo.agent.drivers import Driver, FakeDriver, Report, build, register_driver
from kumo.agent.watch import Informer, Key
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


class Loop:
    """Threads, stopping and ``run_forever`` shared by the agents' reconcile loops
    (:class:`Agent` for networking, :class:`kumo.agent.compute.ComputeAgent`). A
    subclass has ``host``, ``informer``, ``queue``, the events ``_stop``/``_wake`` and
    the list ``_threads``, and implements :meth:`_stop_drivers`."""

    def _spawn(self, target, name: str) -> None:
        t = threading.Thread(target=target, name=f"{name}-{self.host}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching and working (waiting up to ``timeout`` seconds for the
        threads), then the drivers; what they realized stays."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        self.informer.stop(timeout=0.5)
        self.queue.shutdown()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._stop_drivers()
        LOG.info("%s for host %s stopped", type(self).__name__, self.host)

    def _stop_drivers(self) -> None:
        raise NotImplementedError

    def run_forever(self) -> int:
        """Start and block until SIGTERM/SIGINT (handlers installed when called from the
        main thread) or :meth:`stop`; returns 0."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self._stop.set())
        self.start()
        while not self._stop.wait(1.0):
            pass
        self.stop()
        return 0


class Agent(Loop):
    """The agent of ``host``: watches the controller through ``client`` (a
    :class:`kumo.agent.client.ControllerClient` or anything with the same methods) and
    drives ``drivers``; each worker takes up to ``batch`` queued keys at once (default
    :attr:`BATCH`). Times are in seconds."""

    BACKOFF_MIN_S = 0.5
    BACKOFF_MAX_S = 30.0
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
                 batch: int | None = None):
        if not drivers:
            raise ValueError("an agent needs at least one driver")
        self.client = client
        self.host = host
        self.drivers = list(drivers)
        self.workers = max(1, workers)
        self.resync_s = resync_s
        self.heartbeat_s = heartbeat_s
        self.informer = Informer(client, host, self._on_update, wait_s=wait_s)
        self.queue = WorkQueue()
        self.realized_revision: int | None = None
        self._target: int | None = None
        self._clock = clock
        self._jitter = jitter
        #: Current failures: ``{key: {driver name: Failure}}``.
        self.failures: dict[Key, dict[str, Failure]] = {}
        self._sent: dict[tuple[str, str], tuple[str, object]] = {}
        self._lock = threading.Lock()
        self._cleanup_lock = SharedExclusive()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._cleanup_due = False
        self._beat_due = False
        self._started_types: set[str] = set()
        self._threads: list[threading.Thread] = []
        self.batch = max(1, batch if batch is not None else self.BATCH)

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Start the informer, the workers and the timer (heartbeats, resyncs)."""
        for i in range(self.workers):
            self._spawn(self._work, f"agent-worker-{i}")
        self._spawn(self._timer, "agent-timer")
        for driver in self.drivers:
            if type(driver).watch is not Driver.watch:
                self._spawn(lambda d=driver: self._watch(d), f"agent-watch-{driver.name}")
        self.informer.start()
        LOG.info("agent for host %s started (drivers: %s)", self.host,
                 ", ".join(d.name for d in self.drivers))

    def _watch(self, driver: Driver) -> None:
        """Run ``driver.watch`` until the agent stops, restarting it after errors."""
        delay = self.BACKOFF_MIN_S
        while not self._stop.is_set():
            try:
                driver.watch(self.queue.add, self._stop)
                delay = self.BACKOFF_MIN_S
            except Exception:  # noqa: BLE001 - a watch failure must not end the agent
                LOG.exception("%s: %s watch failed; restarting in %.1f s", self.host,
                              driver.name, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.BACKOFF_MAX_S)

    def _stop_drivers(self) -> None:
        for d in self.drivers:
            try:
                d.stop()
            except Exception:  # noqa: BLE001
                LOG.exception("driver %s: stop failed", d.name)

    # -- the informer's events ---------------------------------------------------
    def _on_update(self, revision: int, keys: set[Key]) -> None:
        first = self._target is None
        for key in keys:
            self.queue.add(key)
        self._target = revision
        if first:
            with self._lock:
                self._cleanup_due = True
            self._wake.set()
        self._check_realized()

    # -- workers -----------------------------------------------------------------
    def _work(self) -> None:
        while True:
            keys = self.queue.get_batch(self.batch)
            if keys is None:
                return
            try:
                self.process_batch(keys)
            except Exception:  # noqa: BLE001 - a worker never dies
                LOG.exception("%s: processing %d keys failed", self.host, len(keys))
            finally:
                for key in keys:
                    self.queue.done(key)
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
        delay = min(self.RETRY_MIN_S * 2 ** (attempts - 1) * self._jitter(),
                    self.RETRY_MAX_S)
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
            self._wake_heartbeat()
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
                self._wake_heartbeat()

    def _wake_heartbeat(self) -> None:
        """Send the heartbeat (with the errors) soon instead of at its next period."""
        with self._lock:
            self._beat_due = True
        self._wake.set()

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

    # -- timer: heartbeats, resyncs, orphan cleanup ------------------------------
    def _timer(self) -> None:
        next_beat = 0.0
        next_resync = time.monotonic() + self.resync_s
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                beat_due, self._beat_due = self._beat_due, False
            if now >= next_beat or beat_due:
                self.heartbeat()
                next_beat = now + self.heartbeat_s
            if now >= next_resync:
                self.resync()
                next_resync = now + self.resync_s
            with self._lock:
                cleanup = self._cleanup_due and self.informer.synced.is_set()
                self._cleanup_due = self._cleanup_due and not cleanup
            if cleanup:
                self.cleanup_orphans()
            timeout = max(0.05, min(next_beat, next_resync) - time.monotonic())
            self._wake.wait(timeout)
            self._wake.clear()

    def resync(self) -> None:
        """Queue every desired key again, relist, and clean orphans (level-triggered)."""
        if not self.informer.synced.is_set():
            return
        self.informer.request_relist()
        for key in self.informer.keys():
            self.queue.add(key)
        with self._lock:
            self._cleanup_due = True
        self._wake.set()

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

    def heartbeat(self) -> None:
        """One heartbeat per agent type of the drivers; ``configurations`` carries the
        realized and desired revisions and the drivers' own entries."""
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
                                      conf, start_flag=agent_type not in self._started_types)
                self._started_types.add(agent_type)
            except api.ControllerError as e:
                LOG.warning("heartbeat %s on %s failed: %s", agent_type, self.host, e)
            except Exception:  # noqa: BLE001
                LOG.exception("heartbeat %s on %s failed", agent_type, self.host)


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
                 wait_s=settings.agent_wait_s)
