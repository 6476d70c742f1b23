"""Identity, issue 16 (second part): federation (identity providers, remote ids,
mappings, protocols, service providers, federated users, expiring group memberships)
and OAuth1 request and access tokens.

Revision ID: 0022_identity_federation
Revises: 0019_identity_more
"""
from alembic import op
import sqlalchemy as sa

revision = "0022_identity_federation"
down_revision = "0019_identity_more"
branch_labels = None
depends_on = None

ID = sa.String(length=64)
NAME = sa.String(length=255)


def upgrade() -> None:
    op.create_table(
        "identity_provider",
        sa.Column("id", ID, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("domain_id", ID, nullable=False),
        sa.Column("authorization_ttl", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["domain_id"], ["domain.id"]),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_identity_provider_domain_id", "identity_provider", ["domain_id"])
    op.create_table(
        "idp_remote_id",
        sa.Column("remote_id", NAME, nullable=False),
        sa.Column("idp_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["idp_id"], ["identity_provider.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("remote_id"))
    op.create_index("ix_idp_remote_id_idp_id", "idp_remote_id", ["idp_id"])
    op.create_table(
        "federation_mapping",
        sa.Column("id", ID, nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("schema_version", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    op.create_table(
        "federation_protocol",
        sa.Column("id", ID, nullable=False),
        sa.Column("idp_id", ID, nullable=False),
        sa.Column("mapping_id", ID, nullable=False),
        sa.Column("remote_id_attribute", NAME, nullable=True),
        sa.ForeignKeyConstraint(["idp_id"], ["identity_provider.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", "idp_id"))
    op.create_table(
        "service_provider",
        sa.Column("id", ID, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("auth_url", sa.Text(), nullable=False),
        sa.Column("sp_url", sa.Text(), nullable=False),
        sa.Column("relay_state_prefix", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    op.create_table(
        "federated_user",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("idp_id", ID, nullable=False),
        sa.Column("protocol_id", ID, nullable=False),
        sa.Column("unique_id", NAME, nullable=False),
        sa.Column("display_name", NAME, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["idp_id"], ["identity_provider.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idp_id", "protocol_id", "unique_id"))
    op.create_index("ix_federated_user_user_id", "federated_user", ["user_id"])
    op.create_table(
        "expiring_user_group_membership",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("group_id", ID, nullable=False),
        sa.Column("idp_id", ID, nullable=False),
        sa.Column("last_verified", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["group.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["idp_id"], ["identity_provider.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "group_id", "idp_id"))
    op.create_index("ix_expiring_user_group_membership_group_id",
                    "expiring_user_group_membership", ["group_id"])
    op.create_table(
        "oauth1_request_token",
        sa.Column("id", ID, nullable=False),
        sa.Column("encrypted_secret", sa.Text(), nullable=False),
        sa.Column("consumer_id", ID, nullable=False),
        sa.Column("requested_project_id", ID, nullable=False),
        sa.Column("authorizing_user_id", ID, nullable=True),
        sa.Column("role_ids", sa.JSON(), nullable=True),
        sa.Column("verifier", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["consumer_id"], ["oauth1_consumer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_oauth1_request_token_consumer_id", "oauth1_request_token",
                    ["consumer_id"])
    op.create_table(
        "oauth1_access_token",
        sa.Column("id", ID, nullable=False),
        sa.Column("encrypted_secret", sa.Text(), nullable=False),
        sa.Column("consumer_id", ID, nullable=False),
        sa.Column("authorizing_user_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("role_ids", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["consumer_id"], ["oauth1_consumer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["authorizing_user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_oauth1_access_token_consumer_id", "oauth1_access_token",
                    ["consumer_id"])
    op.create_index("ix_oauth1_access_token_authorizing_user_id", "oauth1_access_token",
                    ["authorizing_user_id"])


def downgrade() -> None:
    for table in ("oauth1_access_token", "oauth1_request_token",
                  "expiring_user_group_membership", "federated_user", "service_provider",
                  "federation_protocol", "federation_mapping", "idp_remote_id",
                  "identity_provider"):
        op.drop_table(table)
