"""The L3 agent scheduler's table (Networking API v2.0: "L3 agent scheduler"): which
L3 agents host a router. A legacy router is hosted by at most one agent; an HA router
(``ha``) by up to ``max_l3_agents_per_router`` agents, each binding carrying the
VRRP state its agent last reported (``ha_state``: ``active``/``standby``/None while
unknown), as Neutron's ``ha_router_agent_port_bindings.state``. The primary key is
``(router_id, l3_agent_id)``; both sides cascade on delete, so deleting a router or
an agent drops its bindings. Imported by :mod:`kumo.network.l3_scheduler`, which owns
the scheduling logic.
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
        UUID, sa.ForeignKey("network_agent.id", ondelete="CASCADE"), primary_key=True,
        index=True)
    ha_state: orm.Mapped[str | None] = orm.mapped_column(sa.String(16), nullable=True)
