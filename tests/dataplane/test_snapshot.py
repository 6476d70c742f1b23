"""Server snapshots copy the root filesystem for real (issue 16), end to end in a
simulated machine (``kumo up`` with the real data plane and the netns compute driver,
as test_volume_attach.py):

- a file written inside a running cirros server is in a new server booted from
  ``openstack server image create --wait`` of it (the live path: the agent packs the
  guest's root through ``/proc/<init>/root``);
- a stopped server's snapshot (the read-only overlay path) keeps a deleted image file
  deleted (overlay whiteouts honoured) and the files written before the stop;
- shelve (the ``<name>-shelved`` snapshot, offloaded) and unshelve (booted from that
  image, which is then deleted) keep the server's files;
- rescue boots the cirros image with the server's own root at ``/mnt/rescue`` (mended
  there), unrescue boots the server's root again with the fix;
- nothing is left mounted or packed on the machine afterwards (snapshot temp files,
  the throw-away overlay mount).
"""
from __future__ import annotations

import pytest

from kumo.sim import BIN
from tests.dataplane.machines import started, wait_for

MARKER = "kumo-snapshot-marker-16"


@pytest.fixture
def machine(tmp_path, tag):
    with started(tmp_path, f"{tag}-machine", "snaphost", needs=("tar", "gzip")) as m:
        yield m
    mounts = open("/proc/self/mountinfo").read()
    assert str(tmp_path) not in mounts, "a mount under the machine's directory is left"


def test_snapshot_boot_from_it_and_shelve(machine):
    m = machine
    kumo = str(BIN / "kumo")

    def inside(server, script, check=True):
        return m.run(kumo, "console", server, "--", "sh", "-c", script, check=check,
                     timeout=60)

    def server(name, image="cirros"):
        m.openstack("server", "create", "--image", image, "--flavor", "m1.tiny",
                    "--network", "snap-net", "--wait", name)
        wait_for(lambda: inside(name, "true", check=False).returncode == 0,
                 f"{name} running")

    def image(name):
        return m.json("image", "show", name)

    m.openstack("network", "create", "snap-net")
    m.openstack("subnet", "create", "snap-subnet", "--network", "snap-net",
                "--subnet-range", "192.168.71.0/24")
    server("vm1")
    inside("vm1", f"mkdir -p /root/data && echo {MARKER} > /root/data/marker && sync")

    # live snapshot of the running server; a new server booted from it has the file
    shown = m.json("server", "image", "create", "--name", "snap1", "--wait", "vm1")
    assert shown["status"] == "active" and int(shown["size"]) > 0, shown
    props = image("snap1")["properties"]
    assert props["image_type"] == "snapshot" and props["kumo_rootfs"] == "tar", props
    wait_for(lambda: m.json("server", "show", "vm1")["OS-EXT-STS:task_state"] is None,
             "vm1's snapshot task ended")
    server("vm2", "snap1")
    assert inside("vm2", "cat /root/data/marker").stdout.strip() == MARKER
    # the snapshot was taken of a running guest: vm1 still runs
    assert m.json("server", "show", "vm1")["status"] == "ACTIVE"

    # a stopped server: the overlay path, deletions kept deleted
    inside("vm1", "rm /etc/shells && echo second > /root/data/second && sync")
    m.openstack("server", "stop", "vm1")
    wait_for(lambda: m.json("server", "show", "vm1")["status"] == "SHUTOFF",
             "vm1 SHUTOFF")
    m.json("server", "image", "create", "--name", "snap2", "--wait", "vm1")
    server("vm3", "snap2")
    out = inside("vm3", "cat /root/data/marker /root/data/second; test -e /etc/shells "
                 "&& echo shells-present || echo shells-gone").stdout.split()
    assert out == [MARKER, "second", "shells-gone"], out

    # shelve: snapshot + offload; unshelve boots from it and deletes it
    m.openstack("server", "shelve", "vm3")
    wait_for(lambda: m.json("server", "show", "vm3")["status"] == "SHELVED_OFFLOADED",
             "vm3 SHELVED_OFFLOADED")
    assert image("vm3-shelved")["status"] == "active"
    m.openstack("server", "unshelve", "vm3")
    wait_for(lambda: m.json("server", "show", "vm3")["status"] == "ACTIVE",
             "vm3 ACTIVE after unshelve")
    wait_for(lambda: inside("vm3", "true", check=False).returncode == 0,
             "vm3 running after unshelve")
    out = inside("vm3", "cat /root/data/marker; test -e /etc/shells || echo gone").stdout
    assert out.split() == [MARKER, "gone"], out
    wait_for(lambda: not [i for i in m.json("image", "list")
                          if i["Name"] == "vm3-shelved"], "the shelved image deleted")

    # rescue the stopped vm1 with the cirros image: its own root at /mnt/rescue,
    # mended there; unrescue boots its own root again, with the fix
    m.openstack("server", "rescue", "--image", "cirros", "vm1")
    wait_for(lambda: m.json("server", "show", "vm1")["status"] == "RESCUE", "vm1 RESCUE")
    wait_for(lambda: inside("vm1", "true", check=False).returncode == 0,
             "vm1 running the rescue image")
    out = inside("vm1", "test -e /root/data/marker && echo own-root || echo rescue-root; "
                 "cat /mnt/rescue/root/data/marker; test -e /etc/shells && echo shells; "
                 "echo mended > /mnt/rescue/root/mended && sync").stdout.split()
    assert out == ["rescue-root", MARKER, "shells"], out
    m.openstack("server", "unrescue", "vm1")
    wait_for(lambda: m.json("server", "show", "vm1")["status"] == "ACTIVE",
             "vm1 ACTIVE after unrescue")
    wait_for(lambda: inside("vm1", "true", check=False).returncode == 0,
             "vm1 running its own root")
    out = inside("vm1", "cat /root/data/marker /root/mended; test -e /mnt/rescue/root "
                 "|| echo no-rescue-mount").stdout.split()
    assert out == [MARKER, "mended", "no-rescue-mount"], out

    for name in ("vm1", "vm2", "vm3"):
        m.openstack("server", "delete", "--wait", name)
    for name in ("snap1", "snap2"):
        m.openstack("image", "delete", name)
    left = [p for p in m.tmp.rglob(".snap-*")]
    assert not left, left


@pytest.fixture
def two_hosts(tmp_path, tag):
    with started(tmp_path, f"{tag}-lm", "lmh", args=("--hosts", "2"), timeout=150,
                 needs=("tar", "gzip")) as m:
        yield m


def test_live_migration_moves_the_root_filesystem(two_hosts):
    """os-migrateLive between two netns hosts (the machine's ``lmh`` and the simulated
    ``lmh-2``): the server is stopped, its root filesystem moved through a hidden
    transient image and started on the other host (not memory-preserving): MIGRATING,
    then ACTIVE there with the file written before; the migration ``completed``; the
    source holds nothing of it; the transient image is gone."""
    m = two_hosts
    m.openstack("network", "create", "lm-net", admin=True)
    m.openstack("subnet", "create", "lm-subnet", "--network", "lm-net",
                "--subnet-range", "192.168.72.0/24", admin=True)
    sid = m.json("server", "create", "--image", "cirros", "--flavor", "m1.nano",
                 "--network", "lm-net", "--availability-zone", "nova:lmh", "--wait",
                 "lm-vm", admin=True)["id"]

    def inside(script, check=True):
        return m.kumo("console", sid, "--", "sh", "-c", script, check=check, timeout=60)
    wait_for(lambda: inside("true", check=False).returncode == 0, "lm-vm running")
    inside(f"echo {MARKER} > /root/moved && sync")
    before = {i["ID"] for i in m.json("image", "list", "--hidden", admin=True)}

    m.openstack("server", "migrate", "--live-migration", sid, admin=True)

    def moved():
        shown = m.json("server", "show", sid, admin=True)
        assert shown["status"] != "ERROR", shown
        return shown if shown["status"] == "ACTIVE" and shown[
            "OS-EXT-SRV-ATTR:host"] == "lmh-2" else None
    wait_for(moved, "lm-vm ACTIVE on lmh-2", timeout=180)
    wait_for(lambda: inside("true", check=False).returncode == 0, "lm-vm running on lmh-2")
    assert inside("cat /root/moved").stdout.strip() == MARKER
    migs = m.json("server", "migration", "list", "--server", sid, admin=True)
    assert [(x["Source Compute"], x["Dest Compute"], x["Status"]) for x in migs] == [
        ("lmh", "lmh-2", "completed")], migs
    wait_for(lambda: {i["ID"] for i in m.json("image", "list", "--hidden",
                                              admin=True)} == before,
             "the transient image deleted")
    compute = m.dir / "state" / "compute" / "instances" / sid
    wait_for(lambda: not compute.exists(), "the source host holds nothing of lm-vm")
    m.openstack("server", "delete", "--wait", sid, admin=True)


def test_cold_migration_keeps_the_root_filesystem(two_hosts):
    """``openstack server migrate`` (cold) between two netns hosts carries the server's
    root filesystem as the live move does: VERIFY_RESIZE on the other host with the
    file written before; ``--confirm`` keeps it there and deletes the source's copy
    (the hidden transient image). A second migration back, reverted: the server runs
    on the host it was migrated from with its disk as it was when the move began (a
    file written on the destination meanwhile is not there). A resize the scheduler
    puts on the other host carries the root the same way."""
    m = two_hosts
    m.openstack("network", "create", "cm-net", admin=True)
    m.openstack("subnet", "create", "cm-subnet", "--network", "cm-net",
                "--subnet-range", "192.168.73.0/24", admin=True)
    sid = m.json("server", "create", "--image", "cirros", "--flavor", "m1.nano",
                 "--network", "cm-net", "--availability-zone", "nova:lmh", "--wait",
                 "cm-vm", admin=True)["id"]

    def inside(script, check=True):
        return m.kumo("console", sid, "--", "sh", "-c", script, check=check, timeout=60)

    def hidden():
        return {i["ID"] for i in m.json("image", "list", "--hidden", admin=True)}

    def at(status, host):
        def check():
            shown = m.json("server", "show", sid, admin=True)
            assert shown["status"] != "ERROR", shown
            return shown if shown["status"] == status and shown[
                "OS-EXT-SRV-ATTR:host"] == host else None
        wait_for(check, f"cm-vm {status} on {host}", timeout=180)
        if status in ("VERIFY_RESIZE", "ACTIVE"):
            wait_for(lambda: inside("true", check=False).returncode == 0,
                     f"cm-vm running on {host}")

    wait_for(lambda: inside("true", check=False).returncode == 0, "cm-vm running")
    inside(f"echo {MARKER} > /root/moved && sync")
    before = hidden()

    m.openstack("server", "migrate", sid, admin=True)
    at("VERIFY_RESIZE", "lmh-2")
    assert inside("cat /root/moved").stdout.strip() == MARKER
    assert len(hidden() - before) == 1, "the source's copy is kept until confirm"
    m.openstack("server", "migration", "confirm", sid, admin=True)
    at("ACTIVE", "lmh-2")
    assert inside("cat /root/moved").stdout.strip() == MARKER
    wait_for(lambda: hidden() == before, "the source's copy deleted on confirm")
    compute = m.dir / "state" / "compute" / "instances" / sid
    wait_for(lambda: not compute.exists(), "the source host holds nothing of cm-vm")

    # back to lmh, then reverted: it runs on lmh-2 again with the disk it had there
    inside("echo second > /root/second && sync")
    m.openstack("server", "migrate", sid, admin=True)
    at("VERIFY_RESIZE", "lmh")
    inside("echo dest-only > /root/dest-only && sync")
    m.openstack("server", "migration", "revert", sid, admin=True)
    at("ACTIVE", "lmh-2")
    out = inside("cat /root/moved /root/second; test -e /root/dest-only "
                 "&& echo dest-file || echo no-dest-file").stdout.split()
    assert out == [MARKER, "second", "no-dest-file"], out
    migs = m.json("server", "migration", "list", "--server", sid, admin=True)
    assert sorted((x["Source Compute"], x["Dest Compute"], x["Status"]) for x in migs) \
        == [("lmh", "lmh-2", "confirmed"), ("lmh-2", "lmh", "reverted")], migs
    wait_for(lambda: hidden() == before, "the transient image deleted after the revert")
    wait_for(lambda: not compute.exists(), "lmh holds nothing of cm-vm after the revert")

    # a resize the scheduler places on the other host (lmh-2 disabled) moves the root too
    m.openstack("compute", "service", "set", "--disable", "lmh-2", "nova-compute",
                admin=True)
    try:
        m.openstack("server", "resize", "--flavor", "m1.micro", sid, admin=True)
        at("VERIFY_RESIZE", "lmh")
    finally:
        m.openstack("compute", "service", "set", "--enable", "lmh-2", "nova-compute",
                    admin=True)
    assert inside("cat /root/moved /root/second").stdout.split() == [MARKER, "second"]
    m.openstack("server", "resize", "--confirm", sid, admin=True)
    at("ACTIVE", "lmh")
    assert "m1.micro" in str(m.json("server", "show", sid, admin=True)["flavor"])
    wait_for(lambda: hidden() == before, "the resize's source copy deleted on confirm")
    m.openstack("server", "delete", "--wait", sid, admin=True)


def test_evacuate_rebuilds_from_the_image(two_hosts):
    """Evacuate copies nothing (the source host is down, and Kumo's hosts share no
    instance storage): as Nova without shared storage, the server is rebuilt on the
    other host from its image, so a file written before is gone; its addresses stay."""
    m = two_hosts
    m.openstack("network", "create", "ev-net", admin=True)
    m.openstack("subnet", "create", "ev-subnet", "--network", "ev-net",
                "--subnet-range", "192.168.74.0/24", admin=True)
    server = m.json("server", "create", "--image", "cirros", "--flavor", "m1.nano",
                    "--network", "ev-net", "--availability-zone", "nova:lmh-2", "--wait",
                    "ev-vm", admin=True)
    sid = server["id"]

    def inside(script, check=True):
        return m.kumo("console", sid, "--", "sh", "-c", script, check=check, timeout=60)
    wait_for(lambda: inside("true", check=False).returncode == 0, "ev-vm running")
    inside(f"echo {MARKER} > /root/evacuated && sync")
    addresses = m.json("server", "show", sid, admin=True)["addresses"]
    m.openstack("compute", "service", "set", "--down", "lmh-2", "nova-compute",
                "--os-compute-api-version", "2.11", admin=True)
    try:
        m.openstack("server", "evacuate", sid, "--os-compute-api-version", "2.14",
                    admin=True)

        def rebuilt():
            shown = m.json("server", "show", sid, admin=True)
            assert shown["status"] != "ERROR", shown
            return shown if shown["status"] == "ACTIVE" and shown[
                "OS-EXT-SRV-ATTR:host"] == "lmh" else None
        wait_for(rebuilt, "ev-vm ACTIVE on lmh", timeout=180)
        wait_for(lambda: inside("true", check=False).returncode == 0, "ev-vm running on lmh")
        out = inside("test -e /root/evacuated && echo kept || echo rebuilt; "
                     "test -x /sbin/init && echo image").stdout.split()
        assert out == ["rebuilt", "image"], out
        assert m.json("server", "show", sid, admin=True)["addresses"] == addresses
    finally:
        m.openstack("compute", "service", "set", "--up", "lmh-2", "nova-compute",
                    "--os-compute-api-version", "2.11", admin=True)
    m.openstack("server", "delete", "--wait", sid, admin=True)
