"""Compute: instance system metadata, host aggregates, migrations.

Revision ID: 0020_compute_more
Revises: 0010_compute_console
"""
from alembic import op
import sqlalchemy as sa

revision = "0020_compute_more"
down_revision = "0010_compute_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_instance") as batch:
        batch.add_column(sa.Column("system_metadata", sa.JSON(), nullable=True))
    op.create_table(
        "compute_aggregate",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("uuid"),
        sa.UniqueConstraint("name"))
    op.create_table(
        "compute_aggregate_host",
        sa.Column("aggregate_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["aggregate_id"], ["compute_aggregate.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("aggregate_id", "host"))
    op.create_table(
        "compute_migration",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("migration_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("source_compute", sa.String(length=255), nullable=True),
        sa.Column("dest_compute", sa.String(length=255), nullable=True),
        sa.Column("source_node", sa.String(length=255), nullable=True),
        sa.Column("dest_node", sa.String(length=255), nullable=True),
        sa.Column("dest_host", sa.String(length=255), nullable=True),
        sa.Column("old_flavor_id", sa.String(length=255), nullable=True),
        sa.Column("new_flavor_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("uuid"))
    op.create_index("ix_compute_migration_instance_uuid", "compute_migration",
                    ["instance_uuid"])


def downgrade() -> None:
    op.drop_index("ix_compute_migration_instance_uuid", "compute_migration")
    op.drop_table("compute_migration")
    op.drop_table("compute_aggregate_host")
    op.drop_table("compute_aggregate")
    with op.batch_alter_table("compute_instance") as batch:
        batch.drop_column("system_metadata")
