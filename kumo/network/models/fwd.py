"""Networking tables of floating IP port forwardings (Networking API v2.0: "Floating
IPs port forwarding") and the DNS attributes of ports (extensions dns-integration,
dns-domain-ports).

A port forwarding maps ``protocol`` traffic to its floating IP's address on
``external_port_start..external_port_end`` to ``internal_ip_address`` (one of
``internal_port_id``'s fixed IPv4 addresses) on ``internal_port_start..end``; a single
port has start == end. ``uniq_port_forwarding_external`` keeps one forwarding per
(floating IP, protocol, first external port); overlapping ranges are refused by the
logic (:mod:`kumo.network.portforwarding`).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base
from kumo.network.models.core import UUID


class PortForwarding(Base):
    __tablename__ = "network_port_forwarding"
    __table_args__ = (
        sa.UniqueConstraint("floatingip_id", "protocol", "external_port_start",
                            name="uniq_port_forwarding_external"),
        sa.UniqueConstraint("internal_port_id", "internal_ip_address", "protocol",
                            "internal_port_start", name="uniq_port_forwarding_internal"))
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    floatingip_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_floatingip.id", ondelete="CASCADE"), index=True)
    internal_port_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_port.id", ondelete="CASCADE"), index=True)
    internal_ip_address: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    protocol: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    internal_port_start: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    internal_port_end: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    external_port_start: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    external_port_end: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    description: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")


class AutoAllocatedTopology(Base):
    """A project's "get me a network" topology (extension auto-allocated-topology):
    the network and router :mod:`kumo.network.auto_topology` built for it."""

    __tablename__ = "network_auto_allocated_topology"
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    network_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network.id", ondelete="CASCADE"), index=True)
    router_id: orm.Mapped[str | None] = orm.mapped_column(
        UUID, sa.ForeignKey("network_router.id", ondelete="SET NULL"), nullable=True,
        index=True)
