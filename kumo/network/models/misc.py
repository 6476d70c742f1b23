"""Networking tables of the "misc" extensions: address groups (Networking API v2.0:
"Address groups")."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base
from kumo.network.models.core import StandardAttrs


class AddressGroup(StandardAttrs, Base):
    """A named set of CIDRs (``addresses``: normalized, sorted, unique)."""

    __tablename__ = "network_address_group"
    addresses: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
