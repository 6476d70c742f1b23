"""Identity, issue 16: credentials and the credential key repository, trusts, endpoint
groups and project endpoint filters, policies, domain configuration, unified limits, OAuth1 consumers.

Revision ID: 0019_identity_more
Revises: 0012_shared_keys
"""
from alembic import op
import sqlalchemy as sa

revision = "0019_identity_more"
down_revision = "0012_shared_keys"
branch_labels = None
depends_on = None

ID = sa.String(length=64)
NAME = sa.String(length=255)


def upgrade() -> None:
    op.create_table(
        "identity_credential_key",
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("idx"))
    op.create_table(
        "credential",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=True),
        sa.Column("type", NAME, nullable=False),
        sa.Column("encrypted_blob", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_credential_user_id", "credential", ["user_id"])
    op.create_table(
        "trust",
        sa.Column("id", ID, nullable=False),
        sa.Column("trustor_user_id", ID, nullable=False),
        sa.Column("trustee_user_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=True),
        sa.Column("impersonation", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("remaining_uses", sa.Integer(), nullable=True),
        sa.Column("allow_redelegation", sa.Boolean(), nullable=False),
        sa.Column("redelegation_count", sa.Integer(), nullable=True),
        sa.Column("redelegated_trust_id", ID, nullable=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_trust_trustor_user_id", "trust", ["trustor_user_id"])
    op.create_index("ix_trust_trustee_user_id", "trust", ["trustee_user_id"])
    op.create_table(
        "endpoint_group",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    op.create_table(
        "project_endpoint",
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("endpoint_id", "project_id"))
    op.create_index("ix_project_endpoint_project_id", "project_endpoint", ["project_id"])
    op.create_table(
        "project_endpoint_group",
        sa.Column("endpoint_group_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["endpoint_group_id"], ["endpoint_group.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("endpoint_group_id", "project_id"))
    op.create_index("ix_project_endpoint_group_project_id", "project_endpoint_group",
                    ["project_id"])
    op.create_table(
        "policy",
        sa.Column("id", ID, nullable=False),
        sa.Column("type", NAME, nullable=False),
        sa.Column("blob", sa.Text(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    op.create_table(
        "domain_config",
        sa.Column("domain_id", ID, nullable=False),
        sa.Column("group", sa.String(length=255), nullable=False),
        sa.Column("option", sa.String(length=255), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domain.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("domain_id", "group", "option"))
    op.create_table(
        "registered_limit",
        sa.Column("id", ID, nullable=False),
        sa.Column("service_id", ID, nullable=False),
        sa.Column("region_id", NAME, nullable=True),
        sa.Column("resource_name", NAME, nullable=False),
        sa.Column("default_limit", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_registered_limit_service_id", "registered_limit", ["service_id"])
    op.create_table(
        "limit",
        sa.Column("id", ID, nullable=False),
        sa.Column("registered_limit_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=True),
        sa.Column("domain_id", ID, nullable=True),
        sa.Column("resource_limit", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["registered_limit_id"], ["registered_limit.id"]),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_limit_registered_limit_id", "limit", ["registered_limit_id"])
    op.create_table(
        "oauth1_consumer",
        sa.Column("id", ID, nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("encrypted_secret", sa.Text(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"))


def downgrade() -> None:
    for table in ("oauth1_consumer", "limit", "registered_limit", "domain_config", "policy",
                  "project_endpoint_group", "project_endpoint", "endpoint_group", "trust",
                  "credential", "identity_credential_key"):
        op.drop_table(table)
