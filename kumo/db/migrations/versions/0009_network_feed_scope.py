"""Networking feed scoped per host: change rows are read per host from a revision, and
the hosts with ports on a network are looked up on every port change.

- ``ix_network_change_host_revision`` (host, revision) replaces ``ix_network_change_host``:
  a host's watch reads its rows after a revision with one index range scan, however
  many rows other hosts have.
- ``ix_network_port_network_host`` (network_id, host_id): the hosts with ports on a
  network (L2 population fan-out) from the index alone.

Revision ID: 0009_network_feed_scope
Revises: 0003_network_ports
"""
from alembic import op

revision = "0009_network_feed_scope"
down_revision = "0003_network_ports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_network_change_host_revision", "network_change",
                    ["host", "revision"], unique=False)
    op.drop_index(op.f("ix_network_change_host"), table_name="network_change")
    op.create_index("ix_network_port_network_host", "network_port",
                    ["network_id", "host_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_network_port_network_host", table_name="network_port")
    op.create_index(op.f("ix_network_change_host"), "network_change", ["host"], unique=False)
    op.drop_index("ix_network_change_host_revision", table_name="network_change")
