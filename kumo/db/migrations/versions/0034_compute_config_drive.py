"""Compute, issue 16: Nova's ``config_drive`` of a server, as Nova stores it (a string:
``"True"`` when the server has a config drive, ``""`` when not; shown as is in the
server views and matched by the ``config_drive`` list filter).

Revision ID: 0034_compute_config_drive
Revises: 0033_compute_host_uptime
"""
from alembic import op
import sqlalchemy as sa

revision = "0034_compute_config_drive"
down_revision = "0033_compute_host_uptime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_instance") as batch:
        batch.add_column(sa.Column("config_drive", sa.String(255), nullable=False,
                                   server_default=sa.text("''")))


def downgrade() -> None:
    with op.batch_alter_table("compute_instance") as batch:
        batch.drop_column("config_drive")
