"""Block Storage, issue 13's rest: which attachments the compute agent's report
completes (Nova's flow; the v3 attachments API waits for ``os-complete``).

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


def downgrade() -> None:
    with op.batch_alter_table("volume_attachment") as batch:
        batch.drop_column("complete_on_report")
