"""Block Storage, issue 13's rest: which attachments the compute agent's report
completes (Nova's flow; the v3 attachments API waits for ``os-complete``); group types
and generic volume groups (3.11/3.13), a volume's ``group_id``.

Revision ID: 0024_volume_more
Revises: 0015_volume
"""
from alembic import op
import sqlalchemy as sa

revision = "0024_volume_more"
down_revision = "0015_volume"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("volume_attachment") as batch:
        batch.add_column(sa.Column("complete_on_report", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        "volume_group_type",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("group_specs", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False))
    op.create_table(
        "volume_group",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("group_type_id", sa.String(36), sa.ForeignKey("volume_group_type.id"),
                  nullable=False),
        sa.Column("volume_type_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("availability_zone", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True))
    for column in ("project_id", "group_type_id", "created_at"):
        op.create_index(f"ix_volume_group_{column}", "volume_group", [column])
    with op.batch_alter_table("volume_volume") as batch:
        batch.add_column(sa.Column("group_id", sa.String(36), nullable=True))
        batch.create_index("ix_volume_volume_group_id", ["group_id"])


def downgrade() -> None:
    with op.batch_alter_table("volume_volume") as batch:
        batch.drop_index("ix_volume_volume_group_id")
        batch.drop_column("group_id")
    op.drop_table("volume_group")
    op.drop_table("volume_group_type")
    with op.batch_alter_table("volume_attachment") as batch:
        batch.drop_column("complete_on_report")
