"""Networking tables shared by every resource: the standard attributes, tags, the
change feed; and networks themselves (Networking API v2.0 "Networks", "Standard
attributes", "Tag extension").

Every networking resource table gets the standard columns from :func:`standard`
(id, project_id, name, description, created_at, updated_at, revision_number); its tags
live in ``network_tag`` keyed by the resource id (ids are UUIDs, unique across types).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base

UUID = sa.String(36)
NAME = sa.String(255)


class StandardAttrs:
    """The standard attributes of every Neutron resource (a plain column set, not a
    behaviour mixin)."""

    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64), index=True, default="")
    name: orm.Mapped[str] = orm.mapped_column(NAME, default="")
    description: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    revision_number: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)


class Tag(Base):
    __tablename__ = "network_tag"
    resource_id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    tag: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True, index=True)


class Change(Base):
    """One entry of the desired-state feed the data plane watches.

    ``revision`` is the network revision of the transaction that made the change
    (monotonic in commit order); ``host`` is the host it concerns (one row per host,
    :mod:`kumo.network.scope`), None when it concerns none.
    ``op`` is ``update`` or ``delete``.
    """

    __tablename__ = "network_change"
    #: a host's watch: its rows after a revision (migration 0009_network_feed_scope)
    __table_args__ = (sa.Index("ix_network_change_host_revision", "host", "revision"),)
    id: orm.Mapped[int] = orm.mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                            primary_key=True, autoincrement=True)
    revision: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, index=True)
    resource_type: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    resource_id: orm.Mapped[str] = orm.mapped_column(UUID)
    host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    op: orm.Mapped[str] = orm.mapped_column(sa.String(8))
    at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class Network(StandardAttrs, Base):
    __tablename__ = "network"
    __table_args__ = (sa.UniqueConstraint("network_type", "physical_network",
                                          "segmentation_id", name="uniq_network_segment"),)
    admin_state_up: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16), default="ACTIVE")
    shared: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    external: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    mtu: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    network_type: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    physical_network: orm.Mapped[str | None] = orm.mapped_column(sa.String(64), nullable=True)
    segmentation_id: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, nullable=True)
    port_security_enabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    availability_zone_hints: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    dns_domain: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
    is_default: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)


class RBACPolicy(StandardAttrs, Base):
    """Network RBAC: ``action`` (access_as_shared / access_as_external) granted on
    ``object_id`` to ``target_tenant`` (a project id or ``*``)."""

    __tablename__ = "network_rbac"
    __table_args__ = (sa.UniqueConstraint("object_type", "object_id", "action",
                                          "target_tenant"),)
    object_type: orm.Mapped[str] = orm.mapped_column(sa.String(32), default="network")
    object_id: orm.Mapped[str] = orm.mapped_column(UUID, index=True)
    action: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    target_tenant: orm.Mapped[str] = orm.mapped_column(sa.String(64), index=True)
