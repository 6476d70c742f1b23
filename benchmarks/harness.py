"""Shared benchmark harness: start a throw-away ``kumo up`` (or ``kumo api``), keep-alive
HTTP clients (stdlib ``http.client``, one connection per client, concurrent clients as
separate processes; :class:`AsyncConn` for many long polls from one process), fresh
PostgreSQL databases, bounded load loops (a request count and a time limit, whichever first),
latency percentiles and the machine facts. Only 127.0.0.1 is ever contacted."""
from __future__ import annotations

import asyncio
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
#: The venv's scripts: the project's own .venv, else the running interpreter's (a git
#: worktree sharing another checkout's venv).
BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "kumo").exists() \
    else Path(sys.executable).parent
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


def start_server(tmp: Path, extra_args: tuple = (), command: str = "up",
                 env_extra: dict | None = None) -> tuple[subprocess.Popen, int, Path]:
    """``kumo <command> --host 127.0.0.1 --port P <extra_args>`` with its state in
    ``tmp/state`` (data plane off unless ``KUMO_DATAPLANE`` says otherwise); returns
    (process, port, log path) once it logged ``kumo: ready`` (RuntimeError after 90 s).
    ``command`` ``api`` with ``--db URL`` adds a process to another's cloud."""
    port = free_port()
    state, home = tmp / "state", tmp / "home"
    home.mkdir(parents=True)
    env = {**os.environ, "HOME": str(home), "KUMO_STATE_DIR": str(state),
           "OS_CLIENT_CONFIG_FILE": str(state / "clouds.yaml"), "PYTHONUNBUFFERED": "1",
           "KUMO_DATAPLANE": os.environ.get("KUMO_DATAPLANE", "off")}
    for name in ("OS_CLOUD", "KUMO_CONFIG", "KUMO_DATABASE_URL"):
        env.pop(name, None)
    env.update(env_extra or {})
    log_path = tmp / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(BIN / "kumo"), command, "--host", HOST, "--port",
                                 str(port), *extra_args],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp,
                                start_new_session=True)
    deadline = time.monotonic() + 90
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


def rss_mib(pid: int) -> float:
    """A process's resident set (``VmRSS``) in MiB; 0.0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pct(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``values`` (seconds) in ms; nan when empty."""
    if not values:
        return float("nan")
    lat = sorted(values)
    return lat[min(len(lat), max(1, math.ceil(q * len(lat)))) - 1] * 1000


# -- PostgreSQL --------------------------------------------------------------------

def pg_base_url() -> str:
    """The local server's base URL, as ``scripts/postgres.sh --url`` prints it."""
    out = subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "--url"],
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


def pg_plain(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def pg_create(base_url: str, label: str) -> str:
    """A fresh database ``kumo_bench_<label>_<pid>`` on the server of ``base_url``;
    returns its URL (drop it with :func:`pg_drop`)."""
    import psycopg

    name = f"kumo_bench_{label}_{os.getpid()}"
    with psycopg.connect(pg_plain(base_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + "/" + name


def pg_drop(base_url: str, db_url: str) -> None:
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_plain(base_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- a light asyncio HTTP/1.1 client (many watches from one process) ---------------

class AsyncConn:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:``port`` on asyncio streams:
    light enough that a thousand long polls from one process measure the server, not
    the client (httpx was the bottleneck). Bodies by Content-Length or chunked."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, method: str, path: str, headers: dict,
                      body: bytes = b"") -> tuple[int, bytes, int]:
        """(status, body, bytes received in all). Reconnects once if a kept-alive
        connection was closed under it; OSError/asyncio.IncompleteReadError beyond."""
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            self.writer.write((f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n{head}"
                               f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
            try:
                await self.writer.drain()
                return await self._response()
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _response(self) -> tuple[int, bytes, int]:
        line = await self.reader.readuntil(b"\r\n")
        size = len(line)
        status = int(line.split()[1])
        length, chunked, close = 0, False, False
        while True:
            h = await self.reader.readuntil(b"\r\n")
            size += len(h)
            if h == b"\r\n":
                break
            name, _, value = h.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        if chunked:
            parts = []
            while True:
                sz = await self.reader.readuntil(b"\r\n")
                n = int(sz.split(b";")[0], 16)
                data = await self.reader.readexactly(n + 2)
                size += len(sz) + len(data)
                if n == 0:
                    break
                parts.append(data[:-2])
            body = b"".join(parts)
        else:
            body = await self.reader.readexactly(length)
            size += length
        if close:
            await self.close()
        return status, body, size


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
