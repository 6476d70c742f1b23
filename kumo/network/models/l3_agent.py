"""The L3 agent scheduler's table (Networking API v2.0: "L3 agent scheduler"): which
L3 agent hosts a router. A router is hosted by at most one agent (``router_id`` is the
primary key); both sides cascade on delete, so deleting a router or an agent drops its
bindings. Imported by :mod:`kumo.network.l3`, which owns the scheduling logic.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base
from kumo.network.models.core import UUID


class RouterL3AgentBinding(Base):
    """Router ``router_id`` is hosted by agent ``l3_agent_id`` (an ``L3 agent`` row)."""

    __tablename__ = "network_router_l3_agent"
    router_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_router.id", ondelete="CASCADE"), primary_key=True)
    l3_agent_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_agent.id", ondelete="CASCADE"), index=True)
