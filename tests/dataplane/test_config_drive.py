"""Nova's config drive on a real server (issue 16), in a simulated machine (``kumo up``
with the netns compute driver, as test_volume_attach.py): ``server create
--config-drive True --user-data`` gives the running cirros guest a read-only block
device ``/dev/sr0`` and ``/dev/disk/by-label/config-2``; this kernel mounts no iso9660,
so the drive is read from the host through the guest's own node (``/proc/<init>/root/
dev/sr0``) with ``isoinfo``: an ISO 9660 volume ``config-2`` with Joliet and Rock
Ridge whose ``openstack/latest/meta_data.json`` names the server and whose
``user_data`` is the server's. Deleting the server frees the loop device and removes
the drive's file; every loop over the machine's files is freed, pass or fail.
"""
from __future__ import annotations

import json
import subprocess

import pytest

from kumo.agent.virt.netns import instance_init_pid
from kumo.sim import BIN
from tests.dataplane.machines import loops_of, started_with_loops, wait_for

USER_DATA = "#!/bin/sh\necho kumo-config-drive-16\n"


@pytest.fixture
def machine(tmp_path, tag):
    with started_with_loops(tmp_path, f"{tag}-machine", "cdhost",
                            needs=("genisoimage", "isoinfo")) as m:
        yield m


def isoinfo(device: str, *args: str) -> str:
    return subprocess.run(["isoinfo", "-i", device, *args], capture_output=True,
                          text=True, timeout=30, check=True).stdout


def test_config_drive_in_the_guest(machine, tmp_path):
    m = machine
    (tmp_path / "ud.sh").write_text(USER_DATA)
    m.openstack("network", "create", "cd-net")
    m.openstack("subnet", "create", "cd-subnet", "--network", "cd-net",
                "--subnet-range", "192.168.71.0/24")
    server = m.json("server", "create", "--image", "cirros", "--flavor", "m1.tiny",
                    "--network", "cd-net", "--config-drive", "True", "--user-data",
                    str(tmp_path / "ud.sh"), "--wait", "cd-vm")
    assert server["config_drive"] == "True"
    sid = server["id"]

    def inside(script):
        return m.run(str(BIN / "kumo"), "console", "cd-vm", "--", "sh", "-c", script,
                     timeout=60).stdout.strip()
    # the guest's nodes: a read-only block device and cloud-init's label link
    assert inside("test -b /dev/sr0 && busybox blockdev --getro /dev/sr0") == "1"
    assert inside("readlink /dev/disk/by-label/config-2") == "../../sr0"

    # the drive, read through the guest's node from the host
    drive = m.dir / "state" / "compute" / "instances" / sid / "disk.config"
    ((loop, backing),) = loops_of(m.tmp)
    assert backing == str(drive)
    assert open(f"/sys/block/{loop[5:]}/ro").read().strip() == "1"
    pid = instance_init_pid(drive.parent)
    node = f"/proc/{pid}/root/dev/sr0"
    head = isoinfo(node, "-d")
    assert "Volume id: config-2" in head and "Joliet" in head and "Rock Ridge" in head
    md = json.loads(isoinfo(node, "-R", "-x", "/openstack/latest/meta_data.json"))
    assert md["uuid"] == sid and md["name"] == "cd-vm" and md["hostname"] == "cd-vm"
    assert isoinfo(node, "-R", "-x", "/openstack/latest/user_data") == USER_DATA
    names = isoinfo(node, "-R", "-f").split()
    for path in ("/openstack/latest/network_data.json",
                 "/openstack/latest/vendor_data2.json",
                 "/openstack/2012-08-10/meta_data.json", "/ec2/latest/meta-data.json"):
        assert path in names, names

    # delete: the loop freed, the file gone
    m.openstack("server", "delete", "--wait", "cd-vm")
    wait_for(lambda: not loops_of(m.tmp), "the config drive's loop freed")
    wait_for(lambda: not drive.exists(), "disk.config removed")
