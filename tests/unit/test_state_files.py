"""The state directory and secret-bearing files are private (issue 12, "files")."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

from kumo import cli


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_secure_state_dir_tightens_an_old_state(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    for name in ("kumo.db", "kumo.db-wal", "metadata_secret", "clouds.yaml"):
        (state / name).write_text("secret")
        (state / name).chmod(0o644)
    (state / "unrelated.txt").write_text("x")
    cli.secure_state_dir(state)
    assert _mode(state) == 0o700
    for name in ("kumo.db", "kumo.db-wal", "metadata_secret", "clouds.yaml"):
        assert _mode(state / name) == 0o600, name


def test_secure_state_dir_creates_parents_private(tmp_path):
    state = tmp_path / "a" / "state"
    cli.secure_state_dir(state)
    assert _mode(state) == 0o700


def test_kumo_sets_a_private_umask(tmp_path):
    """``kumo`` processes create files 0600: the umask is set before any command runs."""
    code = ("import os, sys; from kumo import cli; cli.cmd_fernet_rotate = "
            "lambda a: print(oct(os.umask(0))) or 0; sys.exit(cli.main(['--state-dir', "
            f"{str(tmp_path)!r}, 'fernet', 'rotate']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0o77"
