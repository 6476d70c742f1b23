"""Identity, issue 16: application credential access rules (one row per user's rule,
reused by id or by equal service/method/path) and the credentials using them.

Revision ID: 0028_identity_access_rules
Revises: 0022_identity_federation
"""
from alembic import op
import sqlalchemy as sa

revision = "0028_identity_access_rules"
down_revision = "0022_identity_federation"
branch_labels = None
depends_on = None

ID = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "access_rule",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "service", "path", "method"))
    op.create_index("ix_access_rule_user_id", "access_rule", ["user_id"])
    op.create_table(
        "application_credential_access_rule",
        sa.Column("application_credential_id", ID, nullable=False),
        sa.Column("access_rule_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["application_credential_id"], ["application_credential.id"],
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["access_rule_id"], ["access_rule.id"]),
        sa.PrimaryKeyConstraint("application_credential_id", "access_rule_id"))
    op.create_index("ix_application_credential_access_rule_access_rule_id",
                    "application_credential_access_rule", ["access_rule_id"])


def downgrade() -> None:
    op.drop_table("application_credential_access_rule")
    op.drop_table("access_rule")
