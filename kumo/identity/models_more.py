"""Identity tables of issue 16: credentials and their own key repository, trusts,
endpoint groups and project endpoint filters, policies, domain configuration and
unified limits (migration ``0019_identity_more``)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base
from kumo.identity.models import ID, NAME


class CredentialKey(Base):
    """The credential provider's Fernet key repository (Keystone's
    ``credential-keys`` directory as rows), separate from the token keys: ``idx`` 0
    staged, the highest primary."""

    __tablename__ = "identity_credential_key"
    idx: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True,
                                             autoincrement=False)
    key: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)


class Credential(Base):
    """A credential; ``encrypted_blob`` is the Fernet-encrypted blob and ``key_hash``
    the SHA-1 of the key that encrypted it (Keystone's columns)."""

    __tablename__ = "credential"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    user_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    project_id: orm.Mapped[str | None] = orm.mapped_column(ID, nullable=True)
    type: orm.Mapped[str] = orm.mapped_column(NAME)
    encrypted_blob: orm.Mapped[str] = orm.mapped_column(sa.Text)
    key_hash: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    extra: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)


class Trust(Base):
    __tablename__ = "trust"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    trustor_user_id: orm.Mapped[str] = orm.mapped_column(ID, index=True)
    trustee_user_id: orm.Mapped[str] = orm.mapped_column(ID, index=True)
    project_id: orm.Mapped[str | None] = orm.mapped_column(ID, nullable=True)
    impersonation: orm.Mapped[bool] = orm.mapped_column(sa.Boolean)
    expires_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime, nullable=True)
    remaining_uses: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, nullable=True)
    allow_redelegation: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    redelegation_count: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, nullable=True)
    redelegated_trust_id: orm.Mapped[str | None] = orm.mapped_column(ID, nullable=True)
    deleted_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime, nullable=True)
    #: Role ids delegated (explicit roles; implied ones are expanded at token time).
    roles: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    extra: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)


class EndpointGroup(Base):
    __tablename__ = "endpoint_group"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(NAME)
    description: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    filters: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)


class ProjectEndpoint(Base):
    __tablename__ = "project_endpoint"
    endpoint_id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True, index=True)


class ProjectEndpointGroup(Base):
    __tablename__ = "project_endpoint_group"
    endpoint_group_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("endpoint_group.id", ondelete="CASCADE"), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True, index=True)


class Policy(Base):
    __tablename__ = "policy"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    type: orm.Mapped[str] = orm.mapped_column(NAME)
    blob: orm.Mapped[str] = orm.mapped_column(sa.Text)
    extra: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)


class DomainConfig(Base):
    """One option of a domain's configuration (``group``: identity or ldap)."""

    __tablename__ = "domain_config"
    domain_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("domain.id", ondelete="CASCADE"), primary_key=True)
    group: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    option: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    value: orm.Mapped[object] = orm.mapped_column(sa.JSON)


class RegisteredLimit(Base):
    __tablename__ = "registered_limit"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    service_id: orm.Mapped[str] = orm.mapped_column(ID, index=True)
    region_id: orm.Mapped[str | None] = orm.mapped_column(NAME, nullable=True)
    resource_name: orm.Mapped[str] = orm.mapped_column(NAME)
    default_limit: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)


class Limit(Base):
    __tablename__ = "limit"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    registered_limit_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("registered_limit.id"), index=True)
    project_id: orm.Mapped[str | None] = orm.mapped_column(ID, nullable=True)
    domain_id: orm.Mapped[str | None] = orm.mapped_column(ID, nullable=True)
    resource_limit: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)


class OAuth1Consumer(Base):
    """An OAuth1 consumer; its secret is encrypted under the credential keys (it must
    be recoverable to check HMAC-SHA1 signatures)."""

    __tablename__ = "oauth1_consumer"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    encrypted_secret: orm.Mapped[str] = orm.mapped_column(sa.Text)
    extra: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)


class AccessRule(Base):
    """An application credential access rule (migration ``0028_identity_access_rules``):
    one (service type, HTTP method, path pattern) a user's credentials may reuse; rules
    are immutable and deduplicated per user. ``path`` may hold ``*`` (one segment) and
    ``**`` (any number of segments) wildcards."""

    __tablename__ = "access_rule"
    __table_args__ = (sa.UniqueConstraint("user_id", "service", "path", "method"),)
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    user_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    service: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    path: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    method: orm.Mapped[str] = orm.mapped_column(sa.String(16))


class ApplicationCredentialAccessRule(Base):
    """Which credential uses which rule (a rule in use cannot be deleted)."""

    __tablename__ = "application_credential_access_rule"
    application_credential_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("application_credential.id", ondelete="CASCADE"),
        primary_key=True)
    access_rule_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("access_rule.id"), primary_key=True, index=True)
