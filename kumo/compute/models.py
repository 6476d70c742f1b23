"""Tables of the Compute service (Nova v2.1), all prefixed ``compute_``.

Instances keep their flavor, image facts, metadata, tags, fault and the ports they use
as columns (JSON where Nova keeps separate tables), so a server renders from one row
plus its ports. The console text is in :class:`Console`, not in the instance row. Deleted instances stay as rows (``deleted``) as Nova's do, for
``changes-since`` lists and usage.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base

UUID = sa.String(36)


class Flavor(Base):
    __tablename__ = "compute_flavor"
    seq: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    id: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    vcpus: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    ram: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    disk: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    ephemeral: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    swap: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    rxtx_factor: orm.Mapped[float] = orm.mapped_column(sa.Float, default=1.0)
    is_public: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    disabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    extra_specs: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class FlavorAccess(Base):
    __tablename__ = "compute_flavor_access"
    flavor_id: orm.Mapped[str] = orm.mapped_column(
        sa.String(255), sa.ForeignKey("compute_flavor.id", ondelete="CASCADE"),
        primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)


class KeyPair(Base):
    __tablename__ = "compute_keypair"
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    user_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    type: orm.Mapped[str] = orm.mapped_column(sa.String(16), default="ssh")
    public_key: orm.Mapped[str] = orm.mapped_column(sa.Text)
    fingerprint: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    __table_args__ = (sa.UniqueConstraint("user_id", "name"),)


class Host(Base):
    """A compute host: its nova-compute service and its hypervisor (one node each)."""

    __tablename__ = "compute_host"
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    service_uuid: orm.Mapped[str] = orm.mapped_column(UUID)
    node_uuid: orm.Mapped[str] = orm.mapped_column(UUID)
    disabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    disabled_reason: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    forced_down: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    availability_zone: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="nova")
    hypervisor_type: orm.Mapped[str] = orm.mapped_column(sa.String(64), default="fake")
    hypervisor_hostname: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    host_ip: orm.Mapped[str] = orm.mapped_column(sa.String(64), default="")
    driver: orm.Mapped[str] = orm.mapped_column(sa.String(64), default="")
    vcpus: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    memory_mb: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    local_gb: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    #: What the agent's last heartbeat said for Nova's uptime (0033; NULL: not
    #: reported): the host's boot time (UTC), its load averages over 1, 5 and 15
    #: minutes as ``uptime`` prints them ("0.20, 0.12, 0.14") and its logged-in users.
    boot_time: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime, nullable=True)
    load_average: orm.Mapped[str | None] = orm.mapped_column(sa.String(64), nullable=True)
    users: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, nullable=True)
    last_seen: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class Instance(Base):
    __tablename__ = "compute_instance"
    seq: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    id: orm.Mapped[str] = orm.mapped_column(UUID, unique=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    user_id: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    hostname: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True, index=True)
    node: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    availability_zone: orm.Mapped[str | None] = orm.mapped_column(sa.String(255),
                                                                  nullable=True)
    requested_az: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    vm_state: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    task_state: orm.Mapped[str | None] = orm.mapped_column(sa.String(32), nullable=True)
    power_state: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    image_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), default="")
    image: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    flavor: orm.Mapped[dict] = orm.mapped_column(sa.JSON)
    old_flavor: orm.Mapped[dict | None] = orm.mapped_column(sa.JSON, nullable=True)
    old_host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    vcpus: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    memory_mb: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    root_gb: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    key_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    key_data: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    user_data: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    #: Nova's ``config_drive``: ``"True"`` (the server has a config drive) or ``""``.
    config_drive: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="",
                                                      server_default=sa.text("''"))
    meta: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    tags: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    security_groups: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    #: ``[{"port_id", "created": bool, "network_id"}]`` in NIC order.
    ports: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    fault: orm.Mapped[dict | None] = orm.mapped_column(sa.JSON, nullable=True)
    #: Nova's system metadata: ``shelved_image_id``, ``password`` (os-server-password)...
    system_metadata: orm.Mapped[dict | None] = orm.mapped_column(sa.JSON, nullable=True)
    #: Hosts tried for this boot (the scheduler's retry list).
    tried_hosts: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    scheduler_hints: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    server_group_id: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True)
    locked: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    locked_by: orm.Mapped[str | None] = orm.mapped_column(sa.String(16), nullable=True)
    locked_reason: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    reservation_id: orm.Mapped[str] = orm.mapped_column(sa.String(32), index=True)
    launch_index: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    reboot_seq: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    reboot_type: orm.Mapped[str] = orm.mapped_column(sa.String(8), default="SOFT")
    rebuild_seq: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    power: orm.Mapped[str] = orm.mapped_column(sa.String(8), default="on")
    revision: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    deleted: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False, index=True)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, index=True)
    launched_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime, nullable=True)
    terminated_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                      nullable=True)


class Console(Base):
    """An instance's console tail (the last 64 KiB its agent reported), apart from the
    instance row so that server lists never load it and a console report is a short
    write of its own (migration ``0010_compute_console``)."""

    __tablename__ = "compute_console"
    instance_id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    text: orm.Mapped[str] = orm.mapped_column(sa.Text)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class Diagnostics(Base):
    """The counters an instance's agent last reported for Nova's server diagnostics
    (:meth:`kumo.agent.virt.ComputeDriver.diagnostics`'s shape), apart from the instance
    row as the console is: observed facts, written in a transaction of their own
    (migration ``0035_compute_diagnostics``)."""

    __tablename__ = "compute_diagnostics"
    instance_id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    data: orm.Mapped[dict] = orm.mapped_column(sa.JSON)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class ServerGroup(Base):
    __tablename__ = "compute_server_group"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    user_id: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    policy: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    rules: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    members: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class InstanceAction(Base):
    __tablename__ = "compute_instance_action"
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    instance_id: orm.Mapped[str] = orm.mapped_column(UUID, index=True)
    request_id: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    action: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    user_id: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    message: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    #: ``[{"event", "start_time", "finish_time", "result", "traceback", "host"}]``
    events: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    start_time: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class Quota(Base):
    __tablename__ = "compute_quota"
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    resource: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)
    hard_limit: orm.Mapped[int] = orm.mapped_column(sa.Integer)


class Change(Base):
    """The compute feed: one row per changed instance at a ``compute`` revision."""

    __tablename__ = "compute_change"
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    revision: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, index=True)
    resource_type: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    resource_id: orm.Mapped[str] = orm.mapped_column(sa.String(36))
    op: orm.Mapped[str] = orm.mapped_column(sa.String(8))
    host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class Aggregate(Base):
    """A host aggregate (``os-aggregates``); its ``availability_zone`` is also its
    metadata key of that name, as Nova keeps it (migration ``0020_compute_more``)."""

    __tablename__ = "compute_aggregate"
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: orm.Mapped[str] = orm.mapped_column(UUID, unique=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    meta: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)


class AggregateHost(Base):
    __tablename__ = "compute_aggregate_host"
    aggregate_id: orm.Mapped[int] = orm.mapped_column(
        sa.Integer, sa.ForeignKey("compute_aggregate.id", ondelete="CASCADE"),
        primary_key=True)
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)


class Migration(Base):
    """A move of an instance (``os-migrations``): cold migration, resize, live
    migration, evacuation."""

    __tablename__ = "compute_migration"
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: orm.Mapped[str] = orm.mapped_column(UUID, unique=True)
    instance_uuid: orm.Mapped[str] = orm.mapped_column(UUID, index=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    user_id: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    migration_type: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    status: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    source_compute: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    dest_compute: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    source_node: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    dest_node: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    dest_host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    old_flavor_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    new_flavor_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)
