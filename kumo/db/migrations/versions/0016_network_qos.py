"""Networking QoS: policies, their rules, and the policy bindings of networks, ports,
floating IPs and router gateways (see :mod:`kumo.network.models.qos`).

Revision ID: 0016_network_qos
Revises: 0013_network_l3_ha
"""
from alembic import op
import sqlalchemy as sa

revision = "0016_network_qos"
down_revision = "0013_network_l3_ha"
branch_labels = None
depends_on = None

BINDINGS = [("network_qos_network_binding", "network_id", "network"),
            ("network_qos_port_binding", "port_id", "network_port"),
            ("network_qos_fip_binding", "fip_id", "network_floatingip"),
            ("network_qos_router_gw_binding", "router_id", "network_router")]


def upgrade() -> None:
    op.create_table(
        "network_qos_policy",
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_network_qos_policy_project_id", "network_qos_policy",
                    ["project_id"])
    op.create_table(
        "network_qos_rule",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("qos_policy_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=True),
        sa.Column("max_kbps", sa.BigInteger(), nullable=True),
        sa.Column("max_burst_kbps", sa.BigInteger(), nullable=True),
        sa.Column("dscp_mark", sa.Integer(), nullable=True),
        sa.Column("min_kbps", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["qos_policy_id"], ["network_qos_policy.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_network_qos_rule_qos_policy_id", "network_qos_rule",
                    ["qos_policy_id"])
    for table, column, target in BINDINGS:
        op.create_table(
            table,
            sa.Column(column, sa.String(length=36), nullable=False),
            sa.Column("policy_id", sa.String(length=36), nullable=False),
            sa.ForeignKeyConstraint([column], [f"{target}.id"], ondelete="CASCADE"),
            sa.ForeignKeyConstraint(["policy_id"], ["network_qos_policy.id"]),
            sa.PrimaryKeyConstraint(column))
        op.create_index(f"ix_{table}_policy_id", table, ["policy_id"])


def downgrade() -> None:
    for table, _column, _target in BINDINGS:
        op.drop_table(table)
    op.drop_table("network_qos_rule")
    op.drop_table("network_qos_policy")
