"""Networking tables of security groups and rules, per-project quotas and agents
(Networking API v2.0: "Security groups", "Security group rules", "Quotas extension",
"Agents").

``network_default_security_group`` holds one row per project naming its ``default``
group (primary key ``project_id``), so two concurrent first uses never create two.
Rules reference their group with a cascading foreign key; ``remote_group_id`` has none
(a remote group's deletion deletes the rules referring to it, in the logic), nor has
``remote_address_group_id`` (an address group in use cannot be deleted, in the logic).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base
from kumo.network.models.core import UUID, StandardAttrs


class SecurityGroup(StandardAttrs, Base):
    __tablename__ = "network_security_group"
    stateful: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)


class DefaultSecurityGroup(Base):
    __tablename__ = "network_default_security_group"
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)
    security_group_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_security_group.id", ondelete="CASCADE"), index=True)


class SecurityGroupRule(StandardAttrs, Base):
    """``protocol`` is stored as given (a name or a number as a string, or NULL for any);
    ``remote_ip_prefix`` is stored as given with its mask (host bits kept, as Neutron);
    ``normalized_cidr`` is computed from it."""

    __tablename__ = "network_security_group_rule"
    security_group_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_security_group.id", ondelete="CASCADE"), index=True)
    direction: orm.Mapped[str] = orm.mapped_column(sa.String(8))
    ethertype: orm.Mapped[str] = orm.mapped_column(sa.String(8))
    protocol: orm.Mapped[str | None] = orm.mapped_column(sa.String(40), nullable=True)
    port_range_min: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, nullable=True)
    port_range_max: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, nullable=True)
    remote_ip_prefix: orm.Mapped[str | None] = orm.mapped_column(sa.String(64),
                                                                 nullable=True)
    remote_group_id: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True,
                                                                index=True)
    #: An address group (``network_address_group``); deleting a group in use is a 409.
    remote_address_group_id: orm.Mapped[str | None] = orm.mapped_column(
        UUID, nullable=True, index=True)


class Quota(Base):
    """A project's limit for one resource (absent: the configured default)."""

    __tablename__ = "network_quota"
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)
    resource: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)
    limit: orm.Mapped[int] = orm.mapped_column(sa.Integer)


class Agent(Base):
    """A data-plane agent, one per (agent_type, host), kept alive by heartbeats."""

    __tablename__ = "network_agent"
    __table_args__ = (sa.UniqueConstraint("agent_type", "host", name="uniq_agent_type_host"),)
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    agent_type: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    binary: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    topic: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    availability_zone: orm.Mapped[str | None] = orm.mapped_column(sa.String(255),
                                                                  nullable=True)
    admin_state_up: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    configurations: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    resources_synced: orm.Mapped[bool | None] = orm.mapped_column(sa.Boolean, nullable=True)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    started_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    heartbeat_timestamp: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
