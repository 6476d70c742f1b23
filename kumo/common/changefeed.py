"""The change feed core shared by the desired-state feeds (networking, compute).

A service appends change rows (``id``, ``revision``, ``resource_type``, ``resource_id``,
``op``, ``host``) at its transaction's revision (one ``kumo_revision`` row per area,
incremented first in every write, so revisions grow in commit order) and calls
:meth:`ChangeFeed.wrote` once in that transaction. Watchers list a snapshot consistent
with one revision, then long-poll :meth:`ChangeFeed.long_poll` from it, and relist when
told the revision is unknown (410), as Kubernetes informers do.

**A waiting watch holds no thread.** :meth:`ChangeFeed.long_poll` reads once (in the
request's worker thread); if nothing is there for the host it returns a
:class:`~kumo.common.http.Pending` and the ASGI edge awaits the feed's wake-up on the
event loop (an :class:`asyncio.Event`, replaced after each wake), then re-reads in a
short worker-thread hop, until a change arrives or ``wait`` runs out.

**A commit wakes only the watches it concerns.** The writer names the hosts its change
rows are for (:meth:`wrote`'s ``hosts``; None: everyone); the watches of those hosts
and the unfiltered ones (no ``host``) are woken, each host's through its own event, so
with a thousand agents waiting a port change re-reads one or a few hosts' changes, not
a thousand. Wake-ups come from:

- local commits: :meth:`wrote` registers :meth:`notify` to run after the commit;
- other API processes on PostgreSQL: :meth:`wrote` also issues ``NOTIFY <channel>,
  '<host>,<host>...'`` in the writing transaction (delivered only if it commits;
  ``*`` for everyone, and when the list would not fit a notification), and one thread-held
  ``LISTEN`` connection per process (:class:`kumo.common.pglisten.FeedListener`) wakes
  the feed; when that connection drops or comes back, every watcher is woken to re-check;
- a safety net while no listener is connected (always on SQLite, where several API
  processes may share one database file; on PostgreSQL while the listener reconnects):
  one poll per feed and process reads the area's revision every :data:`POLL_S` seconds
  while watchers wait, and wakes them when it moved.
"""
from __future__ import annotations

import asyncio
import math
import re
import threading
import time

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.db import after_commit
from kumo.db.models import Revision

#: ``NOTIFY`` payload (and :meth:`ChangeFeed.wrote` marker) meaning every watcher.
EVERYONE = "*"
#: Longest host list sent in a notification (PostgreSQL's limit is 8000 bytes).
MAX_NOTIFY_PAYLOAD = 7000
#: Changes kept for watchers; an older ``since`` must relist.
RETENTION_REVISIONS = 100_000
#: Longest ``wait`` a long poll may ask for, in seconds (more is a 400).
MAX_WAIT_S = 300.0
MAX_BATCH = 1000
#: Seconds between revision reads of the safety-net poll (no LISTEN connection).
POLL_S = 1.0
#: After a wake-up, a watcher waits this long (s) before re-reading, so a burst of
#: commits is read as one batch (and a thousand watchers do not read per commit).
BATCH_DELAY_S = 0.02
#: Largest revision a watch may name (the column is a signed 64-bit integer).
MAX_REVISION = 2 ** 63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


class RevisionTooOld(exc.KumoError):
    status = 410
    title = "Gone"
    message = "Revision %(since)s is older than the oldest retained change; relist."


class RevisionUnknown(exc.KumoError):
    """``since`` is newer than any revision this database made (a database restored
    from a backup, or a watch against another cloud): relist, as for 410."""

    status = 410
    title = "Gone"
    message = "Revision %(since)s is newer than the current revision %(current)s; relist."


def parse_watch(query) -> tuple[int, float]:
    """``(since, wait)`` from a watch's query (``since`` default 0, ``wait`` default
    0): ``since`` a decimal integer 0..2^63-1, ``wait`` a finite number of seconds
    0..:data:`MAX_WAIT_S`; anything else is a 400 naming the parameter."""
    text = query.get("since", "0").strip()
    if not _DIGITS.fullmatch(text) or int(text) > MAX_REVISION:
        raise exc.BadRequest("Invalid input for since: expected a revision, an integer "
                             f"from 0 to {MAX_REVISION}.")
    try:
        wait = float(query.get("wait", "0"))
    except ValueError:
        wait = math.nan
    if not 0.0 <= wait <= MAX_WAIT_S:  # also refuses NaN
        raise exc.BadRequest(f"Invalid input for wait: expected seconds from 0 to "
                             f"{MAX_WAIT_S:g}.")
    return int(text), wait


class ChangeFeed:
    """Long-poll reads and pruning over ``model`` (the area's change table).

    ``db``: the :class:`kumo.db.Database`; ``area``: the ``kumo_revision`` row of the
    area's revision; ``pruned``: the row holding the newest pruned revision;
    ``hostless_to_all``: whether changes without a host go to every host's watch
    (networking: networks and routers concern everyone) or only to unfiltered ones.
    ``channel`` is the PostgreSQL ``NOTIFY`` channel (``kumo_<area>_changes``);
    ``listener`` the process's :class:`~kumo.common.pglisten.FeedListener`, if any."""

    def __init__(self, db, model, area: str, pruned: str, hostless_to_all: bool):
        self.db = db
        self.model = model
        self.area = area
        self.pruned = pruned
        self.hostless_to_all = hostless_to_all
        self.channel = f"kumo_{area}_changes"
        self.listener = None
        self._cond = threading.Condition()
        self._generation = 0
        # The event each host's waiting watches await (None: unfiltered watches),
        # replaced at each wake of that host; mutated on the event loop only.
        self._events: dict[str | None, asyncio.Event] = {}
        self._writes = 0
        self._closed = False
        # The event loop's side (bound by the first async wait).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting = 0
        self._poll_task: asyncio.Task | None = None
        self._poll_revision = 0

    # -- writers -------------------------------------------------------------------
    def wrote(self, session, hosts=None) -> None:
        """Call inside a write transaction that appended change rows, once per batch of
        rows, with the hosts they concern (an iterable of host names; None: every
        watcher): wakes those hosts' watches (and the unfiltered ones) after the commit
        and, on PostgreSQL, other processes' (a ``NOTIFY`` in the transaction, delivered
        only if it commits)."""
        key = f"{self.area}_wake"
        pending = session.info.get(key)
        first = pending is None
        if first:
            pending = session.info[key] = set()
        if hosts is None:
            pending.add(EVERYONE)
        else:
            pending.update(h for h in hosts if h)
        if not first:
            return
        wake = lambda: None if EVERYONE in pending else pending  # noqa: E731
        if not self.db.is_sqlite:
            # one NOTIFY per transaction, with every host its rows named, sent just
            # before the commit (not one round trip per batch of rows)
            def notify_others(sess) -> None:
                hosts = wake()
                payload = EVERYONE if hosts is None else ",".join(sorted(hosts))
                if len(payload) > MAX_NOTIFY_PAYLOAD:
                    payload = EVERYONE
                sess.connection().execute(sa.text("SELECT pg_notify(:c, :p)"),
                                          {"c": self.channel, "p": payload})
            sa.event.listen(session, "before_commit", notify_others, once=True)
        after_commit(session, lambda: self.notify(wake()))

    def notify(self, hosts=None) -> None:
        """Wake the watches of ``hosts`` (None: all) after a commit that appended
        changes."""
        self.wake(hosts)
        self._writes += 1
        if self._writes % 1000 == 0:
            self.prune()

    def wake(self, hosts=None) -> None:
        """Wake the watches of ``hosts`` (a set of host names) and the unfiltered ones,
        or every watcher when ``hosts`` is None, to re-check (thread-safe; from any
        thread, the event loop's included)."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
        loop = self._loop
        if loop is None:
            return
        hosts = None if hosts is None else frozenset(hosts)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake_loop(hosts)
        else:
            try:
                loop.call_soon_threadsafe(self._wake_loop, hosts)
            except RuntimeError:  # the loop is closed
                pass

    def _wake_loop(self, hosts: frozenset | None) -> None:
        targets = list(self._events) if hosts is None else [*hosts, None]
        for host in targets:
            event = self._events.pop(host, None)
            if event is not None:
                event.set()

    def close(self) -> None:
        """The process is shutting down: long polls in flight answer at once (with what
        they have) and new ones do not wait, so a graceful shutdown is not held by
        watchers (the agents relist or reconnect elsewhere)."""
        self._closed = True
        self.wake()

    def host_clause(self, host: str):
        """SQL selecting the change rows ``host``'s watch gets: its own, and the
        host-less ones when ``hostless_to_all``. A feed routing some rows at read time
        overrides it (:class:`kumo.network.feed.Feed`)."""
        C = self.model
        return sa.or_(C.host == host, C.host.is_(None)) if self.hostless_to_all \
            else C.host == host

    # -- reading -------------------------------------------------------------------
    def current_revision(self, session) -> int:
        return session.scalar(sa.select(Revision.value).where(Revision.name == self.area)) or 0

    def read(self, since: int, host: str | None = None) -> dict:
        """One read of the changes after ``since`` (no waiting): see :meth:`changes`."""
        return self._read(since, host)[0]

    def _read(self, since: int, host: str | None) -> tuple[dict, int]:
        C = self.model
        with self.db.session(readonly=True) as s:
            current = self.current_revision(s)
            pruned = s.scalar(sa.select(Revision.value).where(
                Revision.name == self.pruned)) or 0
            if since < pruned:
                raise RevisionTooOld(since=since)
            if since > current:
                raise RevisionUnknown(since=since, current=current)
            stmt = sa.select(C).where(C.revision > since)
            if host is not None:
                stmt = stmt.where(self.host_clause(host))
            rows = list(s.scalars(stmt.order_by(C.id).limit(MAX_BATCH + 1)))
        seen = current
        if len(rows) > MAX_BATCH:
            # Stop at a revision boundary so no revision is half-delivered.
            last = rows[MAX_BATCH - 1].revision
            rows = [r for r in rows if r.revision <= last]
            current = last
        elif rows:
            current = max(current, rows[-1].revision)
        body = {"revision": current if rows or since < current else since,
                "changes": [{"revision": r.revision, "resource_type": r.resource_type,
                             "resource_id": r.resource_id, "op": r.op, "host": r.host}
                            for r in rows]}
        return body, seen

    def changes(self, since: int, host: str | None = None, wait_s: float = 0.0) -> dict:
        """Changes after revision ``since`` (for ``host``: its own, and host-less ones
        when ``hostless_to_all``), waiting up to ``wait_s`` seconds (at most
        :data:`MAX_WAIT_S`) for one, **blocking the calling thread** (the API uses
        :meth:`long_poll`). Returns ``{"revision": R, "changes": [{"revision",
        "resource_type", "resource_id", "op", "host"}]}`` where R is the revision the
        caller has now seen; at most :data:`MAX_BATCH` changes, cut at a revision
        boundary. 410 :class:`RevisionTooOld` if ``since`` predates the history kept,
        :class:`RevisionUnknown` if it is newer than the current revision."""
        deadline = time.monotonic() + min(max(wait_s, 0.0), MAX_WAIT_S)
        while True:
            generation = self._generation
            body = self.read(since, host)
            remaining = deadline - time.monotonic()
            if body["changes"] or self._closed or remaining <= 0:
                return body
            with self._cond:
                if self._generation == generation and not self._closed:
                    # Bounded: other processes' commits reach a thread waiter only
                    # through a listener's wake; re-check at the poll period anyway.
                    self._cond.wait(min(POLL_S, remaining))

    def long_poll(self, since: int, host: str | None = None, wait_s: float = 0.0):
        """The API's long poll: the body of :meth:`changes` if there is something to
        answer now (changes, ``wait_s`` 0, shutting down), else a
        :class:`~kumo.common.http.Pending` whose ``wait()`` awaits a wake-up on the event
        loop (up to the time left) and whose ``then()`` re-reads (in a worker thread) and
        answers or waits again. Errors (410) raise from either."""
        from kumo.common.http import Pending, Reply

        deadline = time.monotonic() + min(max(wait_s, 0.0), MAX_WAIT_S)

        def attempt():
            # any wake between this read and the wait makes the wait return at once
            # (a re-read); a wake once waiting sets only the host's own event
            token = self._generation
            body, seen = self._read(since, host)
            remaining = deadline - time.monotonic()
            if body["changes"] or self._closed or remaining <= 0:
                return Reply(200, body)
            return Pending(lambda: self.wait(token, seen, deadline, host), attempt)
        return attempt()

    async def wait(self, generation: int, seen: int, deadline: float,
                   host: str | None = None) -> None:
        """On the event loop: return at once if the feed was woken after
        ``generation`` (``_generation`` read before the caller's read, which saw
        revision ``seen``), else once ``host``'s watches are woken, or at ``deadline``
        (``time.monotonic()``), or at shutdown."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._events = loop, {}
        if self.listener is not None:
            self.listener.start()
        self._waiting += 1
        try:
            if self._generation != generation or self._closed:
                return
            if self._needs_poll():
                if seen < self._poll_revision:
                    return  # the poll saw a newer revision than our read did
                if self._poll_task is None:
                    self._poll_revision = seen
                    self._poll_task = loop.create_task(self._poll())
            timeout = deadline - time.monotonic()
            if timeout > 0:
                event = self._events.get(host)
                if event is None:
                    event = self._events[host] = asyncio.Event()
                try:
                    await asyncio.wait_for(event.wait(), timeout)
                except asyncio.TimeoutError:
                    return
                await asyncio.sleep(BATCH_DELAY_S)
        finally:
            self._waiting -= 1

    def _needs_poll(self) -> bool:
        return self.listener is None or not self.listener.connected

    async def _poll(self) -> None:
        """The safety net (see the module doc): while watchers wait and no listener is
        connected, read the revision every :data:`POLL_S` s and wake them when it moved."""
        import anyio

        try:
            while self._waiting > 0 and self._needs_poll() and not self._closed:
                await asyncio.sleep(POLL_S)
                try:
                    revision = await anyio.to_thread.run_sync(self._revision_now)
                except Exception:  # noqa: BLE001 - the database is away: retry later
                    continue
                if revision != self._poll_revision:
                    self._poll_revision = revision
                    self.wake()
        finally:
            self._poll_task = None

    def _revision_now(self) -> int:
        with self.db.session(readonly=True) as s:
            return self.current_revision(s)

    # -- housekeeping --------------------------------------------------------------
    def prune(self) -> int:
        """Delete changes older than the retention window; returns how many."""
        with self.db.session() as s:
            horizon = self.current_revision(s) - RETENTION_REVISIONS
            if horizon <= 0:
                return 0
            count = s.execute(sa.delete(self.model).where(
                self.model.revision <= horizon)).rowcount
            if s.execute(sa.update(Revision).where(Revision.name == self.pruned)
                         .values(value=horizon)).rowcount == 0:
                s.add(Revision(name=self.pruned, value=horizon))
            return count
