"""The agents' work queue (Kubernetes' workqueue) and the reconcile/cleanup lock.

:class:`WorkQueue` de-duplicates keys, never hands one key to two workers at once,
re-queues a key added while in flight, delays retries (:meth:`WorkQueue.add_after`) and
hands out batches (:meth:`WorkQueue.get_batch`). :class:`SharedExclusive` lets
reconciles run together while orphan cleanup runs alone.
"""
from __future__ import annotations

import heapq
import threading
import time
from collections import deque

from kumo.agent.watch import Key

__all__ = ["SharedExclusive", "WorkQueue"]


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

    def get_batch(self, max_keys: int) -> list[Key] | None:
        """The next key (blocking) and up to ``max_keys - 1`` more that are already
        queued, all marked in flight (each needs :meth:`done`); None after
        :meth:`shutdown`."""
        first = self.get()
        if first is None:
            return None
        keys = [first]
        with self._cond:
            while self._queue and len(keys) < max_keys and not self._shutdown:
                key = self._queue.popleft()
                self._queued.discard(key)
                self._active.add(key)
                keys.append(key)
        return keys

    def done(self, key: Key) -> None:
        with self._cond:
            self._active.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._add(key)
            self._cond.notify_all()

    def idle(self, delayed: bool = True) -> bool:
        """Nothing queued, in flight or (unless ``delayed`` is false) waiting for a
        retry."""
        with self._cond:
            return not (self._queue or self._active or self._dirty
                        or (delayed and self._delayed))

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()


class SharedExclusive:
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
