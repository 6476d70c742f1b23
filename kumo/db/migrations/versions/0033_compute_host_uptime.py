"""Compute, issue 16: what a host's agent reports for Nova's hypervisor uptime
(``GET /os-hypervisors/{id}/uptime``, ``uptime`` in a 2.88+ hypervisor): the host's boot
time, its load averages and its logged-in users at the last heartbeat. NULL: not
reported (an older agent), so the uptime stays Nova's 501 / null.

Revision ID: 0033_compute_host_uptime
Revises: 0020_compute_more
"""
from alembic import op
import sqlalchemy as sa

revision = "0033_compute_host_uptime"
down_revision = "0020_compute_more"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_host") as batch:
        batch.add_column(sa.Column("boot_time", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("load_average", sa.String(64), nullable=True))
        batch.add_column(sa.Column("users", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compute_host") as batch:
        batch.drop_column("users")
        batch.drop_column("load_average")
        batch.drop_column("boot_time")
