"""Identity tables (Keystone v3): domains, projects, users, groups, roles, assignments,
the catalog, application credentials and token revocation events.

Ids are 32-character hex UUIDs, except the ``default`` domain. Times are naive UTC.
``NULL_DOMAIN_ID`` stands for "no domain" in unique keys, as Keystone does for global
roles, because SQL treats NULLs as distinct.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base
from kumo.db.models import Revision  # noqa: F401  (re-exported: identity bumps it)

NULL_DOMAIN_ID = "<<null>>"
ID = sa.String(64)
NAME = sa.String(255)


class Domain(Base):
    __tablename__ = "domain"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(NAME, unique=True)
    description: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    enabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    options: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    extra: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    tags: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)


class Project(Base):
    __tablename__ = "project"
    __table_args__ = (sa.UniqueConstraint("domain_id", "name"),)
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(NAME)
    domain_id: orm.Mapped[str] = orm.mapped_column(ID, sa.ForeignKey("domain.id"), index=True)
    parent_id: orm.Mapped[str | None] = orm.mapped_column(
        ID, sa.ForeignKey("project.id"), nullable=True, index=True)
    description: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    enabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    options: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    extra: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    tags: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)


class User(Base):
    __tablename__ = "user"
    __table_args__ = (sa.UniqueConstraint("domain_id", "name"),)
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(NAME)
    domain_id: orm.Mapped[str] = orm.mapped_column(ID, sa.ForeignKey("domain.id"), index=True)
    enabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    default_project_id: orm.Mapped[str | None] = orm.mapped_column(ID, nullable=True)
    password_hash: orm.Mapped[str | None] = orm.mapped_column(sa.String(128), nullable=True)
    password_created_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(
        sa.DateTime, nullable=True)
    password_expires_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(
        sa.DateTime, nullable=True)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    options: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    #: Free-form attributes clients set (``email``, ``description``...), returned as-is.
    extra: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    #: Consecutive failed password authentications and the time of the last one
    #: (security compliance lockout, migration ``0030_identity_security_compliance``).
    failed_auth_count: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, nullable=True)
    failed_auth_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(
        sa.DateTime, nullable=True)


class PasswordHistory(Base):
    """A user's password (bcrypt hash), current and past, with the time it was set
    (``unique_last_password_count``; migration ``0030_identity_security_compliance``)."""

    __tablename__ = "password_history"
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    user_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    password_hash: orm.Mapped[str] = orm.mapped_column(sa.String(128))
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    #: Set by the user (``POST /v3/users/{id}/password``), not by an admin: only then
    #: does ``minimum_password_age_days`` hold the next change back.
    self_service: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)


class Group(Base):
    __tablename__ = "group"
    __table_args__ = (sa.UniqueConstraint("domain_id", "name"),)
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(NAME)
    domain_id: orm.Mapped[str] = orm.mapped_column(ID, sa.ForeignKey("domain.id"), index=True)
    description: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    extra: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)


class UserGroupMembership(Base):
    __tablename__ = "user_group_membership"
    user_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    group_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("group.id", ondelete="CASCADE"), primary_key=True, index=True)


class Role(Base):
    __tablename__ = "role"
    __table_args__ = (sa.UniqueConstraint("name", "domain_id"),)
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(NAME)
    domain_id: orm.Mapped[str] = orm.mapped_column(ID, default=NULL_DOMAIN_ID)
    description: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    options: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    extra: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)


class ImpliedRole(Base):
    __tablename__ = "implied_role"
    prior_role_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("role.id", ondelete="CASCADE"), primary_key=True)
    implied_role_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("role.id", ondelete="CASCADE"), primary_key=True)


class RoleAssignment(Base):
    """A grant of ``role_id`` to an actor (user or group) on a target.

    ``type`` is one of UserProject, GroupProject, UserDomain, GroupDomain, UserSystem,
    GroupSystem; for system grants ``target_id`` is ``system``.
    """

    __tablename__ = "role_assignment"
    type: orm.Mapped[str] = orm.mapped_column(sa.String(16), primary_key=True)
    actor_id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True, index=True)
    target_id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True, index=True)
    role_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("role.id", ondelete="CASCADE"), primary_key=True)
    inherited: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, primary_key=True, default=False)


class Region(Base):
    __tablename__ = "region"
    id: orm.Mapped[str] = orm.mapped_column(NAME, primary_key=True)
    description: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    parent_region_id: orm.Mapped[str | None] = orm.mapped_column(
        NAME, sa.ForeignKey("region.id"), nullable=True)
    extra: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)


class Service(Base):
    __tablename__ = "service"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    type: orm.Mapped[str] = orm.mapped_column(NAME)
    name: orm.Mapped[str] = orm.mapped_column(NAME, default="")
    description: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    enabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    extra: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)


class Endpoint(Base):
    __tablename__ = "endpoint"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    interface: orm.Mapped[str] = orm.mapped_column(sa.String(8))
    service_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("service.id"), index=True)
    url: orm.Mapped[str] = orm.mapped_column(sa.Text)
    region_id: orm.Mapped[str | None] = orm.mapped_column(
        NAME, sa.ForeignKey("region.id"), nullable=True)
    enabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    extra: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)


class ApplicationCredential(Base):
    __tablename__ = "application_credential"
    __table_args__ = (sa.UniqueConstraint("user_id", "name"),)
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(NAME)
    user_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    project_id: orm.Mapped[str | None] = orm.mapped_column(ID, nullable=True)
    system: orm.Mapped[str | None] = orm.mapped_column(sa.String(16), nullable=True)
    secret_hash: orm.Mapped[str] = orm.mapped_column(sa.String(128))
    description: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    expires_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime, nullable=True)
    unrestricted: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    #: Role ids delegated to the credential (a subset of the user's on the project).
    roles: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    access_rules: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)


class RevocationEvent(Base):
    """Tokens matching every non-null field and issued at or before ``issued_before``
    are revoked (Keystone's revocation events)."""

    __tablename__ = "revocation_event"
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    user_id: orm.Mapped[str | None] = orm.mapped_column(ID, nullable=True)
    project_id: orm.Mapped[str | None] = orm.mapped_column(ID, nullable=True)
    domain_id: orm.Mapped[str | None] = orm.mapped_column(ID, nullable=True)
    role_id: orm.Mapped[str | None] = orm.mapped_column(ID, nullable=True)
    audit_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(32), nullable=True)
    audit_chain_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(32), nullable=True)
    application_credential_id: orm.Mapped[str | None] = orm.mapped_column(ID, nullable=True)
    issued_before: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime(timezone=False))
    revoked_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, index=True)


class FernetKey(Base):
    """The Fernet key repository, shared by every API process (Keystone's
    ``fernet-keys`` directory as rows): ``idx`` 0 is the staged key, the highest the
    primary. Keys are stored as they are (URL-safe base64, 44 characters), not
    encrypted: whoever can read this table can also read password hashes and mint
    tokens, so access to the database is what must be guarded."""

    __tablename__ = "identity_fernet_key"
    idx: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True,
                                             autoincrement=False)
    key: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


# Issue 16's tables live in their own module; importing it here registers them with
# every importer of the identity models (the migrations-match-models check included).
from kumo.identity import models_more  # noqa: E402,F401
from kumo.identity import models_fed  # noqa: E402,F401
