"""Purging deleted servers: a deleted instance's row stays (``deleted``) so that
``changes-since`` lists and usage reports show it, as Nova's do, until it is older than
``compute_purge_deleted_days``; then it, its instance actions and any diagnostics are removed (what
``nova-manage db archive_deleted_rows --purge`` does for Nova). Run periodically by
:mod:`kumo.common.periodic`.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from kumo.common.timeutils import utcnow
from kumo.compute import models

#: Most instances purged per transaction (the job loops until none is left).
BATCH = 500


def purge_deleted(db, older_than_days: float, now: dt.datetime | None = None) -> int:
    """Remove instances deleted more than ``older_than_days`` days ago (by
    ``terminated_at``, else ``updated_at``) with their instance actions, in batches of
    :data:`BATCH`; returns how many. ``older_than_days <= 0`` purges nothing."""
    if older_than_days <= 0:
        return 0
    horizon = (now or utcnow()) - dt.timedelta(days=older_than_days)
    I, A = models.Instance, models.InstanceAction
    total = 0
    while True:
        with db.session() as s:
            ids = list(s.scalars(
                sa.select(I.id).where(I.deleted.is_(True),
                                      sa.func.coalesce(I.terminated_at, I.updated_at)
                                      < horizon)
                .order_by(I.seq).limit(BATCH)))
            if not ids:
                return total
            s.execute(sa.delete(A).where(A.instance_id.in_(ids)))
            # diagnostics a report wrote as the server was being deleted
            s.execute(sa.delete(models.Diagnostics).where(
                models.Diagnostics.instance_id.in_(ids)))
            s.execute(sa.delete(I).where(I.id.in_(ids)))
        total += len(ids)
        if len(ids) < BATCH:
            return total
