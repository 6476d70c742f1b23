#!/usr/bin/env python3
"""Several API processes on one PostgreSQL database: connections used and throughput.

Starts ``kumo up`` and ``--extra`` (default 2) ``kumo api --db URL`` processes on a
fresh database of the local PostgreSQL server (``KUMO_TEST_PG_URL``, as
``scripts/postgres.sh --url`` prints), then drives ``--clients`` (default 120) threads,
spread over the processes, each validating tokens and listing projects for
``--seconds``. Meanwhile it samples ``pg_stat_activity`` every 50 ms and prints the
peak number of connections to the database (the pools allow 25 per process: three must
stay under PostgreSQL's default ``max_connections`` of 100), requests/s and errors.

    KUMO_TEST_PG_URL=$(bash scripts/postgres.sh --url) \\
        .venv/bin/python benchmarks/multiproc.py [--extra 2] [--clients 120]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.api.test_multiproc import _spawn, issue  # noqa: E402
from tests.conftest import _pg_database, _pg_drop  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", type=int, default=2)
    parser.add_argument("--clients", type=int, default=120)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    base = os.environ.get("KUMO_TEST_PG_URL")
    if not base:
        print("set KUMO_TEST_PG_URL (bash scripts/postgres.sh --url)", file=sys.stderr)
        return 2
    db_url = _pg_database(base, "bench_mp")
    name = db_url.rsplit("/", 1)[1]
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-mp-"))
    procs = []
    try:
        procs.append(_spawn(tmp / "p0", ["up"], db_url, tmp / "images"))
        for i in range(args.extra):
            procs.append(_spawn(tmp / f"p{i + 1}", ["api"], db_url, tmp / "images"))
        tokens = [issue(p.url) for p in procs]
        stop = threading.Event()
        peak = [0]
        counts = {"ok": 0, "err": 0}
        kinds: dict[str, int] = {}
        lock = threading.Lock()

        def sample():
            with psycopg.connect(plain, autocommit=True) as conn:
                while not stop.is_set():
                    n = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE "
                                     "datname = %s", (name,)).fetchone()[0]
                    peak[0] = max(peak[0], n)
                    time.sleep(0.05)

        def client(i: int):
            p = procs[i % len(procs)]
            token = tokens[(i + 1) % len(tokens)]  # a token another process issued
            h = {"X-Auth-Token": token, "X-Subject-Token": token}
            ok = err = 0
            with httpx.Client(timeout=60) as c:
                while not stop.is_set():
                    path = ("/identity/v3/auth/tokens" if ok % 2 == 0
                            else "/identity/v3/projects")
                    try:
                        r = c.get(p.url + path, headers=h)
                        ok, err = (ok + 1, err) if r.status_code == 200 else (ok, err + 1)
                        if r.status_code != 200:
                            with lock:
                                kinds[str(r.status_code)] = kinds.get(str(r.status_code), 0) + 1
                    except httpx.HTTPError as e:
                        err += 1
                        with lock:
                            kinds[type(e).__name__] = kinds.get(type(e).__name__, 0) + 1
            with lock:
                counts["ok"] += ok
                counts["err"] += err

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join(120)
        elapsed = time.monotonic() - started
        sampler.join(5)
        print(f"processes: {len(procs)}, clients: {args.clients}, {elapsed:.1f} s")
        print(f"requests: {counts['ok']} ok ({counts['ok'] / elapsed:.0f}/s), "
              f"{counts['err']} errors {kinds or ''}")
        print(f"peak PostgreSQL connections to the database: {peak[0]} "
              f"(pools allow {25 * len(procs)})")
    finally:
        for p in procs:
            p.stop()
        _pg_drop(base, db_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
