"""Shared benchmark harness: start a throw-away ``kumo up``, keep-alive HTTP clients
(stdlib ``http.client``, one connection per client, concurrent clients as separate
processes), bounded load loops (a request count and a time limit, whichever first),
latency percentiles and the machine facts. Only 127.0.0.1 is ever contacted."""
from __future__ import annotations

import http.client
import math
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"


# -- requests ------------------------------------------------------------------

@dataclass(frozen=True)
class Req:
    method: str
    path: str
    headers: dict
    body: bytes | None
    expect: int


def connect(port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def call(conn: http.client.HTTPConnection, req: Req):
    conn.request(req.method, req.path, body=req.body, headers=req.headers)
    resp = conn.getresponse()
    data = resp.read()  # drain, so the connection can be reused
    return resp.status, resp.headers, data


# -- load loop -------------------------------------------------------------------

def run_client(port: int, reqs: list[Req], offset: int, count: int, seconds: float,
               start_event=None, ready_queue=None) -> dict:
    """Send up to ``count`` requests for up to ``seconds`` on one keep-alive connection,
    cycling through ``reqs`` from ``offset``. Times use CLOCK_MONOTONIC, which is shared
    by all processes, so the parent can combine clients' windows."""
    conn = connect(port)
    if ready_queue is not None:
        ready_queue.put("ready")
        start_event.wait(120)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sample = ""
    start = time.monotonic()
    deadline = start + seconds
    n = len(reqs)
    for i in range(count):
        if time.monotonic() >= deadline:
            break
        req = reqs[(offset + i) % n]
        t0 = time.perf_counter()
        try:
            status, _, data = call(conn, req)
        except (OSError, http.client.HTTPException) as e:
            key = type(e).__name__
            errors[key] = errors.get(key, 0) + 1
            sample = sample or f"{key}: {e}"
            conn.close()
            conn = connect(port)
            continue
        dt = time.perf_counter() - t0
        if status == req.expect:
            latencies.append(dt)
        else:
            key = f"HTTP {status}"
            errors[key] = errors.get(key, 0) + 1
            sample = sample or f"{key}: {data[:200]!r}"
    end = time.monotonic()
    conn.close()
    return {"latencies": latencies, "errors": errors, "sample": sample,
            "start": start, "end": end}


def _child(port, reqs, offset, count, seconds, start_event, ready_queue, results):
    try:
        results.put(run_client(port, reqs, offset, count, seconds, start_event, ready_queue))
    except BaseException as e:  # report instead of hanging the parent
        ready_queue.put("ready")
        results.put({"latencies": [], "errors": {type(e).__name__: 1},
                     "sample": f"{type(e).__name__}: {e}", "start": time.monotonic(),
                     "end": time.monotonic()})


@dataclass
class Result:
    phase: str
    clients: int
    ok: int
    elapsed: float
    latencies: list = field(repr=False)
    errors: dict
    sample: str

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        lat = sorted(self.latencies)
        return lat[min(len(lat), max(1, math.ceil(q * len(lat)))) - 1] * 1000  # nearest rank

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())


def measure(phase: str, port: int, reqs: list[Req], clients: int, count: int,
            seconds: float) -> Result:
    if clients == 1:
        parts = [run_client(port, reqs, 0, count, seconds)]
    else:
        ctx = multiprocessing.get_context("fork")
        start_event, ready, results = ctx.Event(), ctx.Queue(), ctx.Queue()
        share = -(-count // clients)
        step = max(1, len(reqs) // clients)
        procs = [ctx.Process(target=_child, daemon=True,
                             args=(port, reqs, i * step, share, seconds, start_event, ready,
                                   results)) for i in range(clients)]
        for p in procs:
            p.start()
        try:
            for _ in procs:
                ready.get(timeout=60)
            start_event.set()
            parts = [results.get(timeout=seconds + 120) for _ in procs]
        finally:
            for p in procs:
                p.join(5)
                if p.is_alive():
                    p.kill()
    latencies = [x for part in parts for x in part["latencies"]]
    errors: dict[str, int] = {}
    for part in parts:
        for k, v in part["errors"].items():
            errors[k] = errors.get(k, 0) + v
    elapsed = max(p["end"] for p in parts) - min(p["start"] for p in parts)
    sample = next((p["sample"] for p in parts if p["sample"]), "")
    r = Result(phase, clients, len(latencies), elapsed, latencies, errors, sample)
    err = f"  errors {r.n_errors} {errors}" if r.n_errors else ""
    print(f"  {phase:<22} {clients:>2} client(s): {r.ok:>6} ok in {r.elapsed:5.2f} s "
          f"= {r.rate:8.1f}/s  p50 {r.pct(.5):7.2f} ms  p99 {r.pct(.99):7.2f} ms{err}",
          flush=True)
    if sample:
        print(f"    first error: {sample}", flush=True)
    return r


# -- server ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(tmp: Path, extra_args: tuple = ()) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    state, home = tmp / "state", tmp / "home"
    home.mkdir(parents=True)
    env = {**os.environ, "HOME": str(home), "KUMO_STATE_DIR": str(state),
           "OS_CLIENT_CONFIG_FILE": str(state / "clouds.yaml"), "PYTHONUNBUFFERED": "1",
           "KUMO_DATAPLANE": os.environ.get("KUMO_DATAPLANE", "off")}
    for name in ("OS_CLOUD", "KUMO_CONFIG", "KUMO_DATABASE_URL"):
        env.pop(name, None)
    log_path = tmp / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(BIN / "kumo"), "up", "--host", HOST, "--port", str(port),
                                 *extra_args],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp,
                                start_new_session=True)
    deadline = time.monotonic() + 60
    while "kumo: ready" not in log_path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"kumo up did not start:\n{log_path.read_text()}")
        time.sleep(0.05)
    return proc, port, log_path


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def port_from_url(url: str) -> int:
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit("--url must be http://127.0.0.1:PORT (only loopback is contacted)")
    return u.port or 80


# -- report ----------------------------------------------------------------------

def machine_facts() -> list[str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return [f"nproc {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), CPU {model}",
            f"Python {platform.python_version()} ({sys.implementation.name}), "
            f"{platform.system()} {platform.release()}"]


def print_table(results) -> None:
    print()
    print(f"{'phase':<24}{'clients':>8}{'ok':>8}{'ops/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
          f"{'errors':>8}")
    print("-" * 78)
    for r in results:
        print(f"{r.phase:<24}{r.clients:>8}{r.ok:>8}{r.rate:>10.1f}{r.pct(.5):>10.2f}"
              f"{r.pct(.99):>10.2f}{r.n_errors:>8}")
    print()
    for fact in machine_facts():
        print("machine: " + fact)
    print("note: clients and server share the same cores")
    print()
