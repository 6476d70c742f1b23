"""Status reports of the data plane: ports' and floating IPs' ``status`` as the agents
realized them.

A status is observed state, not desired state: setting it changes no agent's work, so
it takes no ``network`` revision row (it must not wait behind tenants' writes, see
docs/architecture.md "One writer at a time") and appends no change to the feed. Each
report is one short transaction of its own (:meth:`kumo.db.Database.session`, *not*
:meth:`kumo.network.manager.Networking.write`): one ``UPDATE`` per row whose status
differs, which also bumps the row's ``revision_number`` and ``updated_at`` as Neutron's
status updates do. Rows are updated in id order, so two batches touching the same
rows lock them in the same order.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from kumo.common.timeutils import utcnow

#: The statuses an agent may report.
STATUSES = ("ACTIVE", "DOWN", "ERROR")
#: PostgreSQL's deadlock_detected and serialization_failure: worth a second try.
_RETRY = ("40P01", "40001")
#: Rows per ``IN (...)`` list.
_CHUNK = 500


def _update(table) -> sa.Update:
    return (sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"),
                   table.c.status != sa.bindparam("b_status"))
            .values(status=sa.bindparam("b_status"), updated_at=sa.bindparam("b_now"),
                    revision_number=table.c.revision_number + 1))


def set_statuses(db, table, statuses: dict[str, str]) -> list[str]:
    """Set ``statuses`` (``{id: status}``) on the rows of ``table`` (ports or floating
    IPs) in one transaction of their own; returns the ids that do not exist (unknown
    ids change nothing and are no error, a port may go while its report is on the way).
    Rows already at their status are not touched."""
    if not statuses:
        return []
    for attempt in (1, 2, 3):
        try:
            return _set_statuses(db, table, statuses)
        except sa_exc.OperationalError as e:
            # a tenant's write locking several of these rows in another order: PostgreSQL
            # aborts one side (deadlock detected); the report is simply sent again
            if attempt == 3 or getattr(e.orig, "sqlstate", None) not in _RETRY:
                raise
    raise AssertionError("unreachable")


def _set_statuses(db, table, statuses: dict[str, str]) -> list[str]:
    ids = sorted(statuses)
    now = utcnow()
    with db.session() as s:
        conn = s.connection()
        found: set[str] = set()
        for i in range(0, len(ids), _CHUNK):
            found.update(conn.execute(sa.select(table.c.id).where(
                table.c.id.in_(ids[i:i + _CHUNK]))).scalars())
        params = [{"b_id": i, "b_status": statuses[i], "b_now": now}
                  for i in ids if i in found]
        if params:
            conn.execute(_update(table), params)
    return [i for i in ids if i not in found]


def set_status(db, table, row_id: str, status: str) -> bool:
    """One row's status (see :func:`set_statuses`); False when there is no such row."""
    now = utcnow()
    with db.session() as s:
        conn = s.connection()
        done = conn.execute(_update(table), {"b_id": row_id, "b_status": status,
                                             "b_now": now}).rowcount
        if done:
            return True
        return conn.execute(sa.select(table.c.id).where(
            table.c.id == row_id)).first() is not None
