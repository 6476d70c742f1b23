#!/usr/bin/env python3
"""Image API benchmark: upload and download throughput of one large image, and the
server's memory while they run (it must stay flat, not grow with the image).

Starts a throw-away ``kumo up`` (loopback only), creates an image, streams ``--size-mib``
MiB (1024 by default) of generated data to ``PUT /v2/images/{id}/file`` without holding it
in memory on either side, downloads it back, checks the sha512, and prints MB/s and the
server's resident memory (``VmRSS`` before, and the ``VmHWM`` peak after each phase).

Then it measures token validations per second (``GET /identity/v3/auth/tokens``,
``--clients`` keep-alive clients for ``--seconds``) alone, and again while ``--stalled``
uploads (200 by default) are in flight that sent one byte of their body and stopped:
they must hold no worker thread, so the second figure stays close to the first.

    .venv/bin/python benchmarks/image.py [--size-mib 1024] [--stalled 200]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (HOST, Req, connect, machine_facts, measure, start_server,  # noqa: E402
                     stop_server)

CHUNK = 1 << 20


def memory_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def token(port: int) -> str:
    conn = connect(port)
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    conn.request("POST", "/identity/v3/auth/tokens", json.dumps(body),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.headers["X-Subject-Token"]


def chunks(total: int):
    """``total`` bytes of deterministic, incompressible-enough data, 1 MiB at a time."""
    block = hashlib.sha512(b"kumo").digest() * (CHUNK // 64)
    for i in range(total // CHUNK):
        yield block[i % 64:] + block[:i % 64]


def stalled_uploads(port: int, tok: str, count: int) -> list[socket.socket]:
    """``count`` new images, each with an upload that announced 1,000 bytes and sent
    one (half of them stagings)."""
    conn = connect(port)
    headers = {"X-Auth-Token": tok, "Content-Type": "application/json"}
    socks = []
    for i in range(count):
        conn.request("POST", "/image/v2/images", json.dumps(
            {"name": f"stalled-{i}", "disk_format": "raw", "container_format": "bare"}),
            headers)
        resp = conn.getresponse()
        image = json.loads(resp.read())
        sock = socket.create_connection((HOST, port), timeout=60)
        sock.sendall((f"PUT /image/v2/images/{image['id']}/{'file' if i % 2 else 'stage'} "
                      f"HTTP/1.1\r\nHost: {HOST}:{port}\r\nX-Auth-Token: {tok}\r\n"
                      "Content-Type: application/octet-stream\r\n"
                      "Content-Length: 1000\r\n\r\nx").encode())
        socks.append(sock)
    conn.close()
    return socks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--stalled", type=int, default=200,
                        help="stalled uploads in flight during the second validation run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    size = args.size_mib * CHUNK
    tmp = Path(tempfile.mkdtemp(prefix="kumo-imgbench-"))
    proc = None
    # the stalled uploads all belong to one project: lift the per-project limit
    os.environ["KUMO_MAX_CONCURRENT_UPLOADS_PER_PROJECT"] = "0"
    os.environ["KUMO_BODY_IDLE_TIMEOUT_S"] = "600"
    try:
        proc, port, _ = start_server(tmp)
        tok = token(port)
        headers = {"X-Auth-Token": tok, "Content-Type": "application/json"}
        conn = connect(port)
        conn.request("POST", "/image/v2/images", json.dumps(
            {"name": "bench", "disk_format": "raw", "container_format": "bare"}), headers)
        resp = conn.getresponse()
        image = json.loads(resp.read())
        base = memory_kib(proc.pid)

        expected = hashlib.sha512()
        t0 = time.perf_counter()
        conn.putrequest("PUT", f"/image/v2/images/{image['id']}/file")
        conn.putheader("X-Auth-Token", tok)
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        for chunk in chunks(size):
            expected.update(chunk)
            conn.send(chunk)
        resp = conn.getresponse()
        resp.read()
        up_s = time.perf_counter() - t0
        assert resp.status == 204, resp.status
        after_up = memory_kib(proc.pid)

        got = hashlib.sha512()
        t0 = time.perf_counter()
        conn.request("GET", f"/image/v2/images/{image['id']}/file", headers={"X-Auth-Token": tok})
        resp = conn.getresponse()
        received = 0
        while True:
            data = resp.read(CHUNK)
            if not data:
                break
            received += len(data)
            got.update(data)
        down_s = time.perf_counter() - t0
        after_down = memory_kib(proc.pid)
        conn.close()
        assert received == size and got.hexdigest() == expected.hexdigest(), "data mismatch"

        mib = size / CHUNK
        print(f"image of {mib:.0f} MiB on {HOST}:{port}")
        print(f"  upload:   {mib / up_s:8.1f} MiB/s ({up_s:.2f} s)")
        print(f"  download: {mib / down_s:8.1f} MiB/s ({down_s:.2f} s), sha512 verified")
        print(f"  server memory: RSS {base['VmRSS'] / 1024:.0f} MiB before; peak "
              f"{after_up['VmHWM'] / 1024:.0f} MiB after upload, "
              f"{after_down['VmHWM'] / 1024:.0f} MiB after download "
              f"(growth {(after_down['VmHWM'] - base['VmRSS']) / 1024:.0f} MiB for a "
              f"{mib:.0f} MiB image)")

        validate = [Req("GET", "/identity/v3/auth/tokens",
                        {"X-Auth-Token": tok, "X-Subject-Token": tok}, None, 200)]
        alone = measure("validate", port, validate, args.clients, 10 ** 7, args.seconds)
        socks = stalled_uploads(port, tok, args.stalled)
        try:
            time.sleep(1)  # let every one reach its handler and wait for its body
            stalled = measure(f"validate, {args.stalled} stalled", port, validate,
                              args.clients, 10 ** 7, args.seconds)
        finally:
            for sock in socks:
                sock.close()
        print(f"  token validation: {alone.rate:.0f}/s alone, {stalled.rate:.0f}/s with "
              f"{args.stalled} stalled uploads in flight")
        for fact in machine_facts():
            print("machine: " + fact)
        return 0
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
