"""Networking "misc" extensions: address groups (``network_address_group``).

Revision ID: 0018_network_misc
Revises: 0004_network_security
"""
from alembic import op
import sqlalchemy as sa

revision = "0018_network_misc"
down_revision = "0004_network_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_address_group",
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    op.create_index(op.f("ix_network_address_group_project_id"), "network_address_group",
                    ["project_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_network_address_group_project_id"),
                  table_name="network_address_group")
    op.drop_table("network_address_group")
