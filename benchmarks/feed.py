#!/usr/bin/env python3
"""Data-plane feed benchmark: what one host's agent receives while others grow.

Starts a throw-away ``kumo up`` (data plane off, simulated hosts are just
``binding:host_id`` values) per backend (SQLite, and PostgreSQL with ``--pg-url``),
binds ``--ports`` ports (3,000) on one network to ``--hosts`` hosts (100), then prints:

- the snapshot (``GET /networking/kumo/v1/state?host=H``) in bytes and ms (median of
  5) for a host with no ports, and for a host with ports on the network;
- the changes each receives per bound-port create elsewhere (``--probe`` creates): the
  unrelated host should get 0, a host on the network 1 (its L2 population);
- the incremental fetch of what such a create changes for a host on the network
  (``?keys=networks:N``), and the bound-port create rate while all this holds.

Every loop is bounded by a count and a time limit. Only 127.0.0.1 is contacted.

    .venv/bin/python benchmarks/feed.py [--quick] [--pg-url postgresql+psycopg://kumo:kumo@127.0.0.1:5432/postgres]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HOST, Req, measure, print_table, start_server, stop_server  # noqa: E402
from network_api import _headers, admin_token, api, fresh_pg_database, make_network  # noqa: E402

LONELY = "host-without-ports"


def timed_get(port: int, token: str, path: str, times: int = 5) -> tuple[float, int, dict]:
    """Median ms and body bytes of ``times`` GETs of ``path``."""
    from harness import call, connect

    samples, size, body = [], 0, {}
    for _ in range(times):
        conn = connect(port)
        try:
            t0 = time.perf_counter()
            status, _, data = call(conn, Req("GET", path, _headers(token), None, 200))
            samples.append((time.perf_counter() - t0) * 1000)
        finally:
            conn.close()
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}: {data[:200]!r}")
        size, body = len(data), json.loads(data)
    return statistics.median(samples), size, body


def run_backend(label: str, db_url: str | None, args) -> list[str]:
    tmp = Path(tempfile.mkdtemp(prefix="kumo-feedbench-"))
    proc = None
    try:
        proc, port, _ = start_server(tmp, ("--db", db_url) if db_url else ())
        token = admin_token(port)
        print(f"\n== {label}: server on {HOST}:{port}", flush=True)
        net_id = make_network(port, token, "feed", "10.96.0.0/12")
        creates = [Req("POST", "/networking/v2.0/ports", _headers(token), json.dumps(
            {"port": {"network_id": net_id, "device_id": f"vm-{i}",
                      "binding:host_id": f"host-{i % args.hosts}"}}).encode(), 201)
            for i in range(args.ports)]
        result = measure("create bound port", port, creates, 4, args.ports, args.seconds)
        print_table([result])
        state = "/networking/kumo/v1/state?host="
        ms_empty, bytes_empty, snap = timed_get(port, token, state + LONELY)
        if snap["ports"] or snap["networks"]:
            print("  (the host with no ports gets the whole cloud)", flush=True)
        ms_busy, bytes_busy, _ = timed_get(port, token, state + "host-1")
        print(f"  snapshot, host with no ports: {bytes_empty / 1024:.1f} KiB in "
              f"{ms_empty:.1f} ms; host with {args.ports // args.hosts} ports on the "
              f"network: {bytes_busy / 1024:.1f} KiB in {ms_busy:.1f} ms", flush=True)
        since = snap["revision"]
        for i in range(args.probe):
            api(port, "POST", "/networking/v2.0/ports", token, {"port": {
                "network_id": net_id, "device_id": f"probe-{i}",
                "binding:host_id": "host-probe"}}, 201)
        per_host = {}
        for host in (LONELY, "host-1"):
            body, _ = api(port, "GET", f"/networking/kumo/v1/changes?since={since}"
                          f"&host={host}", token)
            per_host[host] = len(body["changes"]) / args.probe
        print(f"  changes per bound-port create elsewhere: host with no ports "
              f"{per_host[LONELY]:.2f}, host on the network {per_host['host-1']:.2f}",
              flush=True)
        try:
            ms_fetch, bytes_fetch, _ = timed_get(
                port, token, state + f"host-1&keys=networks:{net_id}")
            fetch = (f"fetch of the changed network for a host on it "
                     f"{bytes_fetch / 1024:.1f} KiB in {ms_fetch:.1f} ms")
        except RuntimeError as e:  # a controller without fetch by key
            fetch = f"no fetch by key ({str(e)[:60]})"
        print("  " + fetch, flush=True)
        return [f"{label}: {args.ports} ports on {args.hosts} hosts; host with no ports: "
                f"snapshot {bytes_empty / 1024:.1f} KiB / {ms_empty:.1f} ms, "
                f"{per_host[LONELY]:.2f} changes per create; host on the network: snapshot "
                f"{bytes_busy / 1024:.1f} KiB / {ms_busy:.1f} ms, "
                f"{per_host['host-1']:.2f} changes per create; {fetch}; bound-port create "
                f"{result.rate:.0f}/s"]
    finally:
        if proc is not None:
            stop_server(proc)
        if args.keep:
            print(f"  state kept in {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ports", type=int, default=3000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--probe", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--keep", action="store_true", help="keep the state directory")
    parser.add_argument("--pg-url", help="PostgreSQL base URL (a database kumo_bench is "
                                         "created there); SQLite only when absent")
    args = parser.parse_args(argv)
    if args.quick:
        args.ports, args.hosts = 300, 10
    summary = run_backend("sqlite", None, args)
    if args.pg_url:
        summary += run_backend("postgresql", fresh_pg_database(args.pg_url), args)
    print("\nbefore (main, issue 10): host with no ports, 3,000 ports elsewhere: 475 KiB, "
          "320 ms; every bound-port create reached every host")
    for line in summary:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
