"""Networking L3 HA: several L3 agents per router with their VRRP state, the hidden
per-project HA networks and the VRID allocations.

- ``network_router_l3_agent``: primary key ``(router_id, l3_agent_id)`` (was
  ``router_id``), new column ``ha_state``; rebuilt (SQLite cannot change a primary
  key in place), rows kept.
- ``network_ha_router_network`` (project_id -> network_id) and
  ``network_ha_router_vrid`` ((network_id, vr_id) -> router_id, router unique).

Revision ID: 0013_network_l3_ha
Revises: 0007_network_l3_agent
"""
from alembic import op
import sqlalchemy as sa

revision = "0013_network_l3_ha"
down_revision = "0007_network_l3_agent"
branch_labels = None
depends_on = None

OLD, TMP = "network_router_l3_agent", "network_router_l3_agent_tmp"
INDEX = "ix_network_router_l3_agent_l3_agent_id"


def _binding_table(name: str, ha: bool) -> None:
    cols = [sa.Column("router_id", sa.String(length=36), nullable=False),
            sa.Column("l3_agent_id", sa.String(length=36), nullable=False)]
    if ha:
        cols.append(sa.Column("ha_state", sa.String(length=16), nullable=True))
    op.create_table(
        name, *cols,
        sa.ForeignKeyConstraint(["router_id"], ["network_router.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["l3_agent_id"], ["network_agent.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(*(("router_id", "l3_agent_id") if ha else ("router_id",))))


def upgrade() -> None:
    _binding_table(TMP, ha=True)
    op.execute(f"INSERT INTO {TMP} (router_id, l3_agent_id) "
               f"SELECT router_id, l3_agent_id FROM {OLD}")
    op.drop_index(INDEX, table_name=OLD)
    op.drop_table(OLD)
    op.rename_table(TMP, OLD)
    op.create_index(INDEX, OLD, ["l3_agent_id"], unique=False)
    op.create_table(
        "network_ha_router_network",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["network_id"], ["network.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id"),
        sa.UniqueConstraint("network_id"))
    op.create_table(
        "network_ha_router_vrid",
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("vr_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("router_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["network_id"], ["network.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["router_id"], ["network_router.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("network_id", "vr_id"),
        sa.UniqueConstraint("router_id"))


def downgrade() -> None:
    op.drop_table("network_ha_router_vrid")
    op.drop_table("network_ha_router_network")
    _binding_table(TMP, ha=False)
    # one agent per router again: keep the first binding of each router
    op.execute(f"INSERT INTO {TMP} (router_id, l3_agent_id) "
               f"SELECT router_id, MIN(l3_agent_id) FROM {OLD} GROUP BY router_id")
    op.drop_index(INDEX, table_name=OLD)
    op.drop_table(OLD)
    op.rename_table(TMP, OLD)
    op.create_index(INDEX, OLD, ["l3_agent_id"], unique=False)
