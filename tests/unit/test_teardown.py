"""kumo.agent.teardown without a kernel: the state lock ``kumo up`` holds (and ``kumo
down``/a second ``kumo up`` refuse on), what a reset or purge removes and keeps, the
user's clouds.yaml, the summary line. (The data plane is covered by
tests/dataplane/test_down.py, inside a simulated machine.)"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import yaml

from kumo import cli, config
from kumo.agent import teardown


def make_state(state):
    """A state directory as kumo up leaves it, plus the operator's files."""
    state.mkdir(parents=True)
    for name in ("kumo.db", "kumo.db-wal", "kumo.db-shm", "clouds.yaml", "metadata_secret",
                 "agent_password", "kumo.yaml", "policy.yaml"):
        (state / name).write_text("{}\n" if name.endswith(".yaml") else "x")
    for sub in ("fernet-keys", "images", "cache", "agent/dhcp/net1",
                "compute/images/img1.rootfs/sbin", "compute/instances/i1/upper",
                "hosts/h1-2/compute", "volumes/file-1/image-cache", "backups/b1/chunks"):
        (state / sub).mkdir(parents=True)
    (state / "images" / "img1").write_bytes(b"image data")
    (state / "cache" / "cirros-0123.tar.gz").write_bytes(b"tarball")
    (state / "compute" / "images" / "img1").write_bytes(b"image data")
    return state


def test_reset_removes_all_state_and_keeps_the_operators_files(tmp_path):
    state = make_state(tmp_path / "state")
    settings = config.load(str(state))
    settings.dataplane = "off"  # this cloud never touched the kernel: nothing to remove
    lock = teardown.StateLock(state).acquire()
    try:
        cli.reset(settings)
    finally:
        lock.release()
    assert sorted(p.name for p in state.iterdir()) == ["kumo.lock", "kumo.yaml",
                                                       "policy.yaml"]
    assert oct(state.stat().st_mode & 0o777) == "0o700"


def test_purge_removes_the_directory_when_nothing_of_the_operators_is_left(tmp_path):
    state = make_state(tmp_path / "state")
    (state / "kumo.yaml").unlink()
    (state / "policy.yaml").unlink()
    teardown.StateLock(state).acquire().release()
    counts, problems = teardown.down(config.load(str(state)), purge=True, dataplane=False)
    assert counts["state"] == len(teardown.STATE_ENTRIES) and problems == []
    assert not state.exists()
    # idempotent
    assert teardown.down(config.load(str(state)), purge=True, dataplane=False)[0][
        "state"] == 0


def test_purge_leaves_what_kumo_did_not_write(tmp_path):
    state = make_state(tmp_path / "state")
    (state / "notes.txt").write_text("mine")
    teardown.purge_state(state)
    assert sorted(p.name for p in state.iterdir()) == ["kumo.yaml", "notes.txt",
                                                       "policy.yaml"]


def test_lock_file_is_private_and_names_its_holder(tmp_path):
    lock = teardown.StateLock(tmp_path).acquire()
    try:
        path = tmp_path / teardown.LOCK_FILE
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert path.read_text().split() == [str(os.getpid())]
        other = teardown.StateLock(tmp_path)
        assert other.held()
        with pytest.raises(teardown.Busy) as e:
            other.acquire()
        assert e.value.pid == os.getpid()
    finally:
        lock.release()
    assert not teardown.StateLock(tmp_path).held()


def test_lock_dies_with_its_holder(tmp_path):
    code = ("import sys, time; from kumo.agent import teardown; "
            "teardown.StateLock(sys.argv[1]).acquire(); print('held', flush=True); "
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert teardown.StateLock(tmp_path).held()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()
    assert not teardown.StateLock(tmp_path).held()


def test_down_and_a_second_up_refuse_while_up_holds_the_lock(tmp_path, capsys):
    state = make_state(tmp_path / "state")
    lock = teardown.StateLock(state).acquire()
    try:
        assert cli.main(["--state-dir", str(state), "down", "--purge"]) == 1
        err = capsys.readouterr().err
        assert f"a kumo up (pid {os.getpid()}) is running on {state}" in err
        assert "--force" in err
        assert (state / "kumo.db").exists() and (state / "images" / "img1").exists()
        assert cli.main(["--state-dir", str(state), "up", "--dataplane", "off",
                         "--reset"]) == 1
        assert "is running on" in capsys.readouterr().err
        assert (state / "kumo.db").exists()
    finally:
        lock.release()


def test_forget_clouds_keeps_the_users_other_clouds(tmp_path):
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"kumo": {}, "kumo-admin": {},
                                               "mine": {"auth": {}}}}))
    assert teardown.forget_clouds(path)
    assert yaml.safe_load(path.read_text()) == {"clouds": {"mine": {"auth": {}}}}
    assert not teardown.forget_clouds(path)
    only = tmp_path / "only.yaml"
    only.write_text(yaml.safe_dump({"clouds": {"kumo": {}, "kumo-admin": {}}}))
    assert teardown.forget_clouds(only) and not only.exists()


def test_summary():
    assert teardown.summary({}) == "nothing"
    assert teardown.summary({"servers": 1, "namespaces": 3, "nft_tables": 1}) == \
        "1 server, 3 namespaces, 1 nft table"


@pytest.mark.parametrize("name,ours", [
    ("tapc7e60038-5c", True), ("brq3ff1df05-f7", True), ("qr-0123abcd-ef", True),
    ("vxlan-42", True), ("tap0", False), ("brqfoo", False), ("tapVPN0123456", False),
    ("br-ex", False), ("eth0", False)])
def test_the_sweep_touches_only_id_shaped_names(name, ours):
    assert teardown._our_link(name) is ours


@pytest.mark.parametrize("name,ours", [
    ("qrouter-a4fce43d-ffe3-4128-b102-1361b00a67ac", True),
    ("qdhcp-b5115a26-e167-4b95-9319-fd056bcd90b9", True), ("instance-0000000a", True),
    ("qrouter-mine", False), ("kumo-t1234-machine", False), ("instance-x", False)])
def test_the_sweep_touches_only_our_namespaces(name, ours):
    assert teardown._our_netns(name) is ours
