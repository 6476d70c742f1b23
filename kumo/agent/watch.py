"""The informer: list the desired state for one host, then watch the change feed from
the listed revision, relisting when told the revision is too old (410) or after
connection errors, as Kubernetes informers do.

The informer keeps a local cache of desired objects keyed by ``(collection, id)``, e.g.
``("ports", "<uuid>")`` with the API's rendering of the object as value, and calls
``on_update(revision, changed_keys)`` after every refresh with the keys whose desired
object was added, changed or removed (removed keys are no longer in the cache).

**Refresh strategy.** After the first list, a batch of changes costs the changed
objects: the informer fetches just the keys the batch names (the client's ``fetch``,
``GET /kumo/v1/state?host=H&keys=ports:ID,...``, answered from one consistent
read per request) and replaces those entries of its cache; a key the controller does not
answer has left the host's desired state and is removed. This relies on the controller
routing to the host a change for every object whose rendering for it changes, derived
data included (a network's L2 population, a group's members, a router's interfaces),
and for the objects entering or leaving its state (:mod:`kumo.network.scope`). A
client without ``fetch`` (the compute feed's), or a change of a type with no
collection in :data:`KINDS`, re-reads the whole snapshot instead. Batches coalesce
under load, since a long poll returns every change since the last seen revision at
once. Objects are compared to the cached ones, so only really changed keys reach the
reconcile queues; the periodic relist (:meth:`Informer.request_relist`) corrects
anything missed. A whole re-read waits until as long after the previous one as
that one took (at most ``coalesce_max_s``), so changes arriving while a big snapshot
is read are taken together instead of one read each.

Waits are bounded everywhere: the long poll asks for at most ``wait_s`` seconds, errors
back off exponentially from ``backoff_min_s`` to ``backoff_max_s`` with jitter
(:class:`kumo.agent.controller.Backoff`, reset after a success), and :meth:`Informer.stop` interrupts every sleep.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kumo.agent import client as api

LOG = logging.getLogger(__name__)

Key = tuple[str, str]
#: Snapshot entries that are not collections of objects.
_META = ("revision",)
#: A change's ``resource_type`` -> the snapshot collection holding it (the networking
#: feed's; :data:`kumo.network.scope.COLLECTIONS` on the controller's side).
KINDS = {"port": "ports", "network": "networks", "subnet": "subnets",
         "security_group": "security_groups", "router": "routers",
         "floatingip": "floatingips"}


def index(snapshot: dict) -> dict[Key, dict]:
    """``{(collection, id): object}`` of a snapshot body (lists of dicts with ``id``)."""
    out: dict[Key, dict] = {}
    for name, items in snapshot.items():
        if name in _META or not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item, dict) and "id" in item:
                out[(name, item["id"])] = item
    return out


def _keys(changes: list[dict]) -> set[Key] | None:
    """The cache keys a batch of changes names; None if one has no known collection."""
    out: set[Key] = set()
    for c in changes:
        kind = KINDS.get(c.get("resource_type"))
        if kind is None:
            return None
        out.add((kind, c["resource_id"]))
    return out


class Informer:
    """List-then-watch of the desired state of ``host``.

    ``client`` needs ``snapshot(host)`` and ``changes(since, host, wait)`` (see
    :class:`kumo.agent.client.ControllerClient`); ``on_update(revision, keys)`` is called
    from the informer's thread, never concurrently with itself.
    """

    def __init__(self, client, host: str,
                 on_update: Callable[[int, set[Key]], None] | None = None,
                 wait_s: float = 20.0, backoff_min_s: float = 0.5,
                 backoff_max_s: float = 30.0):
        self.client = client
        self.host = host
        self.on_update = on_update or (lambda revision, keys: None)
        self.wait_s = wait_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self._lock = threading.Lock()
        self._cache: dict[Key, dict] = {}
        self._snapshot: dict = {}
        self.revision: int | None = None
        #: Number of complete lists (initial one and relists); for tests and status.
        self.lists = 0
        #: Number of incremental fetches (batches of changes fetched by key).
        self.fetches = 0
        #: Set once the first list succeeded.
        self.synced = threading.Event()
        self._stop = threading.Event()
        self._relist = threading.Event()
        self._thread: threading.Thread | None = None
        #: Longest pause before a re-read (see :meth:`watch_once`), seconds.
        self.coalesce_max_s = 1.0
        self._last_read_end = 0.0
        self._last_read_s = 0.0

    # -- the cache ---------------------------------------------------------------
    def get(self, key: Key) -> dict | None:
        """The desired object at ``key``, or None when it should not exist."""
        with self._lock:
            return self._cache.get(key)

    def keys(self) -> set[Key]:
        with self._lock:
            return set(self._cache)

    def snapshot(self) -> dict:
        """The last snapshot body (``{"revision", <collection>: [...]}``); treat as
        read-only, it is replaced, never mutated."""
        with self._lock:
            return self._snapshot

    # -- running -----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"informer-{self.host}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching; an in-flight long poll is abandoned (the thread is a daemon)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def request_relist(self) -> None:
        """Relist after the long poll in flight (at most ``wait_s`` later): the agent's
        periodic resync uses it, so a change the feed did not route to this host (a port
        re-bound to another host is announced for its new host only) is still seen."""
        self._relist.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """List, then watch until :meth:`stop`; never raises."""
        from kumo.agent.controller import Backoff  # noqa: PLC0415 - it imports us

        backoff = Backoff(self.backoff_min_s, self.backoff_max_s)
        need_list = True
        while not self._stop.is_set():
            try:
                if need_list or self._relist.is_set():
                    self._relist.clear()
                    self.relist()
                    LOG.log(logging.INFO if need_list else logging.DEBUG,
                            "informer %s: listed at revision %s%s", self.host,
                            self.revision, " (controller reachable again)"
                            if backoff.failing else "")
                    need_list = False
                else:
                    need_list = self.watch_once()
                backoff.reset()
            except api.Gone:
                LOG.info("informer %s: revision %s too old, relisting", self.host,
                         self.revision)
                need_list = True  # at once: the controller is up, our revision is old
            except Exception as e:  # noqa: BLE001 - keep watching whatever happens
                delay = backoff.next()
                if isinstance(e, api.ControllerUnavailable):
                    LOG.warning("informer %s: controller unavailable (%s); retrying in "
                                "%.1f s", self.host, e, delay)
                elif isinstance(e, api.ControllerError):  # e.g. 400: refused our watch
                    LOG.warning("informer %s: controller answered %s; relisting in "
                                "%.1f s", self.host, e, delay)
                else:
                    LOG.exception("informer %s: error; relisting in %.1f s", self.host,
                                  delay)
                need_list = True
                self._stop.wait(delay)

    def relist(self) -> set[Key]:
        """Fetch the snapshot, replace the cache, deliver the changed keys; returns them."""
        body = self.client.snapshot(self.host)
        changed = self._replace(body)
        self.lists += 1
        self.synced.set()
        self.on_update(self.revision, changed)
        return changed

    def watch_once(self) -> bool:
        """One long poll from :attr:`revision`; on changes, re-snapshot (see the module
        doc). Returns True when a relist is needed (never, today: errors raise)."""
        body = self.client.changes(self.revision, self.host, self.wait_s)
        if not body.get("changes"):
            revision = int(body.get("revision", self.revision))
            if revision != self.revision:
                with self._lock:
                    self.revision = revision
                self.on_update(revision, set())
            return False
        if self._stop.is_set():
            return False
        keys = _keys(body["changes"])
        if keys is None or not hasattr(self.client, "fetch"):
            # coalesce: re-read no sooner than one read's duration after the last one
            # ended, so a host whose snapshot takes long to read (thousands of ports)
            # spends at most half its time reading while changes keep coming
            pause = self._last_read_end + self._last_read_s - time.monotonic()
            if pause > 0 and self._stop.wait(min(pause, self.coalesce_max_s)):
                return False
            started = time.monotonic()
            changed = self._replace(self.client.snapshot(self.host))
            self._last_read_end = time.monotonic()
            self._last_read_s = self._last_read_end - started
        else:
            got = self.client.fetch(self.host, keys)
            changed = self._apply(keys, got, int(body.get("revision", self.revision)))
            self.fetches += 1
        self.on_update(self.revision, changed)
        return False

    def _apply(self, keys: set[Key], body: dict, revision: int) -> set[Key]:
        """Replace the cache entries of ``keys`` with ``body``'s objects (removing those
        it lacks); a new snapshot body with the touched collections rebuilt."""
        got = {k: v for k, v in index(body).items() if k in keys}
        with self._lock:
            cache = dict(self._cache)
            changed = set()
            for key in keys:
                new = got.get(key)
                if cache.get(key) != new:
                    changed.add(key)
                if new is None:
                    cache.pop(key, None)
                else:
                    cache[key] = new
            snap = dict(self._snapshot)
            for kind in {k[0] for k in changed}:
                snap[kind] = [v for _, v in sorted(
                    (obj_id, v) for (c, obj_id), v in cache.items() if c == kind)]
            snap["revision"] = revision
            self._cache = cache
            self._snapshot = snap
            self.revision = revision
        return changed

    def _replace(self, body: dict) -> set[Key]:
        new = index(body)
        with self._lock:
            old = self._cache
            changed = {k for k in old.keys() - new.keys()}
            changed |= {k for k, v in new.items() if old.get(k) != v}
            self._cache = new
            self._snapshot = body
            self.revision = int(body.get("revision", 0))
        return changed
