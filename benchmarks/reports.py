#!/usr/bin/env python3
"""Reports benchmark: how fast the data plane's status reports land, alone and while
tenants write.

For each backend (SQLite, and PostgreSQL when ``--pg-url`` names a server the ``kumo``
role may create databases on), starts a throw-away ``kumo up`` (loopback only, no data
plane) with ``--ports`` (500) ports on one network and prints:

- single port status reports per second (``POST .../ports/{id}/status``, one client,
  each one a real change: ACTIVE and DOWN in turn);
- the batch route (``POST .../ports/status`` with every port): ports per second;
- report latency p50/p99 (and the creators' ports/s) while ``--writers`` (4) clients
  create ports as fast as they can (tenants' writes holding the network revision row);
- on PostgreSQL, the latency of one report and one agent heartbeat while another
  connection holds the network revision row for ``--hold`` (2) seconds (before the
  reports left the writer lock, they waited that long).

Every loop is bounded by a count and a time limit. Only 127.0.0.1 is contacted.

    .venv/bin/python benchmarks/reports.py [--no-sqlite] [--pg-url postgresql+psycopg://kumo:kumo@127.0.0.1:5432/postgres]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Req, call, connect, machine_facts, start_server, stop_server  # noqa: E402
from network_api import _headers, admin_token, api, make_network  # noqa: E402

KUMO = "/networking/kumo/v1"


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else 0.0


def _post(conn, token: str, path: str, body: dict, expect: int = 200) -> float:
    t0 = time.perf_counter()
    status, _, data = call(conn, Req("POST", path, _headers(token),
                                     json.dumps(body).encode(), expect))
    if status != expect:
        raise RuntimeError(f"POST {path}: HTTP {status}: {data[:200]!r}")
    return time.perf_counter() - t0


def make_ports(port: int, token: str, net_id: str, count: int) -> list[str]:
    conn = connect(port)
    ids = []
    try:
        for _ in range(count):
            status, _, data = call(conn, Req("POST", "/networking/v2.0/ports",
                                             _headers(token), json.dumps({"port": {
                                                 "network_id": net_id}}).encode(), 201))
            if status != 201:
                raise RuntimeError(f"create port: {status} {data[:200]!r}")
            ids.append(json.loads(data)["port"]["id"])
    finally:
        conn.close()
    return ids


def singles(port: int, token: str, ids: list[str], seconds: float) -> tuple[float, list]:
    conn = connect(port)
    lat = []
    deadline = time.monotonic() + seconds
    t0 = time.perf_counter()
    try:
        for n, pid in enumerate(ids * 2):
            if time.monotonic() > deadline:
                break
            status = "ACTIVE" if n < len(ids) else "DOWN"
            lat.append(_post(conn, token, f"{KUMO}/ports/{pid}/status", {"status": status}))
    finally:
        conn.close()
    return len(lat) / (time.perf_counter() - t0), lat


def batches(port: int, token: str, ids: list[str], rounds: int) -> float:
    conn = connect(port)
    total = 0.0
    try:
        for r in range(rounds):
            status = "ERROR" if r % 2 == 0 else "ACTIVE"
            total += _post(conn, token, f"{KUMO}/ports/status", {"ports": [
                {"id": i, "status": status} for i in ids]})
    finally:
        conn.close()
    return rounds * len(ids) / total


def under_writers(port: int, token: str, net_id: str, ids: list[str], writers: int,
                  seconds: float) -> tuple[list, int]:
    stop = threading.Event()
    made = [0] * writers

    def write(k: int) -> None:
        conn = connect(port)
        req = Req("POST", "/networking/v2.0/ports", _headers(token),
                  json.dumps({"port": {"network_id": net_id}}).encode(), 201)
        try:
            while not stop.is_set():
                status, _, data = call(conn, req)
                if status != 201:
                    raise RuntimeError(f"create port: {status} {data[:200]!r}")
                made[k] += 1
        finally:
            conn.close()
    threads = [threading.Thread(target=write, args=(k,), daemon=True)
               for k in range(writers)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    t0 = time.perf_counter()
    _, lat = singles(port, token, ids, seconds)
    elapsed = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join(30)
    return lat, sum(made) / (elapsed + 0.5)


def held_lock(port: int, token: str, db_url: str, ids: list[str], hold: float) -> tuple:
    import psycopg

    plain = db_url.replace("postgresql+psycopg://", "postgresql://")
    conn = connect(port)
    with psycopg.connect(plain) as pg:
        pg.execute("SELECT value FROM kumo_revision WHERE name = 'network' FOR UPDATE")
        timer = threading.Timer(hold, pg.rollback)
        timer.start()
        try:
            report = _post(conn, token, f"{KUMO}/ports/{ids[0]}/status", {"status": "ERROR"})
            beat = _post(conn, token, f"{KUMO}/agents/heartbeat", {"agent": {
                "host": "bench-host", "agent_type": "DHCP agent"}})
        finally:
            timer.join()
            conn.close()
    return report * 1000, beat * 1000


def run_backend(label: str, db_url: str | None, args) -> list[str]:
    tmp = Path(tempfile.mkdtemp(prefix=f"kumo-bench-reports-{label}-"))
    proc = None
    out = []
    try:
        proc, port, _ = start_server(tmp, ("--db", db_url) if db_url else ())
        token = admin_token(port)
        net_id = make_network(port, token, "bench-reports", "10.210.0.0/16")
        ids = make_ports(port, token, net_id, args.ports)
        rate, lat = singles(port, token, ids, args.seconds)
        out.append(f"{label}: single reports {rate:.0f}/s (p50 {_pct(lat, .5):.2f} ms, "
                   f"p99 {_pct(lat, .99):.2f} ms)")
        try:
            out.append(f"{label}: batch of {len(ids)}: {batches(port, token, ids, 6):.0f} "
                       "ports/s")
        except RuntimeError as e:  # a server without the batch route
            out.append(f"{label}: batch: {e}"[:120])
        lat, made = under_writers(port, token, net_id, ids, args.writers, args.seconds)
        out.append(f"{label}: {args.writers} port creators ({made:.0f} ports/s) and one "
                   f"reporter ({len(lat)} reports): report p50 {_pct(lat, .5):.2f} ms, "
                   f"p99 {_pct(lat, .99):.2f} ms")
        if db_url:
            report, beat = held_lock(port, token, db_url, ids, args.hold)
            out.append(f"{label}: network revision row held {args.hold:.0f} s: port "
                       f"report {report:.1f} ms, heartbeat {beat:.1f} ms")
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    for line in out:
        print(line, flush=True)
    return out


def fresh_pg_database(base_url: str) -> str:
    import psycopg

    plain = base_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "kumo_bench_reports" WITH (FORCE)')
        conn.execute('CREATE DATABASE "kumo_bench_reports"')
    return base_url.rsplit("/", 1)[0] + "/kumo_bench_reports"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=500)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--hold", type=float, default=2.0)
    parser.add_argument("--pg-url", help="PostgreSQL base URL (a database "
                                         "kumo_bench_reports is created there)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args(argv)
    for line in machine_facts():
        print(line)
    summary = [] if args.no_sqlite else run_backend("sqlite", None, args)
    if args.pg_url:
        summary += run_backend("postgresql", fresh_pg_database(args.pg_url), args)
    print()
    for line in summary:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
