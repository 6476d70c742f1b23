"""Compute service: flavors (with DevStack's defaults), key pairs, hosts, instances,
server groups, instance actions, quotas and the compute feed.

Revision ID: 0008_compute
Revises: 0001_identity
"""
import datetime as dt

from alembic import op
import sqlalchemy as sa

revision = "0008_compute"
down_revision = "0001_identity"
branch_labels = None
depends_on = None

#: DevStack's default flavors: (id, name, ram MiB, vcpus, disk GiB).
DEFAULT_FLAVORS = [("42", "m1.nano", 128, 1, 1), ("84", "m1.micro", 192, 1, 1),
                   ("1", "m1.tiny", 512, 1, 1), ("2", "m1.small", 2048, 1, 20),
                   ("3", "m1.medium", 4096, 2, 40), ("4", "m1.large", 8192, 4, 80),
                   ("5", "m1.xlarge", 16384, 8, 160)]


def upgrade() -> None:
    op.create_table('compute_change',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.Column('resource_type', sa.String(length=32), nullable=False),
    sa.Column('resource_id', sa.String(length=36), nullable=False),
    sa.Column('op', sa.String(length=8), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_compute_change_revision'), 'compute_change', ['revision'], unique=False)
    op.create_table('compute_flavor',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('vcpus', sa.Integer(), nullable=False),
    sa.Column('ram', sa.Integer(), nullable=False),
    sa.Column('disk', sa.Integer(), nullable=False),
    sa.Column('ephemeral', sa.Integer(), nullable=False),
    sa.Column('swap', sa.Integer(), nullable=False),
    sa.Column('rxtx_factor', sa.Float(), nullable=False),
    sa.Column('is_public', sa.Boolean(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('extra_specs', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('compute_host',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('service_uuid', sa.String(length=36), nullable=False),
    sa.Column('node_uuid', sa.String(length=36), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_reason', sa.String(length=255), nullable=True),
    sa.Column('forced_down', sa.Boolean(), nullable=False),
    sa.Column('availability_zone', sa.String(length=255), nullable=False),
    sa.Column('hypervisor_type', sa.String(length=64), nullable=False),
    sa.Column('hypervisor_hostname', sa.String(length=255), nullable=False),
    sa.Column('host_ip', sa.String(length=64), nullable=False),
    sa.Column('driver', sa.String(length=64), nullable=False),
    sa.Column('vcpus', sa.Integer(), nullable=False),
    sa.Column('memory_mb', sa.Integer(), nullable=False),
    sa.Column('local_gb', sa.Integer(), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('host')
    )
    op.create_table('compute_instance',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('node', sa.String(length=255), nullable=True),
    sa.Column('availability_zone', sa.String(length=255), nullable=True),
    sa.Column('requested_az', sa.String(length=255), nullable=True),
    sa.Column('vm_state', sa.String(length=32), nullable=False),
    sa.Column('task_state', sa.String(length=32), nullable=True),
    sa.Column('power_state', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.String(length=36), nullable=False),
    sa.Column('image', sa.JSON(), nullable=False),
    sa.Column('flavor', sa.JSON(), nullable=False),
    sa.Column('old_flavor', sa.JSON(), nullable=True),
    sa.Column('old_host', sa.String(length=255), nullable=True),
    sa.Column('vcpus', sa.Integer(), nullable=False),
    sa.Column('memory_mb', sa.Integer(), nullable=False),
    sa.Column('root_gb', sa.Integer(), nullable=False),
    sa.Column('key_name', sa.String(length=255), nullable=True),
    sa.Column('key_data', sa.Text(), nullable=True),
    sa.Column('user_data', sa.Text(), nullable=True),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('security_groups', sa.JSON(), nullable=False),
    sa.Column('ports', sa.JSON(), nullable=False),
    sa.Column('fault', sa.JSON(), nullable=True),
    sa.Column('tried_hosts', sa.JSON(), nullable=False),
    sa.Column('scheduler_hints', sa.JSON(), nullable=False),
    sa.Column('server_group_id', sa.String(length=36), nullable=True),
    sa.Column('locked', sa.Boolean(), nullable=False),
    sa.Column('locked_by', sa.String(length=16), nullable=True),
    sa.Column('locked_reason', sa.String(length=255), nullable=True),
    sa.Column('reservation_id', sa.String(length=32), nullable=False),
    sa.Column('launch_index', sa.Integer(), nullable=False),
    sa.Column('reboot_seq', sa.Integer(), nullable=False),
    sa.Column('reboot_type', sa.String(length=8), nullable=False),
    sa.Column('rebuild_seq', sa.Integer(), nullable=False),
    sa.Column('power', sa.String(length=8), nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.Column('console', sa.Text(), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('launched_at', sa.DateTime(), nullable=True),
    sa.Column('terminated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id')
    )
    op.create_index(op.f('ix_compute_instance_deleted'), 'compute_instance', ['deleted'], unique=False)
    op.create_index(op.f('ix_compute_instance_display_name'), 'compute_instance', ['display_name'], unique=False)
    op.create_index(op.f('ix_compute_instance_host'), 'compute_instance', ['host'], unique=False)
    op.create_index(op.f('ix_compute_instance_project_id'), 'compute_instance', ['project_id'], unique=False)
    op.create_index(op.f('ix_compute_instance_reservation_id'), 'compute_instance', ['reservation_id'], unique=False)
    op.create_index(op.f('ix_compute_instance_updated_at'), 'compute_instance', ['updated_at'], unique=False)
    op.create_table('compute_instance_action',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('message', sa.String(length=255), nullable=True),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('start_time', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_compute_instance_action_instance_id'), 'compute_instance_action', ['instance_id'], unique=False)
    op.create_table('compute_keypair',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'name')
    )
    op.create_index(op.f('ix_compute_keypair_user_id'), 'compute_keypair', ['user_id'], unique=False)
    op.create_table('compute_quota',
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('resource', sa.String(length=64), nullable=False),
    sa.Column('hard_limit', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'resource')
    )
    op.create_table('compute_server_group',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('policy', sa.String(length=32), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('members', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_compute_server_group_project_id'), 'compute_server_group', ['project_id'], unique=False)
    op.create_table('compute_flavor_access',
    sa.Column('flavor_id', sa.String(length=255), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['flavor_id'], ['compute_flavor.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('flavor_id', 'project_id')
    )
    flavors = sa.table("compute_flavor", sa.column("id"), sa.column("name"),
                       sa.column("vcpus"), sa.column("ram"), sa.column("disk"),
                       sa.column("ephemeral"), sa.column("swap"), sa.column("rxtx_factor"),
                       sa.column("is_public"), sa.column("disabled"),
                       sa.column("extra_specs", sa.JSON), sa.column("created_at"))
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    op.bulk_insert(flavors, [
        {"id": fid, "name": name, "vcpus": vcpus, "ram": ram, "disk": disk, "ephemeral": 0,
         "swap": 0, "rxtx_factor": 1.0, "is_public": True, "disabled": False,
         "extra_specs": {}, "created_at": now}
        for fid, name, ram, vcpus, disk in DEFAULT_FLAVORS])


def downgrade() -> None:

    op.drop_table('compute_flavor_access')
    op.drop_index(op.f('ix_compute_server_group_project_id'), table_name='compute_server_group')
    op.drop_table('compute_server_group')
    op.drop_table('compute_quota')
    op.drop_index(op.f('ix_compute_keypair_user_id'), table_name='compute_keypair')
    op.drop_table('compute_keypair')
    op.drop_index(op.f('ix_compute_instance_action_instance_id'), table_name='compute_instance_action')
    op.drop_table('compute_instance_action')
    op.drop_index(op.f('ix_compute_instance_updated_at'), table_name='compute_instance')
    op.drop_index(op.f('ix_compute_instance_reservation_id'), table_name='compute_instance')
    op.drop_index(op.f('ix_compute_instance_project_id'), table_name='compute_instance')
    op.drop_index(op.f('ix_compute_instance_host'), table_name='compute_instance')
    op.drop_index(op.f('ix_compute_instance_display_name'), table_name='compute_instance')
    op.drop_index(op.f('ix_compute_instance_deleted'), table_name='compute_instance')
    op.drop_table('compute_instance')
    op.drop_table('compute_host')
    op.drop_table('compute_flavor')
    op.drop_index(op.f('ix_compute_change_revision'), table_name='compute_change')
    op.drop_table('compute_change')
