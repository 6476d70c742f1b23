"""Each service area owns an Alembic branch (kumo/db/migrations/versions): a migration
must revise the branch whose tables it changes. Upgrading one branch head alone, on an
empty database, applies exactly that head's ancestors, so a migration placed on another
area's branch (0033_compute_host_uptime once revised the volume branch and altered
``compute_host`` before the compute branch made it) fails here; ``upgrade heads`` hides
it whenever Alembic happens to run the branches in a kind order."""
from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory

from kumo.db import alembic_config, upgrade

HEADS = sorted(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def test_there_are_branches():
    assert len(HEADS) >= 5, HEADS  # identity, network, image, compute, volume at least


@pytest.mark.parametrize("head", HEADS)
def test_each_branch_head_alone_upgrades_an_empty_database(tmp_path, head):
    upgrade(f"sqlite:///{tmp_path}/kumo.db", head)
