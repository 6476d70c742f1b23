"""The desired-state feed the data plane watches (Kumo's own API, not Neutron's).

Every networking write appends ``network_change`` rows at its transaction's revision
(:meth:`kumo.network.manager.Networking.changed`); revisions grow in commit order. An
agent lists the state once (:meth:`Feed.snapshot`, consistent with one revision), then
watches from that revision (:meth:`Feed.changes`), and relists when told its revision is
too old (410), as Kubernetes informers do.
"""
from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.db.models import Revision
from kumo.network.models import core as models

#: Changes kept for watchers; an older ``since`` must relist.
RETENTION_REVISIONS = 100_000
MAX_WAIT_S = 30.0
MAX_BATCH = 1000
#: The ``kumo_revision`` row holding the newest revision whose changes were pruned.
PRUNED = "network_pruned"


class RevisionTooOld(exc.KumoError):
    status = 410
    title = "Gone"
    message = "Revision %(since)s is older than the oldest retained change; relist."


class Feed:
    """List-and-watch over ``network_change``. ``notify()`` wakes local watchers after a
    commit; watchers also poll, so changes made by other API processes arrive too."""

    def __init__(self, networking):
        self.net = networking
        self._cond = threading.Condition()
        self._writes = 0

    def notify(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self._writes += 1
        if self._writes % 1000 == 0:
            self.prune()

    def current_revision(self, session) -> int:
        return session.scalar(sa.select(Revision.value).where(Revision.name == "network")) or 0

    def changes(self, since: int, host: str | None = None, wait_s: float = 0.0) -> dict:
        """Changes after revision ``since`` (for ``host``: its own and host-less ones),
        waiting up to ``wait_s`` seconds for one. Returns
        ``{"revision": R, "changes": [{"revision", "resource_type", "resource_id", "op",
        "host"}]}`` where R is the revision the caller has now seen. 410 if ``since`` is
        older than the retained history."""
        deadline = time.monotonic() + min(max(wait_s, 0.0), MAX_WAIT_S)
        while True:
            with self.net.read() as s:
                current = self.current_revision(s)
                pruned = s.scalar(sa.select(Revision.value).where(
                    Revision.name == PRUNED)) or 0
                if since < pruned:
                    raise RevisionTooOld(since=since)
                stmt = sa.select(models.Change).where(models.Change.revision > since)
                if host is not None:
                    stmt = stmt.where(sa.or_(models.Change.host == host,
                                             models.Change.host.is_(None)))
                rows = list(s.scalars(stmt.order_by(models.Change.id).limit(MAX_BATCH + 1)))
            if rows or time.monotonic() >= deadline:
                break
            with self._cond:
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

    def snapshot(self, host: str | None = None) -> dict:
        """The whole desired state (for ``host`` where parts filter by host) with the
        revision it is consistent with. Each part with a ``snapshot(session, host)``
        method contributes ``{collection: [items]}``."""
        with self.net.db.session(readonly=True) as s:
            if not self.net.db.is_sqlite:
                s.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            body = {"revision": self.current_revision(s)}
            for part in self.net.parts.values():
                snap = getattr(part, "snapshot", None)
                if snap is not None:
                    body.update(snap(s, host))
        return body

    def prune(self) -> int:
        """Delete changes older than the retention window; returns how many."""
        with self.net.db.session() as s:
            horizon = self.current_revision(s) - RETENTION_REVISIONS
            if horizon <= 0:
                return 0
            count = s.execute(sa.delete(models.Change).where(
                models.Change.revision <= horizon)).rowcount
            if s.execute(sa.update(Revision).where(Revision.name == PRUNED)
                         .values(value=horizon)).rowcount == 0:
                s.add(Revision(name=PRUNED, value=horizon))
            return count
