"""Tables of L3 HA (Networking API v2.0 extension ``l3-ha``; Neutron's
``ha_router_networks`` and ``ha_router_vrid_allocations``).

- :class:`HARouterNetwork`: the hidden per-project HA network ("HA network tenant
  <project-id>", ``project_id`` ``""`` so the project never sees it), one per project.
- :class:`HARouterVRID`: the VRRP router id (1..254) of each HA router, unique per HA
  network; a router has one (``router_id`` unique).
Both cascade with the network and the router.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base
from kumo.network.models.core import UUID


class HARouterNetwork(Base):
    __tablename__ = "network_ha_router_network"
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)
    network_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network.id", ondelete="CASCADE"), unique=True)


class HARouterVRID(Base):
    __tablename__ = "network_ha_router_vrid"
    network_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network.id", ondelete="CASCADE"), primary_key=True)
    vr_id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True,
                                               autoincrement=False)
    router_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_router.id", ondelete="CASCADE"), unique=True)
