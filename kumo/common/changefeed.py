"""The change feed core shared by the desired-state feeds (networking, compute).

A service appends change rows (``id``, ``revision``, ``resource_type``, ``resource_id``,
``op``, ``host``) at its transaction's revision (one ``kumo_revision`` row per area,
incremented first in every write, so revisions grow in commit order). Watchers list a
snapshot consistent with one revision, then call :meth:`ChangeFeed.changes` from it
(a long poll), and relist when told the revision is too old (410), as Kubernetes
informers do. :meth:`ChangeFeed.notify` wakes local watchers after a commit; watchers
also poll every 0.5 s, so commits by other API processes arrive too.
"""
from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.db.models import Revision

#: Changes kept for watchers; an older ``since`` must relist.
RETENTION_REVISIONS = 100_000
MAX_WAIT_S = 30.0
MAX_BATCH = 1000


class RevisionTooOld(exc.KumoError):
    status = 410
    title = "Gone"
    message = "Revision %(since)s is older than the oldest retained change; relist."


class ChangeFeed:
    """Long-poll reads and pruning over ``model`` (the area's change table).

    ``db``: the :class:`kumo.db.Database`; ``area``: the ``kumo_revision`` row of the
    area's revision; ``pruned``: the row holding the newest pruned revision;
    ``hostless_to_all``: whether changes without a host go to every host's watch
    (networking: networks and routers concern everyone) or only to unfiltered ones."""

    def __init__(self, db, model, area: str, pruned: str, hostless_to_all: bool):
        self.db = db
        self.model = model
        self.area = area
        self.pruned = pruned
        self.hostless_to_all = hostless_to_all
        self._cond = threading.Condition()
        self._writes = 0
        self._closed = False

    def close(self) -> None:
        """The process is shutting down: long polls in flight answer at once (with what
        they have) and new ones do not wait, so a graceful shutdown is not held by
        watchers (the agents relist or reconnect elsewhere)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def notify(self) -> None:
        """Wake local watchers (call after a commit that appended changes)."""
        with self._cond:
            self._cond.notify_all()
        self._writes += 1
        if self._writes % 1000 == 0:
            self.prune()

    def host_clause(self, host: str):
        """SQL selecting the change rows ``host``'s watch gets: its own, and the
        host-less ones when ``hostless_to_all``. A feed routing some rows at read time
        overrides it (:class:`kumo.network.feed.Feed`)."""
        C = self.model
        return sa.or_(C.host == host, C.host.is_(None)) if self.hostless_to_all \
            else C.host == host

    def current_revision(self, session) -> int:
        return session.scalar(sa.select(Revision.value).where(Revision.name == self.area)) or 0

    def changes(self, since: int, host: str | None = None, wait_s: float = 0.0) -> dict:
        """Changes after revision ``since`` (for ``host``: its own, and host-less ones
        when ``hostless_to_all``), waiting up to ``wait_s`` seconds (at most
        :data:`MAX_WAIT_S`) for one. Returns ``{"revision": R, "changes": [{"revision",
        "resource_type", "resource_id", "op", "host"}]}`` where R is the revision the
        caller has now seen; at most :data:`MAX_BATCH` changes, cut at a revision
        boundary. 410 :class:`RevisionTooOld` if ``since`` predates the history kept."""
        C = self.model
        deadline = time.monotonic() + min(max(wait_s, 0.0), MAX_WAIT_S)
        while True:
            with self.db.session(readonly=True) as s:
                current = self.current_revision(s)
                pruned = s.scalar(sa.select(Revision.value).where(
                    Revision.name == self.pruned)) or 0
                if since < pruned:
                    raise RevisionTooOld(since=since)
                stmt = sa.select(C).where(C.revision > since)
                if host is not None:
                    stmt = stmt.where(self.host_clause(host))
                rows = list(s.scalars(stmt.order_by(C.id).limit(MAX_BATCH + 1)))
            if rows or self._closed or time.monotonic() >= deadline:
                break
            with self._cond:
                if not self._closed:
                    self._cond.wait(min(0.5, max(0.0, deadline - time.monotonic())))
        if len(rows) > MAX_BATCH:
            # Stop at a revision boundary so no revision is half-delivered.
            last = rows[MAX_BATCH - 1].revision
            rows = [r for r in rows if r.revision <= last]
            current = last
        elif rows:
            current = max(current, rows[-1].revision)
        return {"revision": current if rows or since < current else since,
                "changes": [{"revision": r.revision, "resource_type": r.resource_type,
                             "resource_id": r.resource_id, "op": r.op, "host": r.host}
                            for r in rows]}

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
