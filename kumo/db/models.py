"""Tables shared by every service area."""
from __future__ import annotations

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
