"""Networking: Firewall-as-a-Service v2 (rules, policies and their ordered rules,
groups and their router ports), network logs and metering (labels, label rules).

Revision ID: 0025_network_fwaas_log_metering
Revises: 0018_network_misc
Depends on: 0003_network_ports (firewall group ports reference ``network_port``)
"""
from alembic import op
import sqlalchemy as sa

revision = "0025_network_fwaas_log_metering"
down_revision = "0018_network_misc"
branch_labels = None
depends_on = ("0003_network_ports",)


def _standard() -> list:
    return [sa.Column("id", sa.String(length=36), nullable=False),
            sa.Column("project_id", sa.String(length=64), nullable=False),
            sa.Column("name", sa.String(length=255), nullable=False),
            sa.Column("description", sa.String(length=255), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("updated_at", sa.DateTime(), nullable=False),
            sa.Column("revision_number", sa.Integer(), nullable=False)]


def _project_index(table: str) -> None:
    op.create_index(f"ix_{table}_project_id", table, ["project_id"])


def upgrade() -> None:
    op.create_table(
        "network_firewall_rule", *_standard(),
        sa.Column("protocol", sa.String(length=40), nullable=True),
        sa.Column("ip_version", sa.Integer(), nullable=False),
        sa.Column("source_ip_address", sa.String(length=64), nullable=True),
        sa.Column("destination_ip_address", sa.String(length=64), nullable=True),
        sa.Column("source_port", sa.String(length=16), nullable=True),
        sa.Column("destination_port", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    _project_index("network_firewall_rule")
    op.create_table(
        "network_firewall_policy", *_standard(),
        sa.Column("audited", sa.Boolean(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    _project_index("network_firewall_policy")
    op.create_table(
        "network_firewall_policy_rule",
        sa.Column("policy_id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["policy_id"], ["network_firewall_policy.id"],
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["rule_id"], ["network_firewall_rule.id"]),
        sa.PrimaryKeyConstraint("policy_id", "rule_id"))
    op.create_index("ix_network_firewall_policy_rule_rule_id",
                    "network_firewall_policy_rule", ["rule_id"])
    op.create_table(
        "network_firewall_group", *_standard(),
        sa.Column("ingress_firewall_policy_id", sa.String(length=36), nullable=True),
        sa.Column("egress_firewall_policy_id", sa.String(length=36), nullable=True),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["ingress_firewall_policy_id"],
                                ["network_firewall_policy.id"]),
        sa.ForeignKeyConstraint(["egress_firewall_policy_id"],
                                ["network_firewall_policy.id"]),
        sa.PrimaryKeyConstraint("id"))
    _project_index("network_firewall_group")
    op.create_index("ix_network_firewall_group_ingress_firewall_policy_id",
                    "network_firewall_group", ["ingress_firewall_policy_id"])
    op.create_index("ix_network_firewall_group_egress_firewall_policy_id",
                    "network_firewall_group", ["egress_firewall_policy_id"])
    op.create_table(
        "network_firewall_group_port",
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("firewall_group_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["port_id"], ["network_port.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["firewall_group_id"], ["network_firewall_group.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("port_id"))
    op.create_index("ix_network_firewall_group_port_firewall_group_id",
                    "network_firewall_group_port", ["firewall_group_id"])
    op.create_table(
        "network_metering_label", *_standard(),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    _project_index("network_metering_label")
    op.create_table(
        "network_metering_label_rule",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("metering_label_id", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("remote_ip_prefix", sa.String(length=64), nullable=True),
        sa.Column("source_ip_prefix", sa.String(length=64), nullable=True),
        sa.Column("destination_ip_prefix", sa.String(length=64), nullable=True),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["metering_label_id"], ["network_metering_label.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"))
    _project_index("network_metering_label_rule")
    op.create_index("ix_network_metering_label_rule_metering_label_id",
                    "network_metering_label_rule", ["metering_label_id"])
    op.create_table(
        "network_log", *_standard(),
        sa.Column("resource_type", sa.String(length=36), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=True),
        sa.Column("target_id", sa.String(length=36), nullable=True),
        sa.Column("event", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    _project_index("network_log")
    op.create_index("ix_network_log_resource_id", "network_log", ["resource_id"])
    op.create_index("ix_network_log_target_id", "network_log", ["target_id"])


def downgrade() -> None:
    for table in ("network_log", "network_metering_label_rule", "network_metering_label",
                  "network_firewall_group_port", "network_firewall_group",
                  "network_firewall_policy_rule", "network_firewall_policy",
                  "network_firewall_rule"):
        op.drop_table(table)
