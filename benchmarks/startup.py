"""Time from launching ``kumo up`` to its "ready" line, and to the first token.

Cold start = empty state directory (migrations, key generation, bootstrap with bcrypt);
warm start = the same state again. Each run uses a fresh temporary state dir and HOME and
loopback only; the server is stopped after each run.

    python benchmarks/startup.py [--runs N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_start(state: Path, home: Path) -> tuple[float, float]:
    port = free_port()
    env = {**os.environ, "KUMO_STATE_DIR": str(state), "HOME": str(home),
           "KUMO_DATAPLANE": os.environ.get("KUMO_DATAPLANE", "off")}
    t0 = time.monotonic()
    proc = subprocess.Popen([str(BIN / "kumo"), "up", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if "kumo: ready" in line:
                break
        else:
            raise RuntimeError("kumo up exited before ready")
        ready = time.monotonic() - t0
        body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": "demo", "domain": {"id": "default"}, "password": "secret"}}},
            "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/identity/v3/auth/tokens",
                                     data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 201
        first_token = time.monotonic() - t0
        return ready, first_token
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kumo-startup-"))
    try:
        home = tmp / "home"
        home.mkdir()
        cold, warm = [], []
        for i in range(args.runs):
            state = tmp / f"state{i}"
            cold.append(one_start(state, home))
            warm.append(one_start(state, home))
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        for name, runs in (("cold", cold), ("warm", warm)):
            print(f"{name} start: ready in {statistics.median(r[0] for r in runs):.2f} s, "
                  f"first token at {statistics.median(r[1] for r in runs):.2f} s "
                  f"(median of {len(runs)})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
