"""Networking tables of Firewall-as-a-Service v2 (Networking API v2.0: "FWaaS v2.0")
and metering (Networking API v2.0: "Metering labels and rules").

- ``network_firewall_rule``: one packet match and its action (allow/deny/reject);
- ``network_firewall_policy``: an ordered list of rules
  (``network_firewall_policy_rule``, ``position`` 0..n-1; a rule may sit in several
  policies, once per policy);
- ``network_firewall_group``: an ingress and an egress policy applied to router ports
  (``network_firewall_group_port``: a port belongs to at most one group, and leaves it
  when deleted);
- ``network_metering_label`` / ``network_metering_label_rule``: traffic a router
  counts (per label, direction and prefixes; ``excluded`` rules subtract).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base
from kumo.network.models.core import UUID, StandardAttrs


class FirewallRule(StandardAttrs, Base):
    __tablename__ = "network_firewall_rule"
    protocol: orm.Mapped[str | None] = orm.mapped_column(sa.String(40), nullable=True)
    ip_version: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=4)
    source_ip_address: orm.Mapped[str | None] = orm.mapped_column(sa.String(64),
                                                                  nullable=True)
    destination_ip_address: orm.Mapped[str | None] = orm.mapped_column(sa.String(64),
                                                                       nullable=True)
    source_port: orm.Mapped[str | None] = orm.mapped_column(sa.String(16), nullable=True)
    destination_port: orm.Mapped[str | None] = orm.mapped_column(sa.String(16),
                                                                 nullable=True)
    action: orm.Mapped[str] = orm.mapped_column(sa.String(16), default="deny")
    enabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    shared: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)


class FirewallPolicy(StandardAttrs, Base):
    __tablename__ = "network_firewall_policy"
    audited: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    shared: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)


class FirewallPolicyRule(Base):
    __tablename__ = "network_firewall_policy_rule"
    policy_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_firewall_policy.id", ondelete="CASCADE"),
        primary_key=True)
    rule_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_firewall_rule.id"), primary_key=True, index=True)
    position: orm.Mapped[int] = orm.mapped_column(sa.Integer)


class FirewallGroup(StandardAttrs, Base):
    __tablename__ = "network_firewall_group"
    ingress_firewall_policy_id: orm.Mapped[str | None] = orm.mapped_column(
        UUID, sa.ForeignKey("network_firewall_policy.id"), nullable=True, index=True)
    egress_firewall_policy_id: orm.Mapped[str | None] = orm.mapped_column(
        UUID, sa.ForeignKey("network_firewall_policy.id"), nullable=True, index=True)
    admin_state_up: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    shared: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16), default="INACTIVE")


class FirewallGroupPort(Base):
    __tablename__ = "network_firewall_group_port"
    port_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_port.id", ondelete="CASCADE"), primary_key=True)
    firewall_group_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_firewall_group.id", ondelete="CASCADE"), index=True)


class MeteringLabel(StandardAttrs, Base):
    __tablename__ = "network_metering_label"
    shared: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)


class MeteringLabelRule(Base):
    __tablename__ = "network_metering_label_rule"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64), index=True, default="")
    metering_label_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_metering_label.id", ondelete="CASCADE"), index=True)
    direction: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    remote_ip_prefix: orm.Mapped[str | None] = orm.mapped_column(sa.String(64),
                                                                 nullable=True)
    source_ip_prefix: orm.Mapped[str | None] = orm.mapped_column(sa.String(64),
                                                                 nullable=True)
    destination_ip_prefix: orm.Mapped[str | None] = orm.mapped_column(sa.String(64),
                                                                      nullable=True)
    excluded: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)


class Log(StandardAttrs, Base):
    """A network log (Networking API v2.0 "Logging"): packets of ``event`` (ACCEPT,
    DROP, ALL) on ``resource_type`` objects (``resource_id``: one, or all of the
    project's) and/or one port (``target_id``)."""

    __tablename__ = "network_log"
    resource_type: orm.Mapped[str] = orm.mapped_column(sa.String(36))
    resource_id: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True, index=True)
    target_id: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True, index=True)
    event: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="ALL")
    enabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
