"""Instance cgroups (kumo.agent.virt.cgroups) when the shared ``kumo`` parent groups
were removed under a running agent (another Kumo's ``kumo down`` on the same machine
removes them when empty): the next instance makes them again instead of failing every
reconcile. On a directory tree shaped like cgroup v1 and v2 mounts (plain files; the
kernel's own files are written by the test where the code reads them)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kumo.agent.virt import cgroups


def _v1(root):
    for c in ("memory", "cpu", "freezer"):
        (root / c).mkdir(parents=True)
        (root / c / "cgroup.procs").write_text("")


def _v2(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpu memory io")
    (root / "cgroup.procs").write_text("")


@pytest.mark.parametrize("shape", [_v1, _v2], ids=["v1", "v2"])
def test_a_removed_parent_is_made_again(tmp_path, shape):
    root = tmp_path / "cgroup"
    shape(root)
    cg = cgroups.Cgroups(root=root)
    assert cg.mode in ("v1", "v2") and cg.dirs
    first = cg.ensure("inst-1", 1, 64)
    assert all(Path(d).is_dir() and Path(d).name == "inst-1" for d in first)
    # another cloud's teardown: the instance went, then the empty parents
    cg.remove("inst-1", timeout=0)
    for parent in cg.dirs.values():
        shutil.rmtree(parent)
    dirs = cg.ensure("inst-2", 2, 128)
    assert len(dirs) == len(cg.dirs)
    for parent in cg.dirs.values():
        assert (parent / "inst-2").is_dir()
    if cg.mode == "v2":
        assert (cg.dirs["v2"] / "cgroup.subtree_control").read_text() == "+cpu +memory"
        assert (cg.dirs["v2"] / "inst-2" / "memory.max").read_text() == str(128 << 20)
    else:
        assert (cg.dirs["memory"] / "inst-2" / "memory.limit_in_bytes").read_text() \
            == str(128 << 20)
        assert (cg.dirs["cpu"] / "inst-2" / "cpu.cfs_quota_us").read_text() == "200000"


def test_a_missing_mount_still_fails(tmp_path):
    """Only missing ``kumo`` parents are made again: a hierarchy gone altogether is
    still an error (the reconcile reports it)."""
    root = tmp_path / "cgroup"
    _v1(root)
    cg = cgroups.Cgroups(root=root)
    shutil.rmtree(root / "memory")
    with pytest.raises(OSError):
        cg.ensure("inst-3", 1, 64)
