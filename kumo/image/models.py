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
