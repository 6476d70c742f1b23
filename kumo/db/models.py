"""Tables shared by every service area."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base


class Revision(Base):
    """A monotonically increasing counter per area.

    ``identity``: bumped by every identity write; API processes compare it to know when
    their caches are stale. ``network``: taken by every networking write (it orders the
    data-plane feed). ``network_pruned``: the newest feed revision already pruned.
    """

    __tablename__ = "kumo_revision"
    name: orm.Mapped[str] = orm.mapped_column(sa.String(32), primary_key=True)
    value: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, nullable=False, default=0)


class SharedSecret(Base):
    """Secrets every API process must agree on (``metadata_secret``: the metadata
    proxy's HMAC key), stored once in the database."""

    __tablename__ = "kumo_shared_secret"
    name: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)
    value: orm.Mapped[str] = orm.mapped_column(sa.Text)


class PeriodicJob(Base):
    """When each periodic job (:mod:`kumo.common.periodic`) last ran, in which
    process, and how many times it ran in all the cloud's processes."""

    __tablename__ = "kumo_periodic_job"
    name: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)
    last_run_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                    nullable=True)
    runs: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    runner: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
