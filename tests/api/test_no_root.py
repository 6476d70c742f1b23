"""``kumo up`` without root (issue 15): it says what works and what does not, and a
server create fails at once (ERROR, "No valid host was found") instead of staying BUILD.

The server runs as the user ``nobody`` (``setpriv``) with a state directory and HOME it
owns, exactly as a user without root would run it."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openstack
import pytest

from tests.conftest import BIN, _free_port
from tests.waiting import stop_process


@pytest.fixture
def nobody(tmp_path):
    """``(argv prefix running a command as nobody, a directory nobody owns)``."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run kumo up as another user")
    user = pwd.getpwnam("nobody")
    prefix = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
              "--clear-groups"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import kumo.cli"], cwd="/",
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run Kumo from this tree: {probe.stderr[-300:]}")
    home = Path(tempfile.mkdtemp(prefix="kumo-nobody-"))
    os.chown(home, user.pw_uid, user.pw_gid)
    yield prefix, home
    shutil.rmtree(home, ignore_errors=True)


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUMO_", "OS_"))}
    return {**env, "HOME": str(home), "KUMO_STATE_DIR": str(home / "state"),
            "PYTHONUNBUFFERED": "1"}


def test_up_without_root_says_so_and_boots_fail_fast(nobody):
    prefix, home = nobody
    port = _free_port()
    log = home / "up.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([*prefix, str(BIN / "kumo"), "up", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=_env(home),
                                cwd="/")
    try:
        deadline = time.monotonic() + 90
        while "kumo: ready on" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        text = log.read_text()
        assert "kumo: not running as root: no data plane on this machine" in text
        assert "works: every API" in text and "does not: the data plane" in text
        assert "No valid host was found" in text
        assert "to get the rest: run kumo up as root" in text
        clouds = home / ".config" / "openstack" / "clouds.yaml"
        assert clouds.is_file()  # where the help says it is
        config = openstack.config.OpenStackConfig(config_files=[str(clouds)])
        conn = openstack.connection.Connection(config=config.get_one("kumo"))
        image = next(iter(conn.image.images(name="cirros")))
        flavor = conn.compute.find_flavor("m1.tiny")
        network = conn.network.find_network("private")
        server = conn.compute.create_server(name="vm1", image_id=image.id,
                                            flavor_id=flavor.id,
                                            networks=[{"uuid": network.id}])
        deadline = time.monotonic() + 30
        server = conn.compute.get_server(server.id)
        while server.status == "BUILD" and time.monotonic() < deadline:
            time.sleep(0.2)
            server = conn.compute.get_server(server.id)
        assert server.status == "ERROR"
        assert "No valid host was found" in server.fault["message"]
        conn.close()
    finally:
        stop_process(proc, 20)


def test_up_dataplane_real_without_root_refuses_clearly(nobody):
    prefix, home = nobody
    proc = subprocess.run([*prefix, str(BIN / "kumo"), "up", "--dataplane", "real",
                           "--port", str(_free_port())], capture_output=True, text=True,
                          env=_env(home), cwd="/", timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the data plane cannot run here: not running as root" in proc.stderr
    assert "Traceback" not in proc.stderr
