"""Security groups and QoS, more: ``remote_address_group_id`` on security group rules,
``max_kpps``/``max_burst_kpps`` on QoS rules (``packet_rate_limit``; the QoS tables
come from ``0016_network_qos``, hence ``depends_on``).

Revision ID: 0027_network_sg_more
Revises: 0018_network_misc
"""
from alembic import op
import sqlalchemy as sa

revision = "0027_network_sg_more"
down_revision = "0018_network_misc"
branch_labels = None
depends_on = "0016_network_qos"


def upgrade() -> None:
    with op.batch_alter_table("network_security_group_rule") as batch:
        batch.add_column(sa.Column("remote_address_group_id", sa.String(length=36),
                                   nullable=True))
        batch.create_index(op.f("ix_network_security_group_rule_remote_address_group_id"),
                           ["remote_address_group_id"], unique=False)
    with op.batch_alter_table("network_qos_rule") as batch:
        batch.add_column(sa.Column("max_kpps", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("max_burst_kpps", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("network_qos_rule") as batch:
        batch.drop_column("max_burst_kpps")
        batch.drop_column("max_kpps")
    with op.batch_alter_table("network_security_group_rule") as batch:
        batch.drop_index(op.f("ix_network_security_group_rule_remote_address_group_id"))
        batch.drop_column("remote_address_group_id")
