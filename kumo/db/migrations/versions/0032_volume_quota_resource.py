"""Block Storage, issue 13: per-volume-type quota keys (``gigabytes_<type name>``) may
be 11 characters longer than a type name (255): ``volume_quota.resource`` widens to
300, as Cinder's ``quotas.resource``.

Revision ID: 0032_volume_quota_resource
Revises: 0031_volume_messages
"""
from alembic import op
import sqlalchemy as sa

revision = "0032_volume_quota_resource"
down_revision = "0031_volume_messages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("volume_quota") as batch:
        batch.alter_column("resource", existing_type=sa.String(255),
                           type_=sa.String(300), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("volume_quota") as batch:
        batch.alter_column("resource", existing_type=sa.String(300),
                           type_=sa.String(255), existing_nullable=False)
