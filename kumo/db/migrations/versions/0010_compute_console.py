"""Compute: console text in its own table ``compute_console`` (moved out of
``compute_instance.console``), so server lists never load it and console reports are
short writes of their own.

Revision ID: 0010_compute_console
Revises: 0008_compute
"""
from alembic import op
import sqlalchemy as sa

revision = "0010_compute_console"
down_revision = "0008_compute"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compute_console",
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("instance_id"))
    op.execute("INSERT INTO compute_console (instance_id, text, updated_at) "
               "SELECT id, console, updated_at FROM compute_instance "
               "WHERE console IS NOT NULL")
    with op.batch_alter_table("compute_instance") as batch:
        batch.drop_column("console")


def downgrade() -> None:
    with op.batch_alter_table("compute_instance") as batch:
        batch.add_column(sa.Column("console", sa.Text(), nullable=True))
    op.execute("UPDATE compute_instance SET console = (SELECT text FROM compute_console "
               "WHERE compute_console.instance_id = compute_instance.id)")
    op.drop_table("compute_console")
