"""Networking tables of Tap-as-a-Service (``network_tap_service``, ``network_tap_flow``)
and trunks (``network_trunk``, ``network_trunk_subport``); migration
``0026_network_taas_trunk``.

A tap service names the port mirrored traffic is delivered to (one service per port);
a tap flow mirrors ``source_port``'s traffic in ``direction`` (``IN``: to the port,
``OUT``: from it, ``BOTH``) to its service. A trunk is a parent port (one trunk per
port) with sub-ports, each a port of its own carried on the parent with a
``segmentation_type``/``segmentation_id`` (unique per trunk). Statuses are not stored:
they are computed from the ports' bindings and the hosting agent's report
(:mod:`kumo.network.taas`, :mod:`kumo.network.trunks`).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base
from kumo.network.models.core import UUID, StandardAttrs


class TapService(StandardAttrs, Base):
    __tablename__ = "network_tap_service"
    port_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_port.id", ondelete="CASCADE"), unique=True)
    #: the VXLAN id mirrored traffic from other hosts travels with
    #: (:data:`kumo.network.taas.TUNNEL_IDS`)
    vni: orm.Mapped[int] = orm.mapped_column(sa.Integer, unique=True)


class TapFlow(StandardAttrs, Base):
    __tablename__ = "network_tap_flow"
    tap_service_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_tap_service.id", ondelete="CASCADE"), index=True)
    source_port: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_port.id", ondelete="CASCADE"), index=True)
    direction: orm.Mapped[str] = orm.mapped_column(sa.String(4))
    vlan_filter: orm.Mapped[str | None] = orm.mapped_column(sa.String(1024), nullable=True)


class Trunk(StandardAttrs, Base):
    __tablename__ = "network_trunk"
    admin_state_up: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    port_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_port.id"), unique=True)


class SubPort(Base):
    __tablename__ = "network_trunk_subport"
    __table_args__ = (sa.UniqueConstraint("trunk_id", "segmentation_type",
                                          "segmentation_id",
                                          name="uniq_trunk_segmentation"),)
    port_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_port.id"), primary_key=True)
    trunk_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_trunk.id", ondelete="CASCADE"), index=True)
    segmentation_type: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    segmentation_id: orm.Mapped[int] = orm.mapped_column(sa.Integer)
