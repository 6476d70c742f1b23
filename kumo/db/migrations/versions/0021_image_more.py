"""Image service: metadata definitions and tasks.

Revision ID: 0021_image_more
Revises: 0006_image
"""
from alembic import op
import sqlalchemy as sa

revision = "0021_image_more"
down_revision = "0006_image"
branch_labels = None
depends_on = None


def _times():
    return [sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("updated_at", sa.DateTime(), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "image_metadef_namespace",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(80), nullable=False),
        sa.Column("display_name", sa.String(80), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("visibility", sa.String(32), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=True),
        *_times(),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("namespace"))
    op.create_index(op.f("ix_image_metadef_namespace_owner"), "image_metadef_namespace",
                    ["owner"], unique=False)
    op.create_table(
        "image_metadef_resource_type",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("name"))
    op.create_table(
        "image_metadef_association",
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("resource_type_id", sa.String(36), nullable=False),
        sa.Column("prefix", sa.String(80), nullable=True),
        sa.Column("properties_target", sa.String(80), nullable=True),
        *_times(),
        sa.ForeignKeyConstraint(["namespace_id"], ["image_metadef_namespace.id"],
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["resource_type_id"], ["image_metadef_resource_type.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("namespace_id", "resource_type_id"))
    op.create_table(
        "image_metadef_item",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        *_times(),
        sa.ForeignKeyConstraint(["namespace_id"], ["image_metadef_namespace.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("namespace_id", "kind", "name"))
    op.create_index(op.f("ix_image_metadef_item_namespace_id"), "image_metadef_item",
                    ["namespace_id"], unique=False)
    op.create_table(
        "image_task",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("input", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        *_times(),
        sa.PrimaryKeyConstraint("id"))
    op.create_index(op.f("ix_image_task_owner"), "image_task", ["owner"], unique=False)
    op.create_index(op.f("ix_image_task_status"), "image_task", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_image_task_status"), table_name="image_task")
    op.drop_index(op.f("ix_image_task_owner"), table_name="image_task")
    op.drop_table("image_task")
    op.drop_index(op.f("ix_image_metadef_item_namespace_id"), table_name="image_metadef_item")
    op.drop_table("image_metadef_item")
    op.drop_table("image_metadef_association")
    op.drop_table("image_metadef_resource_type")
    op.drop_index(op.f("ix_image_metadef_namespace_owner"),
                  table_name="image_metadef_namespace")
    op.drop_table("image_metadef_namespace")
