"""scripts/postgres.sh: `make test` stops the PostgreSQL it started, and only that one.

The script runs against stub PostgreSQL tools (``pg_lsclusters``, ``pg_ctlcluster``...)
that keep the cluster's status in a file, so nothing touches the machine's PostgreSQL.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

STUBS = {
    "pg_lsclusters": 'echo "15 main 5432 $(cat "$STUB/status") postgres /x /y"',
    "pg_ctlcluster": 'echo "$*" >>"$STUB/calls"\n'
                     'case "$3" in start) echo online;; stop) echo down;; esac '
                     '>"$STUB/status"',
    "pg_createcluster": 'echo "create $*" >>"$STUB/calls"',
    "pg_isready": "exit 0",
    "su": "echo 1",
    "ls": "echo 15",
}


@pytest.fixture
def script(tmp_path):
    """``run(*args, remember=False) -> calls so far``; the cluster starts down."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    shutil.copy(REPO / "scripts" / "postgres.sh", scripts)
    (scripts / "install-system-deps.sh").write_text("exit 0\n")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, body in STUBS.items():
        path = stubs / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "status").write_text("down\n")
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "STUB": str(tmp_path),
           "KUMO_PG_MARKER": str(tmp_path / "marker")}
    env.pop("KUMO_PG_REMEMBER", None)

    def run(*args, remember=False):
        extra = {"KUMO_PG_REMEMBER": "1"} if remember else {}
        proc = subprocess.run(["bash", str(scripts / "postgres.sh"), *args],
                              env={**env, **extra}, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        calls = tmp_path / "calls"
        return calls.read_text().splitlines() if calls.exists() else []
    run.status = lambda: (tmp_path / "status").read_text().strip()
    return run


def test_make_test_stops_the_cluster_it_started(script):
    assert script(remember=True) == ["15 main start"]
    assert script.status() == "online"
    assert script("--stop") == ["15 main start", "15 main stop"]
    assert script.status() == "down"
    assert script("--stop") == ["15 main start", "15 main stop"]  # once only


def test_a_running_cluster_is_left_running(script):
    script()  # e.g. `make postgres`: started, not remembered
    assert script(remember=True) == ["15 main start"]  # make test: already online
    script("--stop")
    assert script.status() == "online"
    assert script("--stop") == ["15 main start"]
