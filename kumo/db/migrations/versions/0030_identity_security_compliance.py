"""Identity, issue 16: Keystone's security compliance (PCI-DSS) state: a user's
consecutive failed password authentications and the time of the last one (lockout),
and the password history (bcrypt hashes with their creation times).

Revision ID: 0030_identity_sec_compliance (the file's name is longer: Alembic's
version column holds 32 characters, which PostgreSQL enforces)
Revises: 0028_identity_access_rules
"""
from alembic import op
import sqlalchemy as sa

revision = "0030_identity_sec_compliance"
down_revision = "0028_identity_access_rules"
branch_labels = None
depends_on = None

ID = sa.String(length=64)


def upgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("failed_auth_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("failed_auth_at", sa.DateTime(), nullable=True))
    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("password_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("self_service", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_password_history_user_id", "password_history", ["user_id"])


def downgrade() -> None:
    op.drop_table("password_history")
    with op.batch_alter_table("user") as batch:
        batch.drop_column("failed_auth_at")
        batch.drop_column("failed_auth_count")
