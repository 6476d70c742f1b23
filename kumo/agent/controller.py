"""The controller base both agents are built on (Kubernetes' controller pattern), and the
one backoff they all use.

:class:`Controller` owns what the network agent (:class:`kumo.agent.agent.Agent`) and
the compute agent (:class:`kumo.agent.compute.ComputeAgent`) have in common::

    Informer (list, then watch)  --changed keys-->  WorkQueue  --batches-->  workers
                                                                              |
    timer: heartbeats (a failed one is retried soon), resyncs, orphan cleanup  v
    driver watches (each restarted with backoff)               process_batch(keys)

- **The queue** (:class:`~kumo.agent.workqueue.WorkQueue`): de-duplicated keys, never
  one key on two workers; ``workers`` threads each take up to :attr:`batch` keys
  (:meth:`process_batch`, the subclass's reconcile). Keys of collections outside
  :attr:`kinds` are not queued.
- **The timer** (one thread): :meth:`heartbeat` every ``heartbeat_s`` (sooner after
  :meth:`wake_heartbeat`, and after :attr:`HEARTBEAT_RETRY_S` when it returned False),
  :meth:`resync` every ``resync_s`` (relist, queue every key, clean orphans), and
  :meth:`cleanup_orphans` after the first list and each resync, once the informer is
  synced.
- **Watches**: :meth:`watches` names functions ``fn(stop)`` (the drivers' kernel
  watches) run each on its own thread by :func:`supervise`, restarted with
  :class:`Backoff` when they raise.
- **Stop** (:meth:`stop`, or SIGTERM/SIGINT in :meth:`run_forever`): informer, queue
  and threads end, then :meth:`stop_drivers`; what was realized stays.

:class:`Backoff` is the one exponential backoff with jitter of the agent side: the
informer's reconnects, the watches' restarts and the per-key reconcile retries.
"""
from __future__ import annotations

import abc
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable

from kumo.agent.watch import Informer, Key
from kumo.agent.workqueue import WorkQueue

__all__ = ["Backoff", "Controller", "supervise"]
LOG = logging.getLogger(__name__)


def _jitter() -> float:
    return random.uniform(0.8, 1.2)


class Backoff:
    """Exponential backoff: attempt ``n`` (1-based) waits ``min_s * factor**(n-1)``
    times ``jitter()`` (default uniform 0.8..1.2; pass ``lambda: 1.0`` for none),
    capped at ``max_s``. Seconds.

    Used two ways: :meth:`delay` for a count kept by the caller (per-key retries), or
    as a running counter, :meth:`next` (the delay of the next attempt, counting it)
    and :meth:`reset` after a success."""

    def __init__(self, min_s: float, max_s: float, factor: float = 2.0,
                 jitter: Callable[[], float] | None = _jitter):
        if min_s <= 0 or max_s < min_s or factor < 1:
            raise ValueError("backoff needs 0 < min_s <= max_s and factor >= 1")
        self.min_s = min_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter or (lambda: 1.0)
        self.attempts = 0

    def delay(self, attempts: int) -> float:
        """The wait before retry number ``attempts`` (1 = after the first failure)."""
        n = min(max(1, attempts) - 1, 64)
        return min(self.min_s * self.factor ** n * self.jitter(), self.max_s)

    def next(self) -> float:
        """Count one more failure and return the wait before the next attempt."""
        self.attempts += 1
        return self.delay(self.attempts)

    def reset(self) -> None:
        self.attempts = 0

    @property
    def failing(self) -> bool:
        """A failure was counted since the last :meth:`reset`."""
        return self.attempts > 0


def supervise(fn: Callable[[threading.Event], None], stop: threading.Event,
              backoff: Backoff, what: str) -> None:
    """Run ``fn(stop)`` until ``stop`` is set: when it returns it is called again at
    once, when it raises after ``backoff.next()`` (logged); a clean return resets
    the backoff. ``what`` names it in the log."""
    while not stop.is_set():
        try:
            fn(stop)
            backoff.reset()
        except Exception:  # noqa: BLE001 - a watch failure must not end the agent
            delay = backoff.next()
            LOG.exception("%s failed; restarting in %.1f s", what, delay)
            stop.wait(delay)


class Controller(abc.ABC):
    """The reconcile loop of ``host``: informer over ``client`` (its ``snapshot``,
    ``changes`` and optionally ``fetch``, see :class:`~kumo.agent.watch.Informer`),
    work queue, ``workers`` threads taking up to ``batch`` keys, the timer and the
    watches. Times are in seconds. A subclass implements :meth:`process_batch`,
    :meth:`heartbeat`, :meth:`cleanup_orphans` and :meth:`stop_drivers`, and may add
    :meth:`watches` and :meth:`extra_threads`."""

    #: Restart backoff of the watches (seconds).
    BACKOFF_MIN_S = 0.5
    BACKOFF_MAX_S = 30.0
    #: After a heartbeat that failed, the next one comes this soon (at most the period).
    HEARTBEAT_RETRY_S = 2.0
    #: Snapshot collections queued (None: every one).
    kinds: tuple[str, ...] | None = None
    #: Thread names' prefix.
    name = "agent"

    def __init__(self, client, host: str, workers: int = 4, resync_s: float = 120.0,
                 heartbeat_s: float = 30.0, wait_s: float = 20.0, batch: int = 1):
        self.client = client
        self.host = host
        self.workers = max(1, workers)
        self.resync_s = resync_s
        self.heartbeat_s = heartbeat_s
        self.batch = max(1, batch)
        self.informer = Informer(client, host, self._on_update, wait_s=wait_s)
        self.queue = WorkQueue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._cleanup_due = False
        self._beat_due = False
        self._listed = False
        self._threads: list[threading.Thread] = []

    # -- what a subclass provides ---------------------------------------------------
    @abc.abstractmethod
    def process_batch(self, keys: list[Key]):
        """Reconcile ``keys`` (distinct, each held by this worker until it returns)."""

    @abc.abstractmethod
    def heartbeat(self) -> bool:
        """Tell the controller this host is alive; False when it did not take it."""

    @abc.abstractmethod
    def cleanup_orphans(self):
        """Remove what the drivers realized that is no longer desired (runs on the
        timer's thread after the first list and each resync)."""

    @abc.abstractmethod
    def stop_drivers(self) -> None:
        """Release the drivers (realized state stays)."""

    def watches(self) -> Iterable[tuple[str, Callable[[threading.Event], None]]]:
        """``(name, fn(stop))`` of the kernel watches to run; default none."""
        return ()

    def extra_threads(self) -> Iterable[tuple[str, Callable[[], None]]]:
        """``(name, target)`` of more threads to run until :meth:`stop`."""
        return ()

    def describe(self) -> str:
        """What it drives, for the start message."""
        return ""

    def after_batch(self) -> None:
        """Called by a worker after each batch (done or failed)."""

    def on_revision(self, revision: int) -> None:
        """Called with the informer's revision after each refresh."""

    # -- lifecycle -----------------------------------------------------------------
    def _spawn(self, target, name: str) -> None:
        t = threading.Thread(target=target, name=f"{name}-{self.host}", daemon=True)
        t.start()
        self._threads.append(t)

    def start(self) -> None:
        """Start the workers, the timer, the watches and extra threads, then the
        informer."""
        for i in range(self.workers):
            self._spawn(self._work, f"{self.name}-worker-{i}")
        self._spawn(self._timer, f"{self.name}-timer")
        for name, target in self.extra_threads():
            self._spawn(target, f"{self.name}-{name}")
        for name, fn in self.watches():
            backoff = Backoff(self.BACKOFF_MIN_S, self.BACKOFF_MAX_S)
            self._spawn(lambda fn=fn, b=backoff, n=name: supervise(
                fn, self._stop, b, f"{self.host}: {n} watch"), f"{self.name}-watch-{name}")
        self.informer.start()
        LOG.info("%s for host %s started (%s)", type(self).__name__, self.host,
                 self.describe())

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
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        self.stop_drivers()
        LOG.info("%s for host %s stopped", type(self).__name__, self.host)

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

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- the informer's events -----------------------------------------------------
    def _wanted(self, key: Key) -> bool:
        return self.kinds is None or key[0] in self.kinds

    def _on_update(self, revision: int, keys: set[Key]) -> None:
        for key in keys:
            if self._wanted(key):
                self.queue.add(key)
        self.on_revision(revision)
        if not self._listed:  # orphans are cleaned after the first list
            self._listed = True
            self._cleanup_soon()
        self.after_batch()

    def _cleanup_soon(self) -> None:
        with self._lock:
            self._cleanup_due = True
        self._wake.set()

    def wake_heartbeat(self) -> None:
        """Send the heartbeat soon instead of at its next period."""
        with self._lock:
            self._beat_due = True
        self._wake.set()

    # -- workers -------------------------------------------------------------------
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
                self.after_batch()

    # -- the timer: heartbeats, resyncs, orphan cleanup ------------------------------
    def _timer(self) -> None:
        next_beat = 0.0
        next_resync = time.monotonic() + self.resync_s
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                beat_due, self._beat_due = self._beat_due, False
            if now >= next_beat or beat_due:
                ok = self.heartbeat()  # a failed one is retried soon, not a period later
                next_beat = now + (self.heartbeat_s if ok is not False else
                                   min(self.heartbeat_s, self.HEARTBEAT_RETRY_S))
            if now >= next_resync:
                self.resync()
                next_resync = now + self.resync_s
            with self._lock:
                cleanup = self._cleanup_due and self.informer.synced.is_set()
                self._cleanup_due = self._cleanup_due and not cleanup
            if cleanup:
                try:
                    self.cleanup_orphans()
                except Exception:  # noqa: BLE001 - the timer never dies
                    LOG.exception("%s: orphan cleanup failed", self.host)
            self._wake.wait(max(0.05, min(next_beat, next_resync) - time.monotonic()))
            self._wake.clear()

    def resync(self) -> None:
        """Queue every desired key again, relist, and clean orphans (level-triggered)."""
        if not self.informer.synced.is_set():
            return
        self.informer.request_relist()
        for key in self.informer.keys():
            if self._wanted(key):
                self.queue.add(key)
        self._cleanup_soon()
