"""A running cloud's state is private: the directory 0700, the database, its WAL, the
images and the keys 0600 (issue 12, "files")."""
from __future__ import annotations

import os
import stat


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_state_is_private(cloud, admin):
    # a write, so the WAL exists and holds something
    admin.identity.create_project(name=f"files-{os.getpid()}", domain_id="default")
    state = cloud.state_dir
    assert _mode(state) == 0o700
    files = [p for p in state.rglob("*") if p.is_file()]
    assert files, "the state directory is empty"
    if cloud.backend == "sqlite":
        assert (state / "kumo.db").exists() and (state / "kumo.db-wal").exists()
    images = [p for p in (state / "images").rglob("*") if p.is_file()]
    assert images, "the default image has no file"
    loose = {str(p.relative_to(state)): oct(_mode(p)) for p in files if _mode(p) & 0o077}
    assert not loose, f"group/other can read: {loose}"
