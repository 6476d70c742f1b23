"""Identity tables of issue 16, second part (migration ``0022_identity_federation``):
federation (identity providers and their remote ids, mappings, protocols, service
providers, federated (shadow) users and their expiring group memberships) and the
OAuth1 request and access tokens."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base
from kumo.identity.models import ID, NAME


class IdentityProvider(Base):
    """An identity provider (``OS-FEDERATION``); ``domain_id`` is where its users are
    shadowed; ``authorization_ttl`` (minutes) bounds its users' group memberships."""

    __tablename__ = "identity_provider"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    enabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    domain_id: orm.Mapped[str] = orm.mapped_column(ID, sa.ForeignKey("domain.id"),
                                                   index=True)
    authorization_ttl: orm.Mapped[int | None] = orm.mapped_column(sa.Integer,
                                                                  nullable=True)


class IdPRemoteId(Base):
    """A remote id of an identity provider: unique across every provider."""

    __tablename__ = "idp_remote_id"
    remote_id: orm.Mapped[str] = orm.mapped_column(NAME, primary_key=True)
    idp_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("identity_provider.id", ondelete="CASCADE"), index=True)


class FederationMapping(Base):
    __tablename__ = "federation_mapping"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    rules: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    schema_version: orm.Mapped[str] = orm.mapped_column(sa.String(16), default="1.0")


class FederationProtocol(Base):
    __tablename__ = "federation_protocol"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    idp_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("identity_provider.id", ondelete="CASCADE"), primary_key=True)
    mapping_id: orm.Mapped[str] = orm.mapped_column(ID)
    remote_id_attribute: orm.Mapped[str | None] = orm.mapped_column(NAME, nullable=True)


class ServiceProvider(Base):
    __tablename__ = "service_provider"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    enabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    auth_url: orm.Mapped[str] = orm.mapped_column(sa.Text)
    sp_url: orm.Mapped[str] = orm.mapped_column(sa.Text)
    relay_state_prefix: orm.Mapped[str] = orm.mapped_column(sa.String(255))


class FederatedUser(Base):
    """A shadow user: the local ``user`` row made for ``unique_id`` of an identity
    provider, one row per protocol it came through."""

    __tablename__ = "federated_user"
    __table_args__ = (sa.UniqueConstraint("idp_id", "protocol_id", "unique_id"),)
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True,
                                            autoincrement=True)
    user_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    idp_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("identity_provider.id", ondelete="CASCADE"))
    protocol_id: orm.Mapped[str] = orm.mapped_column(ID)
    unique_id: orm.Mapped[str] = orm.mapped_column(NAME)
    display_name: orm.Mapped[str | None] = orm.mapped_column(NAME, nullable=True)


class ExpiringGroupMembership(Base):
    """A group membership a mapping gave at the user's last federated login through
    ``idp_id`` (Keystone's ``expiring_user_group_membership``): replaced at every such
    login, valid until ``last_verified`` + the provider's ``authorization_ttl``."""

    __tablename__ = "expiring_user_group_membership"
    user_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    group_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("group.id", ondelete="CASCADE"), primary_key=True, index=True)
    idp_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("identity_provider.id", ondelete="CASCADE"), primary_key=True)
    last_verified: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime)
    expires_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)


class OAuth1RequestToken(Base):
    """An OAuth1 request token; ``authorizing_user_id``, ``role_ids`` and
    ``verifier`` are set when a user authorizes it."""

    __tablename__ = "oauth1_request_token"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    encrypted_secret: orm.Mapped[str] = orm.mapped_column(sa.Text)
    consumer_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("oauth1_consumer.id", ondelete="CASCADE"), index=True)
    requested_project_id: orm.Mapped[str] = orm.mapped_column(ID)
    authorizing_user_id: orm.Mapped[str | None] = orm.mapped_column(ID, nullable=True)
    role_ids: orm.Mapped[list | None] = orm.mapped_column(sa.JSON, nullable=True)
    verifier: orm.Mapped[str | None] = orm.mapped_column(sa.String(64), nullable=True)
    expires_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)


class OAuth1AccessToken(Base):
    """An OAuth1 access token: the authorizing user's delegation of ``role_ids`` on
    ``project_id`` to the consumer."""

    __tablename__ = "oauth1_access_token"
    id: orm.Mapped[str] = orm.mapped_column(ID, primary_key=True)
    encrypted_secret: orm.Mapped[str] = orm.mapped_column(sa.Text)
    consumer_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("oauth1_consumer.id", ondelete="CASCADE"), index=True)
    authorizing_user_id: orm.Mapped[str] = orm.mapped_column(
        ID, sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    project_id: orm.Mapped[str] = orm.mapped_column(ID)
    role_ids: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    expires_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                   nullable=True)
