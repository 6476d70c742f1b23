"""Block Storage, issue 13: user messages (``/v3/messages``, 3.3).

Revision ID: 0031_volume_messages
Revises: 0029_volume_group_snapshots
"""
from alembic import op
import sqlalchemy as sa

revision = "0031_volume_messages"
down_revision = "0029_volume_group_snapshots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "volume_message",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("request_id", sa.String(255), nullable=False),
        sa.Column("resource_type", sa.String(255), nullable=True),
        sa.Column("resource_uuid", sa.String(36), nullable=True),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("action_id", sa.String(10), nullable=True),
        sa.Column("detail_id", sa.String(10), nullable=True),
        sa.Column("message_level", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False))
    for column in ("project_id", "resource_uuid", "created_at", "expires_at"):
        op.create_index(f"ix_volume_message_{column}", "volume_message", [column])


def downgrade() -> None:
    op.drop_table("volume_message")
