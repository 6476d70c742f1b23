"""Block Storage, issue 13: group snapshots (3.14) with their member snapshots'
``group_snapshot_id`` and a group's source (``create-from-src``); volume type
encryption specs (stored only).

Revision ID: 0029_volume_group_snapshots
Revises: 0024_volume_more
"""
from alembic import op
import sqlalchemy as sa

revision = "0029_volume_group_snapshots"
down_revision = "0024_volume_more"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "volume_group_snapshot",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("group_id", sa.String(36), sa.ForeignKey("volume_group.id"),
                  nullable=False),
        sa.Column("group_type_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True))
    for column in ("project_id", "group_id", "created_at"):
        op.create_index(f"ix_volume_group_snapshot_{column}", "volume_group_snapshot",
                        [column])
    op.create_table(
        "volume_type_encryption",
        sa.Column("volume_type_id", sa.String(36),
                  sa.ForeignKey("volume_type.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("encryption_id", sa.String(36), nullable=False, unique=True),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("cipher", sa.String(255), nullable=True),
        sa.Column("key_size", sa.Integer(), nullable=True),
        sa.Column("control_location", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("volume_snapshot") as batch:
        batch.add_column(sa.Column("group_snapshot_id", sa.String(36), nullable=True))
        batch.create_index("ix_volume_snapshot_group_snapshot_id", ["group_snapshot_id"])
    with op.batch_alter_table("volume_group") as batch:
        batch.add_column(sa.Column("group_snapshot_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("source_group_id", sa.String(36), nullable=True))
        batch.create_index("ix_volume_group_group_snapshot_id", ["group_snapshot_id"])
        batch.create_index("ix_volume_group_source_group_id", ["source_group_id"])


def downgrade() -> None:
    with op.batch_alter_table("volume_group") as batch:
        batch.drop_index("ix_volume_group_source_group_id")
        batch.drop_index("ix_volume_group_group_snapshot_id")
        batch.drop_column("source_group_id")
        batch.drop_column("group_snapshot_id")
    with op.batch_alter_table("volume_snapshot") as batch:
        batch.drop_index("ix_volume_snapshot_group_snapshot_id")
        batch.drop_column("group_snapshot_id")
    op.drop_table("volume_type_encryption")
    op.drop_table("volume_group_snapshot")
