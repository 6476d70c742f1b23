"""Networking: floating IP port forwardings (``network_port_forwarding``), the DNS
attributes of ports (``network_port.dns_name``/``dns_domain``) and the projects'
auto-allocated topologies (``network_auto_allocated_topology``).

Revision ID: 0017_network_fwd_dns
Revises: 0013_network_l3_ha
"""
from alembic import op
import sqlalchemy as sa

revision = "0017_network_fwd_dns"
down_revision = "0013_network_l3_ha"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_port_forwarding",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("floatingip_id", sa.String(length=36), nullable=False),
        sa.Column("internal_port_id", sa.String(length=36), nullable=False),
        sa.Column("internal_ip_address", sa.String(length=64), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("internal_port_start", sa.Integer(), nullable=False),
        sa.Column("internal_port_end", sa.Integer(), nullable=False),
        sa.Column("external_port_start", sa.Integer(), nullable=False),
        sa.Column("external_port_end", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["floatingip_id"], ["network_floatingip.id"],
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["internal_port_id"], ["network_port.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("floatingip_id", "protocol", "external_port_start",
                            name="uniq_port_forwarding_external"),
        sa.UniqueConstraint("internal_port_id", "internal_ip_address", "protocol",
                            "internal_port_start", name="uniq_port_forwarding_internal"))
    op.create_index("ix_network_port_forwarding_floatingip_id", "network_port_forwarding",
                    ["floatingip_id"])
    op.create_index("ix_network_port_forwarding_internal_port_id",
                    "network_port_forwarding", ["internal_port_id"])
    op.create_table(
        "network_auto_allocated_topology",
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("router_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["network_id"], ["network.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["router_id"], ["network_router.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("project_id"))
    op.create_index("ix_network_auto_allocated_topology_network_id",
                    "network_auto_allocated_topology", ["network_id"])
    op.create_index("ix_network_auto_allocated_topology_router_id",
                    "network_auto_allocated_topology", ["router_id"])
    with op.batch_alter_table("network_port") as batch:
        batch.add_column(sa.Column("dns_name", sa.String(length=255), nullable=False,
                                   server_default=sa.text("''")))
        batch.add_column(sa.Column("dns_domain", sa.String(length=255), nullable=False,
                                   server_default=sa.text("''")))


def downgrade() -> None:
    with op.batch_alter_table("network_port") as batch:
        batch.drop_column("dns_domain")
        batch.drop_column("dns_name")
    op.drop_table("network_auto_allocated_topology")
    op.drop_index("ix_network_port_forwarding_internal_port_id", "network_port_forwarding")
    op.drop_index("ix_network_port_forwarding_floatingip_id", "network_port_forwarding")
    op.drop_table("network_port_forwarding")
