"""Networking tables of routers and floating IPs (Networking API v2.0: "Routers",
"Floating IPs", "Extra routes", "ext-gw-mode").

A router's ports (its gateway port and its interface ports) are ordinary
``network_port`` rows whose ``device_id`` is the router id and whose ``device_owner``
is ``network:router_gateway`` or ``network:router_interface``; ``gw_port_id`` names the
gateway port. A floating IP owns a port on its external network
(``network:floatingip``, ``floating_port_id``) and, when associated, points at the
internal port and fixed IP it is bound to, and the router that connects them.
``uniq_floatingip_fixed`` keeps one floating IP per fixed IP and external network.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base
from kumo.network.models.core import UUID, StandardAttrs


class Router(StandardAttrs, Base):
    """``routes`` is a JSON list of ``{"destination", "nexthop"}``."""

    __tablename__ = "network_router"
    admin_state_up: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16), default="ACTIVE")
    gw_port_id: orm.Mapped[str | None] = orm.mapped_column(
        UUID, sa.ForeignKey("network_port.id"), nullable=True, index=True)
    gw_network_id: orm.Mapped[str | None] = orm.mapped_column(
        UUID, sa.ForeignKey("network.id"), nullable=True, index=True)
    enable_snat: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    routes: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    distributed: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    ha: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    availability_zone_hints: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)


class FloatingIP(StandardAttrs, Base):
    __tablename__ = "network_floatingip"
    __table_args__ = (sa.UniqueConstraint("floating_network_id", "fixed_port_id",
                                          "fixed_ip_address", name="uniq_floatingip_fixed"),)
    floating_ip_address: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    floating_network_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network.id"), index=True)
    floating_port_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_port.id"), index=True)
    fixed_port_id: orm.Mapped[str | None] = orm.mapped_column(
        UUID, sa.ForeignKey("network_port.id", ondelete="SET NULL"), nullable=True,
        index=True)
    fixed_ip_address: orm.Mapped[str | None] = orm.mapped_column(sa.String(64),
                                                                 nullable=True)
    router_id: orm.Mapped[str | None] = orm.mapped_column(
        UUID, sa.ForeignKey("network_router.id"), nullable=True, index=True)
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16), default="DOWN")
    dns_name: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
    dns_domain: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
