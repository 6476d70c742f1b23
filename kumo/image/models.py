"""Image service tables (Image API v2 "Images", "Image tags", "Image members").

Custom properties live one per row in ``image_property`` (so lists filter on them in
SQL); tags in ``image_tag``; sharing in ``image_member``. Image data is not in the
database: the store keeps it under ``<state_dir>/images/<id>`` (:mod:`kumo.image.store`).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base

UUID = sa.String(36)


class Image(Base):
    __tablename__ = "image_image"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True, index=True)
    #: queued, saving, uploading, importing, active, deactivated, killed
    status: orm.Mapped[str] = orm.mapped_column(sa.String(30), index=True)
    #: public, private, shared, community
    visibility: orm.Mapped[str] = orm.mapped_column(sa.String(20), index=True)
    protected: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    os_hidden: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    owner: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True,
                                                      index=True)
    size: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger, nullable=True)
    virtual_size: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger, nullable=True)
    checksum: orm.Mapped[str | None] = orm.mapped_column(sa.String(32), nullable=True)
    os_hash_algo: orm.Mapped[str | None] = orm.mapped_column(sa.String(64), nullable=True)
    os_hash_value: orm.Mapped[str | None] = orm.mapped_column(sa.String(128), nullable=True)
    disk_format: orm.Mapped[str | None] = orm.mapped_column(sa.String(20), nullable=True)
    container_format: orm.Mapped[str | None] = orm.mapped_column(sa.String(20),
                                                                 nullable=True)
    min_disk: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    min_ram: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)

    properties: orm.Mapped[list[ImageProperty]] = orm.relationship(
        cascade="all, delete-orphan", lazy="selectin")
    tags: orm.Mapped[list[ImageTag]] = orm.relationship(
        cascade="all, delete-orphan", lazy="selectin")


class ImageProperty(Base):
    __tablename__ = "image_property"
    image_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("image_image.id", ondelete="CASCADE"), primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True, index=True)
    value: orm.Mapped[str] = orm.mapped_column(sa.Text)


class ImageTag(Base):
    __tablename__ = "image_tag"
    image_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("image_image.id", ondelete="CASCADE"), primary_key=True)
    value: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True, index=True)


class ImageMember(Base):
    __tablename__ = "image_member"
    image_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("image_image.id", ondelete="CASCADE"), primary_key=True)
    member_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True,
                                                   index=True)
    #: pending, accepted, rejected
    status: orm.Mapped[str] = orm.mapped_column(sa.String(20))
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


# -- metadata definitions (Image API v2 "Metadata definitions") -----------------------
class MetadefNamespace(Base):
    """A metadata definition namespace; its objects, properties, tags and resource
    type associations go with it."""

    __tablename__ = "image_metadef_namespace"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    namespace: orm.Mapped[str] = orm.mapped_column(sa.String(80), unique=True)
    display_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(80), nullable=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    #: public, private
    visibility: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    protected: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    owner: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True,
                                                      index=True)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class MetadefResourceType(Base):
    __tablename__ = "image_metadef_resource_type"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(80), unique=True)
    protected: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class MetadefAssociation(Base):
    """A namespace associated with a resource type (with the prefix its properties
    take on that resource)."""

    __tablename__ = "image_metadef_association"
    namespace_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("image_metadef_namespace.id", ondelete="CASCADE"),
        primary_key=True)
    resource_type_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("image_metadef_resource_type.id", ondelete="CASCADE"),
        primary_key=True)
    prefix: orm.Mapped[str | None] = orm.mapped_column(sa.String(80), nullable=True)
    properties_target: orm.Mapped[str | None] = orm.mapped_column(sa.String(80),
                                                                  nullable=True)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class MetadefItem(Base):
    """An object, property or tag of a namespace (``kind``), its definition as JSON:
    a property's schema (type, title, enum...), an object's ``description``,
    ``required`` and ``properties``; nothing for a tag."""

    __tablename__ = "image_metadef_item"
    __table_args__ = (sa.UniqueConstraint("namespace_id", "kind", "name"),)
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    namespace_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("image_metadef_namespace.id", ondelete="CASCADE"), index=True)
    #: object, property, tag
    kind: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    body: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


# -- tasks (Image API v2 "Tasks") ------------------------------------------------------
class Task(Base):
    __tablename__ = "image_task"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    #: import
    type: orm.Mapped[str] = orm.mapped_column(sa.String(30))
    #: pending, processing, success, failure
    status: orm.Mapped[str] = orm.mapped_column(sa.String(30), index=True)
    owner: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), nullable=True,
                                                      index=True)
    input: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    result: orm.Mapped[dict | None] = orm.mapped_column(sa.JSON, nullable=True)
    message: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    expires_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
