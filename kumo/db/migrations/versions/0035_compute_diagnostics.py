"""Compute, issue 16: the counters each instance's agent last reported for Nova's
server diagnostics (``GET /servers/{id}/diagnostics``), one JSON document per instance
in its own table (written apart from the instance row, as the console is).

Revision ID: 0035_compute_diagnostics
Revises: 0034_compute_config_drive
"""
from alembic import op
import sqlalchemy as sa

revision = "0035_compute_diagnostics"
down_revision = "0034_compute_config_drive"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compute_diagnostics",
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("instance_id"))


def downgrade() -> None:
    op.drop_table("compute_diagnostics")
