#!/usr/bin/env python3
"""Watch benchmark: does a waiting long poll cost the API anything?

Starts a throw-away ``kumo up`` (SQLite, or ``--db URL`` of an empty PostgreSQL
database), then prints:

- p50/p99 of ``GET /networking/v2.0/networks`` (``--requests`` sequential requests, one
  keep-alive client) with 0 watches in flight, then with ``--watches`` (1,000) long polls
  (``GET /networking/kumo/v1/changes?wait=120``, unfiltered) waiting;
- the API process's RSS in both states (``VmRSS``);
- how long a network create takes to wake all the watches (p50/p99/max per watch, from
  the create's reply).

Every loop is bounded by a count and a time limit. Only 127.0.0.1 is contacted.

    /work/main/.venv/bin/python benchmarks/watch.py [--watches 1000] [--db URL]
"""
from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HOST, pct, rss_mib, start_server, stop_server  # noqa: E402


def start(tmp: Path, db: str | None) -> tuple[subprocess.Popen, str]:
    proc, port, _ = start_server(tmp, ("--db", db) if db else (),
                                 env_extra={"KUMO_COMPUTE_FAKE_HOSTS": "0"})
    return proc, f"http://{HOST}:{port}"


def token(url: str) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    return httpx.post(url + "/identity/v3/auth/tokens", json=body,
                      timeout=30).headers["x-subject-token"]


def list_latency(url: str, headers: dict, count: int, seconds: float) -> list[float]:
    out: list[float] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        while len(out) < count and time.monotonic() < deadline:
            t0 = time.perf_counter()
            resp = http.get("/networking/v2.0/networks")
            out.append(time.perf_counter() - t0)
            assert resp.status_code == 200, resp.text
    return out


class Watches:
    """``n`` long polls in a thread's event loop; :meth:`started` once all were sent."""

    def __init__(self, url: str, headers: dict, since: int, n: int, wait: float):
        self.url, self.headers, self.since, self.n, self.wait = url, headers, since, n, wait
        self.done_at: list[float] = []
        self.statuses: list[int] = []
        self.sent = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()),
                                       daemon=True)

    async def _one(self, i):
        """One long poll over a plain asyncio connection (a light client, so the
        figures are the server's). Unfiltered (no ``host``): the network create that
        wakes them concerns no host, and per-host watches would not see it."""
        host, port = self.url.rsplit("//", 1)[1].split(":")
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write((f"GET /networking/kumo/v1/changes?since={self.since}"
                          f"&wait={self.wait:g} HTTP/1.1\r\nHost: {host}\r\n"
                          f"X-Auth-Token: {self.headers['X-Auth-Token']}\r\n"
                          "Connection: close\r\n\r\n").encode())
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), self.wait + 30)
            await reader.read()  # to the close
            self.done_at.append(time.perf_counter())
            self.statuses.append(int(status.split()[1]))
            writer.close()
        except (OSError, asyncio.TimeoutError, IndexError, ValueError):
            self.done_at.append(time.perf_counter())
            self.statuses.append(0)

    async def _main(self):
        tasks = [asyncio.create_task(self._one(i)) for i in range(self.n)]
        await asyncio.sleep(min(10.0, 1 + self.n / 200))  # connections open
        self.sent.set()
        await asyncio.gather(*tasks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--watches", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--db", help="an empty PostgreSQL database URL (default SQLite)")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 2 * args.watches + 512))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # server inherits it
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-watch-"))
    proc, url = start(tmp, args.db)
    try:
        headers = {"X-Auth-Token": token(url)}
        for i in range(20):  # something to list
            httpx.post(url + "/networking/v2.0/networks", headers=headers,
                       json={"network": {"name": f"bench-{i}"}}, timeout=30)
        idle = list_latency(url, headers, args.requests, 60)
        rss_idle = rss_mib(proc.pid)
        since = httpx.get(url + "/networking/kumo/v1/state", headers=headers,
                          params={"host": "bench-0"}, timeout=60).json()["revision"]
        watches = Watches(url, headers, since, args.watches, wait=120)
        watches.thread.start()
        watches.sent.wait(60)
        busy = list_latency(url, headers, args.requests, 60)
        rss_busy = rss_mib(proc.pid)
        early = len(watches.done_at)
        t0 = time.perf_counter()
        httpx.post(url + "/networking/v2.0/networks", headers=headers,
                   json={"network": {"name": "bench-wake"}}, timeout=30)
        watches.thread.join(150)
        wake = [t - t0 for t in watches.done_at[early:]]
        ok = sum(1 for s in watches.statuses if s == 200)
        print(f"kumo watch benchmark ({'PostgreSQL' if args.db else 'SQLite'}, "
              f"worker_threads 40, {args.watches} watches)")
        print(f"{'GET /v2.0/networks':<34}{'p50 ms':>10}{'p99 ms':>10}{'n':>6}"
              f"{'API RSS MiB':>14}")
        print(f"{'  0 watches in flight':<34}{pct(idle, .5):>10.1f}{pct(idle, .99):>10.1f}"
              f"{len(idle):>6}{rss_idle:>14.0f}")
        print(f"{f'  {args.watches} watches in flight':<34}{pct(busy, .5):>10.1f}"
              f"{pct(busy, .99):>10.1f}{len(busy):>6}{rss_busy:>14.0f}")
        print(f"watches answered early (before the create): {early}")
        print(f"wake-up of {len(wake)} watches by one create: p50 {pct(wake, .5):.0f} ms, "
              f"p99 {pct(wake, .99):.0f} ms, max {max(wake, default=0) * 1000:.0f} ms; "
              f"{ok} answered 200")
        print(f"(RSS per waiting watch: ~{(rss_busy - rss_idle) * 1024 / max(1, args.watches):.0f}"
              " KiB)")
    finally:
        stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
