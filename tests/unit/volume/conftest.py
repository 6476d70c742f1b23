"""A VolumeManager over a fresh SQLite database with one fake backend ``b1``, for the
unit tests of the volume logic (no HTTP, no server)."""
from __future__ import annotations

import pytest

from kumo import db as kdb
from kumo.config import Settings
from kumo.volume.manager import VolumeManager


@pytest.fixture
def manager(tmp_path):
    url = f"sqlite:///{tmp_path / 'kumo.db'}"
    kdb.upgrade(url)
    m = VolumeManager(Settings(state_dir=str(tmp_path), volume_backends=["b1:fake"]),
                      kdb.Database(url, pool_size=2))
    m.bootstrap()
    yield m
    m.worker.shutdown()
    m.backup_worker.shutdown()
