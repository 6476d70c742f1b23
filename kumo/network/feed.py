"""The desired-state feed the data plane watches (Kumo's own API, not Neutron's).

Every networking write appends ``network_change`` rows at its transaction's revision
(:meth:`kumo.network.manager.Networking.changed`); revisions grow in commit order. An
agent lists the state once (:meth:`Feed.snapshot`, consistent with one revision), then
watches from that revision (:meth:`Feed.changes`), and relists when told its revision is
too old (410), as Kubernetes informers do.

Both are scoped per host (:mod:`kumo.network.scope`): a host's snapshot holds only
what it realizes, and each change row names one host it concerns, so a host sees
only its own changes. After the first list an agent fetches the objects a batch of
changes names (``keys``), not the whole state again.
"""
from __future__ import annotations

from typing import Callable

import sqlalchemy as sa

from kumo.common.changefeed import ChangeFeed
from kumo.network import scope
from kumo.network.models import core as models

#: The ``kumo_revision`` row holding the newest revision whose changes were pruned.
PRUNED = "network_pruned"


class Feed(ChangeFeed):
    """List-and-watch over ``network_change`` (:class:`kumo.common.changefeed.ChangeFeed`:
    a host's watch sees the changes routed to it; host-less rows, changes concerning
    no host, only unfiltered watches see)."""

    def __init__(self, networking, sources: list[Callable[..., dict]]):
        """``sources``: the parts' ``snapshot(session, host, keys=None)`` methods, each
        answering ``{collection: [items]}`` (listed where the service is built)."""
        super().__init__(networking.db, models.Change, "network", PRUNED,
                         hostless_to_all=False)
        self.net = networking
        self.sources = list(sources)

    def host_clause(self, host: str):
        """``host``'s rows: those routed to it at write time, and the host-less
        ``network``/``security_group`` changes of the objects in its state now
        (:func:`kumo.network.scope.read_routed`)."""
        return scope.read_routed(self.model, host)

    def snapshot(self, host: str | None = None,
                 keys: dict[str, list[str]] | None = None) -> dict:
        """The desired state of ``host`` (everything when None) with the revision it is
        consistent with. Each of :attr:`sources` contributes ``{collection:
        [items]}``. ``keys`` (``{collection: [ids]}``, the collections of
        :data:`kumo.network.scope.COLLECTIONS`): only those objects, the ones of
        ``host``'s state among them (a key absent from the answer is not in it), and
        only those collections."""
        with self.net.db.session(readonly=True) as s:
            if not self.net.db.is_sqlite:
                s.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            body = {"revision": self.current_revision(s)}
            for snap in self.sources:
                body.update(snap(s, host, keys) if keys is not None else snap(s, host))
        return body


def parse_keys(text: str) -> dict[str, list[str]]:
    """``"ports:ID,networks:ID,..."`` -> ``{"ports": [ID], ...}``; ValueError for an
    entry that is not ``collection:id`` with a known collection."""
    out: dict[str, list[str]] = {}
    known = set(scope.COLLECTIONS.values())
    for entry in text.split(","):
        if not entry:
            continue
        kind, sep, obj_id = entry.partition(":")
        if not sep or kind not in known or not obj_id or len(obj_id) > 64:
            raise ValueError(entry)
        out.setdefault(kind, []).append(obj_id)
    return out
