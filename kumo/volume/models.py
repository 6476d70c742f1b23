"""Tables of the Block Storage service (Cinder v3), all prefixed ``volume_``.

Volumes, snapshots and backups are rows here; their data is the backend's
(:mod:`kumo.volume.drivers`) and the backup store's. Deleted resources are removed
(Cinder soft-deletes; nothing in the API shows deleted rows). Metadata, image metadata
and admin metadata (``readonly``) are key/value rows, so lists filter on them in SQL.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base

UUID = sa.String(36)
#: The default volume type's id (as Cinder's migration 136 creates ``__DEFAULT__``).
DEFAULT_TYPE_ID = "00000000-0000-4000-8000-00000000d0f7"
DEFAULT_TYPE_NAME = "__DEFAULT__"


class QosSpecs(Base):
    """QoS specs (Block Storage API v3 "Quality of service (QoS) specifications"):
    recorded and associated with types; the file backend enforces none of them."""

    __tablename__ = "volume_qos_specs"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    #: front-end, back-end or both
    consumer: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    specs: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class VolumeType(Base):
    __tablename__ = "volume_type"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    is_public: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    qos_specs_id: orm.Mapped[str | None] = orm.mapped_column(
        UUID, sa.ForeignKey("volume_qos_specs.id"), nullable=True)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)
    extra_specs: orm.Mapped[list["TypeExtraSpec"]] = orm.relationship(
        cascade="all, delete-orphan", lazy="selectin")
    #: The type's encryption spec (0029), if any: stored, never applied (see
    #: :mod:`kumo.volume.encryption`).
    encryption: orm.Mapped["TypeEncryption | None"] = orm.relationship(
        cascade="all, delete-orphan", lazy="selectin", uselist=False)


class TypeExtraSpec(Base):
    __tablename__ = "volume_type_extra_spec"
    type_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("volume_type.id", ondelete="CASCADE"), primary_key=True)
    key: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    value: orm.Mapped[str] = orm.mapped_column(sa.String(255))


class TypeAccess(Base):
    __tablename__ = "volume_type_access"
    type_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("volume_type.id", ondelete="CASCADE"), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)


class Volume(Base):
    __tablename__ = "volume_volume"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True,
                                                     index=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    size: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    #: creating, available, reserved, attaching, detaching, in-use, maintenance,
    #: deleting, awaiting-transfer, error, error_deleting, backing-up,
    #: restoring-backup, error_backing-up, error_restoring, error_extending,
    #: downloading, uploading, retyping, extending
    status: orm.Mapped[str] = orm.mapped_column(sa.String(32), index=True)
    attach_status: orm.Mapped[str] = orm.mapped_column(sa.String(32), default="detached")
    migration_status: orm.Mapped[str | None] = orm.mapped_column(sa.String(32),
                                                                 nullable=True)
    availability_zone: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    #: The backend (``host@backend#pool``) holding the data.
    host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    volume_type_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("volume_type.id"), index=True)
    snapshot_id: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True)
    source_volid: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True)
    image_id: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True)
    backup_id: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True)
    bootable: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    multiattach: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    readonly: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, index=True)
    updated_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)
    #: Why the last asynchronous step failed (shown to admins in logs only).
    error: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    #: The generic volume group it belongs to (3.13; 0024).
    group_id: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True, index=True)
    metadata_items: orm.Mapped[list["VolumeMetadata"]] = orm.relationship(
        cascade="all, delete-orphan", lazy="selectin")
    image_metadata: orm.Mapped[list["VolumeImageMetadata"]] = orm.relationship(
        cascade="all, delete-orphan", lazy="selectin")
    attachments: orm.Mapped[list["Attachment"]] = orm.relationship(
        cascade="all, delete-orphan", lazy="selectin")
    volume_type: orm.Mapped[VolumeType] = orm.relationship(lazy="joined")


class VolumeMetadata(Base):
    __tablename__ = "volume_metadata"
    volume_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("volume_volume.id", ondelete="CASCADE"), primary_key=True)
    key: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    value: orm.Mapped[str] = orm.mapped_column(sa.String(255))


class VolumeImageMetadata(Base):
    __tablename__ = "volume_image_metadata"
    volume_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("volume_volume.id", ondelete="CASCADE"), primary_key=True)
    key: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    value: orm.Mapped[str] = orm.mapped_column(sa.Text)


class Attachment(Base):
    """A volume attachment (the v3 attachments API and Nova's volume attach)."""

    __tablename__ = "volume_attachment"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    volume_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("volume_volume.id", ondelete="CASCADE"), index=True)
    instance_uuid: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True,
                                                              index=True)
    attached_host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255),
                                                              nullable=True)
    mountpoint: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    #: reserved, attaching, attached, detaching, error_attaching
    attach_status: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    attach_mode: orm.Mapped[str] = orm.mapped_column(sa.String(8), default="rw")
    connector: orm.Mapped[dict | None] = orm.mapped_column(sa.JSON, nullable=True)
    delete_on_termination: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    #: Nova's flow (``os-volume_attachments``, boot from volume): the compute agent's
    #: report that the volume is mapped completes it. An attachment made with the v3
    #: attachments API waits for ``os-complete`` (3.44), as in Cinder (0024).
    complete_on_report: orm.Mapped[bool] = orm.mapped_column(
        sa.Boolean, default=False, server_default=sa.false())
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)


class Snapshot(Base):
    __tablename__ = "volume_snapshot"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    volume_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("volume_volume.id"), index=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True,
                                                     index=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    size: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    #: creating, available, deleting, error, error_deleting, backing-up
    status: orm.Mapped[str] = orm.mapped_column(sa.String(32), index=True)
    progress: orm.Mapped[str] = orm.mapped_column(sa.String(8), default="0%")
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, index=True)
    updated_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)
    #: The group snapshot it is a member of (3.14; 0029).
    group_snapshot_id: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True,
                                                                  index=True)
    metadata_items: orm.Mapped[list["SnapshotMetadata"]] = orm.relationship(
        cascade="all, delete-orphan", lazy="selectin")


class SnapshotMetadata(Base):
    __tablename__ = "volume_snapshot_metadata"
    snapshot_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("volume_snapshot.id", ondelete="CASCADE"), primary_key=True)
    key: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    value: orm.Mapped[str] = orm.mapped_column(sa.String(255))


class Backup(Base):
    __tablename__ = "volume_backup"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    volume_id: orm.Mapped[str] = orm.mapped_column(UUID, index=True)
    snapshot_id: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True,
                                                     index=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    size: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    #: creating, available, deleting, error, restoring
    status: orm.Mapped[str] = orm.mapped_column(sa.String(32), index=True)
    fail_reason: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    container: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    availability_zone: orm.Mapped[str | None] = orm.mapped_column(sa.String(255),
                                                                  nullable=True)
    parent_id: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True, index=True)
    is_incremental: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    object_count: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    metadata_json: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    data_timestamp: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, index=True)
    updated_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)


class Transfer(Base):
    __tablename__ = "volume_transfer"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    volume_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("volume_volume.id", ondelete="CASCADE"), index=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    salt: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    crypt_hash: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class Quota(Base):
    """A project's limit for one resource (``volumes``, ``gigabytes``, ...); absent rows
    take the defaults (settings ``volume_quota_*``)."""

    __tablename__ = "volume_quota"
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    #: a global resource or ``<part>_<type name>`` (a type name is up to 255)
    resource: orm.Mapped[str] = orm.mapped_column(sa.String(300), primary_key=True)
    hard_limit: orm.Mapped[int] = orm.mapped_column(sa.Integer)


class ServiceState(Base):
    """An operator's disable of a volume service (``os-services/disable``); absent:
    enabled."""

    __tablename__ = "volume_service_state"
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    binary: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    disabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    disabled_reason: orm.Mapped[str | None] = orm.mapped_column(sa.String(255),
                                                                nullable=True)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class GroupType(Base):
    """A group type (Block Storage API v3 "Group types", 3.11; 0024)."""

    __tablename__ = "volume_group_type"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    is_public: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    group_specs: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class Group(Base):
    """A generic volume group (Block Storage API v3 "Generic volume groups", 3.13;
    0024): volumes of the listed volume types, kept together by ``group_id``."""

    __tablename__ = "volume_group"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    group_type_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("volume_group_type.id"), index=True)
    #: ids of the volume types its volumes may have
    volume_type_ids: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    status: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    availability_zone: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    #: What it was created from (``create-from-src``, 3.14; 0029).
    group_snapshot_id: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True,
                                                                  index=True)
    source_group_id: orm.Mapped[str | None] = orm.mapped_column(UUID, nullable=True,
                                                                index=True)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, index=True)
    updated_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)


class GroupSnapshot(Base):
    """A group snapshot (Block Storage API v3 "Group snapshots", 3.14; 0029): one
    snapshot of every volume of a group, those snapshots carrying its id."""

    __tablename__ = "volume_group_snapshot"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    group_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("volume_group.id"), index=True)
    group_type_id: orm.Mapped[str] = orm.mapped_column(UUID)
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    #: creating, available, deleting, error, error_deleting
    status: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, index=True)
    updated_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)


class TypeEncryption(Base):
    """A volume type's encryption spec (Block Storage API v3 "Volume type
    encryption"; 0029). Stored only: this backend encrypts nothing, so volumes of such
    a type are refused (:mod:`kumo.volume.encryption`)."""

    __tablename__ = "volume_type_encryption"
    volume_type_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("volume_type.id", ondelete="CASCADE"), primary_key=True)
    encryption_id: orm.Mapped[str] = orm.mapped_column(UUID, unique=True)
    provider: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    cipher: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True)
    key_size: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, nullable=True)
    #: front-end or back-end
    control_location: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)


class Message(Base):
    """A user message (Block Storage API v3 "Messages", 3.3; 0031): what failed when
    an asynchronous step the user asked for failed. ``event_id`` is Cinder's
    ``VOLUME_<resource type>_<action id>_<detail id>``; the text shown is made from the
    action and detail ids (:mod:`kumo.volume.messages`). Rows past ``expires_at`` are
    hidden and removed by the next message recorded."""

    __tablename__ = "volume_message"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    request_id: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    #: VOLUME, VOLUME_SNAPSHOT, VOLUME_BACKUP
    resource_type: orm.Mapped[str | None] = orm.mapped_column(sa.String(255),
                                                              nullable=True)
    resource_uuid: orm.Mapped[str | None] = orm.mapped_column(sa.String(36),
                                                              nullable=True, index=True)
    event_id: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    action_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(10), nullable=True)
    detail_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(10), nullable=True)
    #: ERROR, WARNING, INFO
    message_level: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, index=True)
    expires_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, index=True)
