"""Networking: Tap-as-a-Service and trunks (``network_tap_service``,
``network_tap_flow``, ``network_trunk``, ``network_trunk_subport``).

Revision ID: 0026_network_taas_trunk
Revises: 0017_network_fwd_dns (the latest network migration on the ports' line: the
tables refer to ``network_port``)
"""
from alembic import op
import sqlalchemy as sa

revision = "0026_network_taas_trunk"
down_revision = "0017_network_fwd_dns"
branch_labels = None
depends_on = None


def _standard() -> list:
    return [sa.Column("id", sa.String(length=36), nullable=False),
            sa.Column("project_id", sa.String(length=64), nullable=False),
            sa.Column("name", sa.String(length=255), nullable=False),
            sa.Column("description", sa.String(length=255), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("updated_at", sa.DateTime(), nullable=False),
            sa.Column("revision_number", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id")]


def upgrade() -> None:
    op.create_table(
        "network_tap_service",
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("vni", sa.Integer(), nullable=False),
        *_standard(),
        sa.ForeignKeyConstraint(["port_id"], ["network_port.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("port_id"), sa.UniqueConstraint("vni"))
    op.create_index(op.f("ix_network_tap_service_project_id"), "network_tap_service",
                    ["project_id"], unique=False)
    op.create_table(
        "network_tap_flow",
        sa.Column("tap_service_id", sa.String(length=36), nullable=False),
        sa.Column("source_port", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=4), nullable=False),
        sa.Column("vlan_filter", sa.String(length=1024), nullable=True),
        *_standard(),
        sa.ForeignKeyConstraint(["tap_service_id"], ["network_tap_service.id"],
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_port"], ["network_port.id"], ondelete="CASCADE"))
    for col in ("project_id", "tap_service_id", "source_port"):
        op.create_index(op.f(f"ix_network_tap_flow_{col}"), "network_tap_flow", [col],
                        unique=False)
    op.create_table(
        "network_trunk",
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("port_id", sa.String(length=36), nullable=False),
        *_standard(),
        sa.ForeignKeyConstraint(["port_id"], ["network_port.id"]),
        sa.UniqueConstraint("port_id"))
    op.create_index(op.f("ix_network_trunk_project_id"), "network_trunk", ["project_id"],
                    unique=False)
    op.create_table(
        "network_trunk_subport",
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("trunk_id", sa.String(length=36), nullable=False),
        sa.Column("segmentation_type", sa.String(length=32), nullable=False),
        sa.Column("segmentation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["port_id"], ["network_port.id"]),
        sa.ForeignKeyConstraint(["trunk_id"], ["network_trunk.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("port_id"),
        sa.UniqueConstraint("trunk_id", "segmentation_type", "segmentation_id",
                            name="uniq_trunk_segmentation"))
    op.create_index(op.f("ix_network_trunk_subport_trunk_id"), "network_trunk_subport",
                    ["trunk_id"], unique=False)


def downgrade() -> None:
    op.drop_table("network_trunk_subport")
    op.drop_table("network_trunk")
    op.drop_table("network_tap_flow")
    op.drop_table("network_tap_service")
