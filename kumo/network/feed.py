"""The desired-state feed the data plane watches (Kumo's own API, not Neutron's).

Every networking write appends ``network_change`` rows at its transaction's revision
(:meth:`kumo.network.manager.Networking.changed`); revisions grow in commit order. An
agent lists the state once (:meth:`Feed.snapshot`, consistent with one revision), then
watches from that revision (:meth:`Feed.changes`), and relists when told its revision is
too old (410), as Kubernetes informers do.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common.changefeed import ChangeFeed
from kumo.network.models import core as models

#: The ``kumo_revision`` row holding the newest revision whose changes were pruned.
PRUNED = "network_pruned"


class Feed(ChangeFeed):
    """List-and-watch over ``network_change`` (:class:`kumo.common.changefeed.ChangeFeed`:
    a host's watch sees its own changes and the host-less ones)."""

    def __init__(self, networking):
        super().__init__(networking.db, models.Change, "network", PRUNED,
                         hostless_to_all=True)
        self.net = networking

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
