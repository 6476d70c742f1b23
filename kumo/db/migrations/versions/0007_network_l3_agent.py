"""Networking L3 agent scheduler: router -> hosting L3 agent bindings.

Revision ID: 0007_network_l3_agent
Revises: 0005_network_l3
"""
from alembic import op
import sqlalchemy as sa

revision = "0007_network_l3_agent"
down_revision = "0005_network_l3"
branch_labels = None
depends_on = "0004_network_security"  # network_agent


def upgrade() -> None:
    op.create_table(
        "network_router_l3_agent",
        sa.Column("router_id", sa.String(length=36), nullable=False),
        sa.Column("l3_agent_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["router_id"], ["network_router.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["l3_agent_id"], ["network_agent.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("router_id"))
    op.create_index(op.f("ix_network_router_l3_agent_l3_agent_id"),
                    "network_router_l3_agent", ["l3_agent_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_network_router_l3_agent_l3_agent_id"),
                  table_name="network_router_l3_agent")
    op.drop_table("network_router_l3_agent")
