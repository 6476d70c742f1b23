"""State API processes share through the database: the Fernet keys, the metadata
secret, and the periodic jobs' last runs.

Revision ID: 0012_shared_keys
Revises: 0001_identity
"""
from alembic import op
import sqlalchemy as sa

revision = "0012_shared_keys"
down_revision = "0001_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_fernet_key",
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("idx"))
    op.create_table(
        "kumo_shared_secret",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"))
    op.create_table(
        "kumo_periodic_job",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.Column("runner", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("name"))


def downgrade() -> None:
    op.drop_table("kumo_periodic_job")
    op.drop_table("kumo_shared_secret")
    op.drop_table("identity_fernet_key")
