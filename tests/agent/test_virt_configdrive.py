"""kumo.agent.virt.configdrive with real loop devices and genisoimage (root): the drive
is built once from the controller's files (an ISO 9660 volume ``config-2``, Joliet and
Rock Ridge, read back with isoinfo), its read-only loop kept across a new driver object
(an agent restart) and set up again when lost, the drive made again on a rebuild, boot.sh's ``devices`` line carries the
label, a running guest's /dev gets ``sr0`` and ``disk/by-label/config-2``, and freeing
leaves no loop. Every loop made here is freed, pass or fail."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from kumo.agent.virt import VirtError
from kumo.agent.virt import configdrive as cd
from kumo.agent.virt import volumes as vols

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in
                                 ("losetup", "genisoimage", "isoinfo")),
    reason="needs root, losetup and genisoimage")

FILES = {"openstack/latest/meta_data.json": json.dumps({"uuid": "u-1"}).encode(),
         "openstack/latest/user_data": b"#!/bin/sh\necho hi\n",
         "ec2/latest/meta-data.json": b"{}"}


def loops_of(root) -> list[str]:
    out = subprocess.run(["losetup", "--list", "-n", "--raw", "-O", "NAME,BACK-FILE"],
                         capture_output=True, text=True, timeout=30).stdout
    return [line.split(" ", 1)[0] for line in out.splitlines()
            if line.partition(" ")[2].startswith(str(root))]


class Driver(cd.InstanceConfigDrive, vols.InstanceVolumes):
    """The netns driver's parts the mixin uses: ``_dir``, ``_save`` (meta.json)."""

    def __init__(self, root, source):
        self.root, self.config_drive_source, self.fetched = root, source, 0

    def _dir(self, iid):
        return self.root / iid

    def _save(self, iid, meta):
        (self.root / iid / "meta.json").write_text(json.dumps(meta))

    def meta(self, iid):
        return json.loads((self.root / iid / "meta.json").read_text())


@pytest.fixture
def root(tmp_path):
    (tmp_path / "i-1").mkdir()
    yield tmp_path
    for loop in loops_of(tmp_path):
        subprocess.run(["losetup", "-d", loop], capture_output=True, timeout=30)
    assert not loops_of(tmp_path)


def test_built_once_kept_across_restart_and_reattached(root):
    calls = []

    def source(iid):
        calls.append(iid)
        return FILES
    drv = Driver(root, source)
    meta = {}
    drv._attach_config_drive("i-1", {"config_drive": False}, meta)
    assert meta == {} and calls == [] and not loops_of(root)

    drv._attach_config_drive("i-1", {"config_drive": True}, meta)
    iso = root / "i-1" / cd.ISO
    rec = drv.meta("i-1")["config_drive"]
    assert rec["device"] == "sr0" and rec["label"] == "config-2" and rec["mode"] == "ro"
    assert vols.backing_file(rec["loop"]) == str(iso) and calls == ["i-1"]
    assert iso.stat().st_mode & 0o777 == 0o600  # user_data inside: root's only
    assert open(f"/sys/block/{rec['loop'][5:]}/ro").read().strip() == "1"
    info = subprocess.run(["isoinfo", "-d", "-i", rec["loop"]], capture_output=True,
                          text=True, check=True).stdout
    assert "Volume id: config-2" in info and "Joliet" in info and "Rock Ridge" in info
    out = subprocess.run(["isoinfo", "-R", "-i", rec["loop"], "-x",
                          "/openstack/latest/user_data"], capture_output=True,
                         check=True).stdout
    assert out == FILES["openstack/latest/user_data"]
    # boot.sh's devices line: the node and its label
    drv._write_devices("i-1", meta)
    (line,) = (root / "i-1" / "devices").read_text().splitlines()
    assert line.startswith("sr0 7 ") and line.endswith(" config-2")

    # an agent restart: a new driver, the meta from disk; the same loop, no rebuild
    again = Driver(root, source)
    meta2 = again.meta("i-1")
    again._attach_config_drive("i-1", {"config_drive": True}, meta2)
    assert meta2["config_drive"]["loop"] == rec["loop"] and calls == ["i-1"]
    assert loops_of(root) == [rec["loop"]]

    # the loop lost (freed by hand, a host reboot): set up again over the same file
    subprocess.run(["losetup", "-d", rec["loop"]], check=True)
    assert not loops_of(root)
    again._attach_config_drive("i-1", {"config_drive": True}, meta2)
    assert vols.backing_file(meta2["config_drive"]["loop"]) == str(iso)
    assert again.meta("i-1")["config_drive"] == meta2["config_drive"]
    assert calls == ["i-1"]

    # a rebuild (a new rebuild_seq, not yet recorded) makes the drive again
    rebuilt = {**FILES, "openstack/latest/user_data": b"#!/bin/sh\necho rebuilt\n"}
    again.config_drive_source = lambda iid: calls.append(iid) or rebuilt
    meta2["rebuild_seq"] = 0
    again._attach_config_drive("i-1", {"config_drive": True, "rebuild_seq": 1}, meta2)
    assert calls == ["i-1", "i-1"] and len(loops_of(root)) == 1
    loop = meta2["config_drive"]["loop"]
    assert vols.backing_file(loop) == str(iso)
    out = subprocess.run(["isoinfo", "-R", "-i", loop, "-x",
                          "/openstack/latest/user_data"], capture_output=True,
                         check=True).stdout
    assert out == b"#!/bin/sh\necho rebuilt\n"

    # destroy frees every loop of the instance, the config drive's too
    vols.free_all(again._all_volumes(meta2))
    assert not loops_of(root)


def test_guest_dev_gets_the_node_and_label_link(root):
    drv = Driver(root, lambda iid: FILES)
    meta = {}
    drv._attach_config_drive("i-1", {"config_drive": True}, meta)
    dev = root / "dev"
    dev.mkdir()
    vols._sync_dir(str(dev), drv._all_volumes(meta), [])
    assert (dev / "sr0").is_block_device()
    assert os.readlink(dev / "disk" / "by-label" / "config-2") == "../../sr0"
    vols._sync_dir(str(dev), drv._all_volumes(meta), [])  # idempotent
    assert os.readlink(dev / "disk" / "by-label" / "config-2") == "../../sr0"


def test_bad_paths_and_no_source(root):
    with pytest.raises(VirtError, match="bad path"):
        cd.make_iso({"../escape": b"x"}, root / "i-1" / cd.ISO)
    with pytest.raises(VirtError, match="bad path"):
        cd.make_iso({"/abs": b"x"}, root / "i-1" / cd.ISO)
    assert not (root / "i-1" / cd.ISO).exists()
    with pytest.raises(VirtError, match="no controller client"):
        Driver(root, None)._attach_config_drive("i-1", {"config_drive": True}, {})
