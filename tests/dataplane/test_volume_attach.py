"""Attached volumes are real block devices inside servers (issue 13), end to end in a
simulated machine (:class:`kumo.sim.SimulatedMachine`: ``kumo up`` with the real data
plane and the netns compute driver, as in test_quickstart.py):

- a 1 GiB volume attached to a running cirros server (``openstack server add
  volume``) is ``/dev/vdb`` inside it, a block device over a loop device whose backing
  file is the volume's; a marker written there with ``dd`` is read back from another
  server after a detach and an attach; the detached server has no ``/dev/vdb`` any
  more;
- extending it while attached grows the guest's device;
- a filesystem made on it inside the guest mounts there;
- a read-only volume is a read-only device (``dd`` onto it fails);
- boot from volume: ``server create --image cirros --boot-from-volume 1`` runs on the
  volume's ext4 filesystem (``/`` is the loop device's mount);
- every loop device over the machine's files is freed when the servers are gone
  (``losetup -a``), and again, pass or fail, when the machine is torn down.
"""
from __future__ import annotations

import subprocess

import pytest

from kumo.sim import BIN
from tests.dataplane.machines import loops_of, started_with_loops, wait_for

MARKER = "kumo-volume-marker-13"


@pytest.fixture
def machine(tmp_path, tag):
    if subprocess.run(["losetup", "--version"], capture_output=True).returncode != 0:
        pytest.skip("needs losetup")
    with started_with_loops(tmp_path, f"{tag}-machine", "volhost") as m:
        yield m


def test_attach_write_detach_attach_read(machine):
    m = machine
    kumo = str(BIN / "kumo")

    def inside(server, script, check=True):
        return m.run(kumo, "console", server, "--", "sh", "-c", script, check=check,
                     timeout=60)

    def has_vdb(server):
        return inside(server, "test -b /dev/vdb", check=False).returncode == 0

    def status(volume):
        return m.json("volume", "show", volume)["status"]

    m.openstack("network", "create", "vol-net")
    m.openstack("subnet", "create", "vol-subnet", "--network", "vol-net",
                "--subnet-range", "192.168.70.0/24")
    for name in ("vm1", "vm2"):
        m.openstack("server", "create", "--image", "cirros", "--flavor", "m1.tiny",
                    "--network", "vol-net", "--wait", name)
    m.openstack("volume", "create", "--size", "1", "data")
    wait_for(lambda: status("data") == "available", "volume data available")
    assert not loops_of(m.tmp)

    # attach: /dev/vdb appears in vm1, over a loop device backed by the volume's file
    m.openstack("server", "add", "volume", "vm1", "data")
    wait_for(lambda: has_vdb("vm1"), "/dev/vdb in vm1")
    # the agent's report completes the attachment (attaching -> in-use)
    wait_for(lambda: status("data") == "in-use", "data in-use")
    vol_id = m.json("volume", "show", "data")["id"]
    backing = [b for _, b in loops_of(m.tmp)]
    assert len(backing) == 1 and backing[0].endswith(f"volume-{vol_id}"), backing
    inside("vm1", f"echo {MARKER} | dd of=/dev/vdb bs=512 count=1 conv=sync && sync")
    assert MARKER in inside("vm1", "dd if=/dev/vdb bs=512 count=1 2>/dev/null").stdout
    # the image's lsblk (what Tempest's validation counts disks with, as cirros) shows it
    rows = inside("vm1", "su -s /bin/sh cirros -c 'lsblk -lb --nodeps'").stdout.splitlines()
    assert rows[0].split() == ["NAME", "MAJ:MIN", "RM", "SIZE", "RO", "TYPE", "MOUNTPOINT"]
    pos = rows[0].index("TYPE")
    assert [(r.split()[0], r.split()[3], r[pos:pos + 4]) for r in rows[1:]] == \
        [("vdb", str(1 << 30), "disk")]

    # detach: the node goes, the loop is freed, the volume is available
    m.openstack("server", "remove", "volume", "vm1", "data")
    wait_for(lambda: not has_vdb("vm1"), "no /dev/vdb in vm1 after detach")
    assert inside("vm1", "lsblk --nodeps --noheadings --output NAME").stdout.strip() == ""
    wait_for(lambda: not loops_of(m.tmp), "the loop device freed after detach")
    wait_for(lambda: status("data") == "available", "data available after detach")

    # attach to vm2: the marker is there
    m.openstack("server", "add", "volume", "vm2", "data")
    wait_for(lambda: has_vdb("vm2"), "/dev/vdb in vm2")
    out = inside("vm2", "dd if=/dev/vdb bs=512 count=1 2>/dev/null").stdout
    assert MARKER in out, out
    assert not has_vdb("vm1")
    # extended while attached (3.42): the guest's /dev/vdb grows
    m.openstack("--os-volume-api-version", "3.42", "volume", "set", "--size", "2", "data")
    wait_for(lambda: inside("vm2", "busybox blockdev --getsize64 /dev/vdb",
                            check=False).stdout.strip() == str(2 << 30),
             "/dev/vdb of 2 GiB in vm2 after the extend")
    # a filesystem on it, mounted inside the guest (busybox's mke2fs and mount)
    out = inside("vm2", "busybox mke2fs /dev/vdb >/dev/null && mkdir -p /mnt/v && "
                 "mount /dev/vdb /mnt/v && echo hello > /mnt/v/f && cat /mnt/v/f && "
                 "grep /mnt/v /proc/mounts && umount /mnt/v").stdout
    assert out.startswith("hello\n/dev/vdb /mnt/v ext"), out

    # a read-only volume is a read-only device
    m.openstack("volume", "create", "--size", "1", "ro")
    wait_for(lambda: status("ro") == "available", "volume ro available")
    m.openstack("volume", "set", "--read-only", "ro")
    m.openstack("server", "add", "volume", "vm1", "ro")
    wait_for(lambda: has_vdb("vm1"), "/dev/vdb (read-only) in vm1")
    denied = inside("vm1", "echo x | dd of=/dev/vdb bs=512 count=1 conv=sync,fsync",
                    check=False)
    assert denied.returncode != 0, denied
    assert len(loops_of(m.tmp)) == 2

    # boot from volume: the image is written into a new volume, the server's / is
    # that volume's ext4 filesystem on a loop device, /dev/vda its node
    m.openstack("server", "create", "--image", "cirros", "--flavor", "m1.tiny",
                "--boot-from-volume", "1", "--network", "vol-net", "--wait", "vm3")
    root = wait_for(lambda: (lambda out: out if " / ext4 " in out else None)(inside(
        "vm3", "grep ' / ' /proc/mounts", check=False).stdout), "vm3's / on ext4")
    assert root.startswith("/dev/loop"), root
    inside("vm3", "test -b /dev/vda && test -x /sbin/init && echo ok > /bfv && sync")
    boot_id = m.json("volume", "show", "vm3-bdm-0")["id"]
    assert any(b.endswith(f"volume-{boot_id}") for _, b in loops_of(m.tmp))

    # deleting the servers frees every loop device (no detach first)
    for name in ("vm1", "vm2", "vm3"):
        m.openstack("server", "delete", "--wait", name)
    wait_for(lambda: not loops_of(m.tmp), "every loop device freed after the deletes")
    wait_for(lambda: status("data") == "available", "data available after the delete")


SWAP_CODE = r'''
import sys
import openstack
conn = openstack.connect()
server, old, new = sys.argv[1:4]
resp = conn.compute.put(f"/servers/{server}/os-volume_attachments/{old}",
                        json={"volumeAttachment": {"volumeId": new}})
print(resp.status_code)
'''


def test_swap_copies_the_data_in_the_guest(machine):
    """Nova's swap (admins): the data written inside the guest on the old volume is on
    the new one, which the guest's ``/dev/vdb`` now is (a loop over the new volume's
    file); the old volume is ``available`` and no loop device is left."""
    m = machine
    kumo = str(BIN / "kumo")

    def inside(server, script, check=True):
        return m.run(kumo, "console", server, "--", "sh", "-c", script, check=check,
                     timeout=60)

    def status(volume):
        return m.json("volume", "show", volume)["status"]

    m.openstack("network", "create", "swap-net")
    m.openstack("subnet", "create", "swap-subnet", "--network", "swap-net",
                "--subnet-range", "192.168.71.0/24")
    m.openstack("server", "create", "--image", "cirros", "--flavor", "m1.tiny",
                "--network", "swap-net", "--wait", "vm1")
    for name in ("old", "new"):
        m.openstack("volume", "create", "--size", "1", name)
        wait_for(lambda: status(name) == "available", f"volume {name} available")
    ids = {name: m.json("volume", "show", name)["id"] for name in ("old", "new")}
    server = m.json("server", "show", "vm1")["id"]
    m.openstack("server", "add", "volume", "vm1", "old")
    wait_for(lambda: status("old") == "in-use", "old in-use")
    wait_for(lambda: inside("vm1", "test -b /dev/vdb", check=False).returncode == 0,
             "/dev/vdb in vm1")
    inside("vm1", f"echo {MARKER}-swap | dd of=/dev/vdb bs=512 count=1 conv=sync "
           "&& sync")

    out = m.python(SWAP_CODE, server, ids["old"], ids["new"], admin=True).stdout
    assert out.strip().splitlines()[-1] == "202", out
    wait_for(lambda: status("new") == "in-use", "new in-use after the swap")
    wait_for(lambda: status("old") == "available", "old available after the swap")
    wait_for(lambda: [b for _, b in loops_of(m.tmp)] and all(
        b.endswith(f"volume-{ids['new']}") for _, b in loops_of(m.tmp)),
        "the loop device over the new volume only")
    # the guest's /dev/vdb is the new loop's node and has the marker
    wait_for(lambda: f"{MARKER}-swap" in inside(
        "vm1", "dd if=/dev/vdb bs=512 count=1 2>/dev/null", check=False).stdout,
        "the marker on the swapped /dev/vdb")
    m.openstack("server", "delete", "--wait", "vm1")
    wait_for(lambda: not loops_of(m.tmp), "every loop device freed after the delete")
