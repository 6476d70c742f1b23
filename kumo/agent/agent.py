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
- **Failures** are retried per key with exponential backoff (0.5 s to 30 s); a failed
  key holds back the realized revision.
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

import heapq
import logging
import signal
import threading
import time
from collections import deque

from kumo.agent import client as api
from kumo.agent.drivers import Driver, FakeDriver, Report, build, register_driver
from kumo.agent.watch import Informer, Key

__all__ = ["Agent", "Driver", "FakeDriver", "Report", "WorkQueue", "build",
           "register_driver"]
LOG = logging.getLogger(__name__)


class WorkQueue:
    """A de-duplicating queue of keys (Kubernetes' workqueue): a key is queued at most
    once, never handed out while in flight (:meth:`get` ... :meth:`done`), re-queued
    after :meth:`done` when added meanwhile, and :meth:`add_after` delays it."""

    def __init__(self):
        self._cond = threading.Condition()
        self._queue: deque[Key] = deque()
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()
        self._delayed: list[tuple[float, int, Key]] = []
        self._seq = 0
        self._shutdown = False

    def add(self, key: Key) -> None:
        with self._cond:
            self._add(key)

    def _add(self, key: Key) -> None:
        if self._shutdown:
            return
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queue.append(key)
            self._queued.add(key)
            self._cond.notify()

    def add_after(self, key: Key, delay_s: float) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._delayed, (time.monotonic() + delay_s, self._seq, key))
            self._cond.notify_all()

    def get(self) -> Key | None:
        """The next key (blocking); None after :meth:`shutdown`."""
        with self._cond:
            while True:
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    self._add(heapq.heappop(self._delayed)[2])
                if self._shutdown:
                    return None
                if self._queue:
                    key = self._queue.popleft()
                    self._queued.discard(key)
                    self._active.add(key)
                    return key
                timeout = 1.0
                if self._delayed:
                    timeout = min(timeout, max(0.0, self._delayed[0][0] - now))
                self._cond.wait(timeout)

    def done(self, key: Key) -> None:
        with self._cond:
            self._active.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._add(key)
            self._cond.notify_all()

    def idle(self) -> bool:
        """Nothing queued, in flight or waiting for a retry."""
        with self._cond:
            return not (self._queue or self._active or self._dirty or self._delayed)

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()


class _SharedExclusive:
    """Reconciles hold it shared; orphan cleanup holds it exclusively."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    def acquire_shared(self):
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1

    def release_shared(self):
        with self._cond:
            self._readers -= 1
            self._cond.notify_all()

    def acquire_exclusive(self):
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._writer = True
            while self._readers:
                self._cond.wait()

    def release_exclusive(self):
        with self._cond:
            self._writer = False
            self._cond.notify_all()


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
    drives ``drivers``. Times are in seconds."""

    BACKOFF_MIN_S = 0.5
    BACKOFF_MAX_S = 30.0

    def __init__(self, client, host: str, drivers: list[Driver], workers: int = 4,
                 resync_s: float = 120.0, heartbeat_s: float = 30.0, wait_s: float = 20.0):
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
        self._failures: dict[Key, int] = {}
        self._sent: dict[tuple[str, str], tuple[str, object]] = {}
        self._lock = threading.Lock()
        self._cleanup_lock = _SharedExclusive()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._cleanup_due = False
        self._started_types: set[str] = set()
        self._threads: list[threading.Thread] = []

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
            key = self.queue.get()
            if key is None:
                return
            try:
                self.process(key)
            finally:
                self.queue.done(key)
                self._check_realized()

    def process(self, key: Key) -> bool:
        """Reconcile ``key`` with every driver that handles its kind and report the
        statuses; on failure schedule a retry. Returns True when all drivers succeeded."""
        kind, obj_id = key
        drivers = [d for d in self.drivers if d.kinds is None or kind in d.kinds]
        if not drivers:
            return True
        report = Report()
        self._cleanup_lock.acquire_shared()
        try:
            state = self.informer.snapshot()
            desired = {"kind": kind, "id": obj_id, "object": self.informer.get(key),
                       "state": state}
            revision = int(state.get("revision", 0))
            for d in drivers:
                report.merge(d.reconcile(desired, revision))
        except Exception:  # noqa: BLE001 - a driver failure is retried, not fatal
            with self._lock:
                n = self._failures[key] = self._failures.get(key, 0) + 1
            delay = min(self.BACKOFF_MIN_S * 2 ** (n - 1), self.BACKOFF_MAX_S)
            LOG.exception("reconcile %s/%s failed (attempt %d); retrying in %.1f s",
                          kind, obj_id, n, delay)
            self.queue.add_after(key, delay)
            return False
        finally:
            self._cleanup_lock.release_shared()
        with self._lock:
            self._failures.pop(key, None)
        self._report(report)
        return True

    def _report(self, report: Report) -> None:
        for kind, statuses, send in (
                ("ports", report.ports, self.client.report_port_status),
                ("floatingips", report.floatingips, self.client.report_floatingip_status)):
            for obj_id, status in statuses.items():
                obj = self.informer.get((kind, obj_id))
                if obj is None or obj.get("status") == status:
                    continue
                if kind == "ports" and obj.get("binding:host_id") != self.host:
                    continue
                version = (status, obj.get("revision_number"))
                with self._lock:
                    if self._sent.get((kind, obj_id)) == version:
                        continue
                try:
                    send(obj_id, status)
                except api.NotFound:
                    continue
                except api.ControllerError as e:
                    LOG.warning("reporting %s %s %s failed: %s", kind, obj_id, status, e)
                    continue
                with self._lock:
                    self._sent[(kind, obj_id)] = version

    def _check_realized(self) -> None:
        target = self._target
        if target is not None and self.queue.idle():
            with self._lock:
                if not self._failures:
                    self.realized_revision = target

    # -- timer: heartbeats, resyncs, orphan cleanup ------------------------------
    def _timer(self) -> None:
        next_beat = 0.0
        next_resync = time.monotonic() + self.resync_s
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_beat:
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
                         "drivers": [d.name for d in drivers]})
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
