"""Networking DVR: per-host distributed MAC addresses (Neutron's dvr_host_macs).

Revision ID: 0014_network_dvr
Revises: 0007_network_l3_agent
"""
from alembic import op
import sqlalchemy as sa

revision = "0014_network_dvr"
down_revision = "0007_network_l3_agent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_dvr_host_mac",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("mac_address", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("host"),
        sa.UniqueConstraint("mac_address"))


def downgrade() -> None:
    op.drop_table("network_dvr_host_mac")
