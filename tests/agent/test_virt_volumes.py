"""kumo.agent.virt.volumes against real loop devices (root, util-linux losetup): a loop
per wanted volume, read-only for ``ro``, kept while unchanged, freed when no longer
wanted, a number reused by another file never freed, nodes made and removed in a
directory standing for an instance's /dev. Every loop made here is freed, pass or
fail."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess

import pytest

from kumo.agent.virt import volumes as vols

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("losetup") is None, reason="needs root and losetup")


def loops_of(root) -> list[str]:
    out = subprocess.run(["losetup", "--list", "-n", "--raw", "-O", "NAME,BACK-FILE"],
                         capture_output=True, text=True, timeout=30).stdout
    return [line.split(" ", 1)[0] for line in out.splitlines()
            if line.partition(" ")[2].startswith(str(root))]


@pytest.fixture
def files(tmp_path):
    paths = []
    for i in range(2):
        p = tmp_path / f"volume-{i}"
        with open(p, "wb") as f:
            f.truncate(8 << 20)
        paths.append(str(p))
    yield paths
    for loop in loops_of(tmp_path):
        subprocess.run(["losetup", "-d", loop], capture_output=True, timeout=30)
    assert not loops_of(tmp_path)


def test_reconcile_sets_up_keeps_and_frees(files, tmp_path):
    wanted = [{"volume_id": "a", "device": "vdb", "path": files[0], "mode": "rw"},
              {"volume_id": "b", "device": "vdc", "path": files[1], "mode": "ro"},
              {"volume_id": "c", "device": "vdd", "path": None, "mode": "rw"}]
    held, gone = vols.reconcile({}, wanted)
    assert set(held) == {"a", "b"} and gone == []
    assert vols.backing_file(held["a"]["loop"]) == files[0]
    ro = held["b"]["loop"]
    assert open(f"/sys/block/{ro[5:]}/ro").read().strip() == "1"
    assert sorted(loops_of(tmp_path)) == sorted([held["a"]["loop"], ro])
    lines = vols.devices_file(held).splitlines()
    assert [line.split()[0] for line in lines] == ["vdb", "vdc"]
    assert all(line.split()[1] == "7" for line in lines)  # the loop major

    # unchanged: the same loops
    again, gone = vols.reconcile(held, wanted)
    assert again == held and gone == []
    # the file grew (an extend): the loop takes the new size
    os.truncate(files[0], 16 << 20)
    again, gone = vols.reconcile(held, wanted)
    assert again == held
    loop_a = held["a"]["loop"][5:]
    assert int(open(f"/sys/block/{loop_a}/size").read()) * 512 == 16 << 20

    # "b" detached: its loop freed, "a" kept
    held2, gone = vols.reconcile(held, wanted[:1])
    assert set(held2) == {"a"} and [g["device"] for g in gone] == ["vdc"]
    assert loops_of(tmp_path) == [held["a"]["loop"]]

    # a loop number now backing another file is not ours: never freed
    vols.free(held2["a"]["loop"], "/nonexistent/other")
    assert loops_of(tmp_path) == [held["a"]["loop"]]
    vols.free_all(held2)
    assert loops_of(tmp_path) == []


def test_sync_nodes_in_a_running_process_root(files, tmp_path):
    """Nodes appear under /proc/<pid>/root/dev of a process in its own mount
    namespace with a tmpfs /dev (as an instance's init), and go on detach."""
    held, _ = vols.reconcile({}, [{"volume_id": "a", "device": "vdb", "path": files[0],
                                   "mode": "rw"}])
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f"mount -t tmpfs dev {root}/dev && touch {root}/dev/ready && exec sleep 30"])
    try:
        ready = False
        for _ in range(200):
            if os.path.exists(f"/proc/{proc.pid}/root{root}/dev/ready"):
                ready = True
                break
            subprocess.run(["sleep", "0.05"])
        assert ready
        # the process's root is the host's /: its /dev is {root}/dev in its namespace
        base = f"/proc/{proc.pid}/root{root}"
        dev = os.path.join(base, "dev")
        vols._sync_dir(dev, held, [])
        st = os.stat(os.path.join(dev, "vdb"))
        assert stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(*vols.rdev(
            held["a"]["loop"]))
        assert not (root / "dev" / "vdb").exists()  # not in the host's namespace
        vols._sync_dir(dev, {}, list(held.values()))
        assert not os.path.exists(os.path.join(dev, "vdb"))
    finally:
        proc.kill()
        proc.wait(10)
        vols.free_all(held)
