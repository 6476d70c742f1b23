#!/usr/bin/env python3
"""Identity API micro-benchmark: token validation, token-method issue, password login.

Starts its own ``kumo up`` on a free loopback port with a throw-away state directory and
HOME (or uses ``--url`` to reach a running server on 127.0.0.1), then measures each phase
with 1 client and with ``--clients`` concurrent clients. Every client holds one HTTP/1.1
keep-alive connection (stdlib ``http.client``); concurrent clients are separate processes
so the client side's GIL is not the bottleneck. Clients and server share the machine's
cores, which the numbers include.

Every load loop stops after a request count or a time limit, whichever comes first.

    .venv/bin/python benchmarks/identity.py            # about a minute
    .venv/bin/python benchmarks/identity.py --quick    # about 1 s per phase
    .venv/bin/python benchmarks/identity.py --url http://127.0.0.1:5000
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
TOKENS_PATH = "/identity/v3/auth/tokens"

#: The reference Keystone on this kind of machine (from the issue), and the targets.
REF_VALIDATE_PER_S = 28.0
REF_PASSWORD_ISSUE_PER_S = 4.0
TARGET_VALIDATE_X = 100
TARGET_TOKEN_ISSUE_X = 10


# -- requests ------------------------------------------------------------------

@dataclass(frozen=True)
class Req:
    method: str
    path: str
    headers: dict
    body: bytes | None
    expect: int


def password_auth(user: str, password: str, project: str | None) -> dict:
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


def token_auth(token: str, project: str) -> dict:
    return {"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                     "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}


def post_tokens(body: dict) -> Req:
    return Req("POST", TOKENS_PATH, {"Content-Type": "application/json"},
               json.dumps(body).encode(), 201)


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


def issue_token(port: int, body: dict) -> str:
    conn = connect(port)
    try:
        status, headers, data = call(conn, post_tokens(body))
    finally:
        conn.close()
    if status != 201:
        raise RuntimeError(f"token issue failed: HTTP {status}: {data[:300]!r}")
    return headers["X-Subject-Token"]


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


def start_server(tmp: Path) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    state, home = tmp / "state", tmp / "home"
    home.mkdir(parents=True)
    env = {**os.environ, "HOME": str(home), "KUMO_STATE_DIR": str(state),
           "OS_CLIENT_CONFIG_FILE": str(state / "clouds.yaml"), "PYTHONUNBUFFERED": "1"}
    for name in ("OS_CLOUD", "KUMO_CONFIG", "KUMO_DATABASE_URL"):
        env.pop(name, None)
    log_path = tmp / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(BIN / "kumo"), "up", "--host", HOST, "--port", str(port)],
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


def report(results: dict, args) -> None:
    print()
    print(f"{'phase':<24}{'clients':>8}{'ok':>8}{'ops/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
          f"{'errors':>8}")
    print("-" * 78)
    for r in results.values():
        print(f"{r.phase:<24}{r.clients:>8}{r.ok:>8}{r.rate:>10.1f}{r.pct(.5):>10.2f}"
              f"{r.pct(.99):>10.2f}{r.n_errors:>8}")
    print()
    for fact in machine_facts():
        print("machine: " + fact)
    print("note: clients and server share the same cores")
    print()
    c = args.clients
    if len(results) < 6:
        return

    def best(phase):
        return max(results[(phase, 1)].rate, results[(phase, c)].rate)

    v = best("validate")
    t = best("issue (token)")
    p1, pc = results[("issue (password)", 1)].rate, results[("issue (password)", c)].rate
    cores = len(os.sched_getaffinity(0))
    print("versus reference Keystone (validate ~28/s, password issue ~4/s):")
    print(f"  validate             {v:8.1f}/s = {v / REF_VALIDATE_PER_S:6.1f}x   target >= "
          f"{TARGET_VALIDATE_X}x ({TARGET_VALIDATE_X * REF_VALIDATE_PER_S:.0f}/s)   "
          f"{'MET' if v / REF_VALIDATE_PER_S >= TARGET_VALIDATE_X else 'NOT MET'}")
    print(f"  issue (token method) {t:8.1f}/s = {t / REF_PASSWORD_ISSUE_PER_S:6.1f}x   target >= "
          f"{TARGET_TOKEN_ISSUE_X}x ({TARGET_TOKEN_ISSUE_X * REF_PASSWORD_ISSUE_PER_S:.0f}/s)   "
          f"{'MET' if t / REF_PASSWORD_ISSUE_PER_S >= TARGET_TOKEN_ISSUE_X else 'NOT MET'}")
    scale = pc / p1 if p1 else 0.0
    print(f"  password login       {p1:.1f}/s -> {pc:.1f}/s with {c} clients = {scale:.2f}x   "
          f"target ~{cores}x (every core)   {'MET' if scale >= 0.85 * cores else 'NOT MET'}")


# -- main ------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="use this running server (http://127.0.0.1:PORT) "
                                      "instead of starting one")
    parser.add_argument("--quick", action="store_true", help="about 1 s per phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (8)")
    parser.add_argument("--seconds", type=float, help="time limit per phase (4; --quick 1)")
    parser.add_argument("--password-seconds", type=float,
                        help="time limit per password phase (5; --quick 1.5)")
    parser.add_argument("--count", type=int, default=50000,
                        help="request limit per validate/token-issue phase (50000)")
    parser.add_argument("--password-count", type=int, default=64,
                        help="request limit per password phase (64)")
    parser.add_argument("--pool", type=int, default=50, help="distinct demo tokens (50)")
    parser.add_argument("--only", help="comma-separated subset of phases: "
                                       "validate,token,password")
    parser.add_argument("--user", default="demo")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--admin-password", default="secret")
    args = parser.parse_args(argv)
    seconds = args.seconds or (1.0 if args.quick else 4.0)
    pw_seconds = args.password_seconds or (1.5 if args.quick else 5.0)
    if args.quick:
        args.password_count = min(args.password_count, 12)

    tmp = proc = None
    try:
        if args.url:
            port = port_from_url(args.url)
            print(f"kumo bench: using {HOST}:{port}")
        else:
            tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-"))
            t0 = time.monotonic()
            proc, port, _ = start_server(tmp)
            print(f"kumo bench: server pid {proc.pid} on {HOST}:{port} "
                  f"(started in {time.monotonic() - t0:.1f} s, state {tmp})")

        # Credentials: 2 bcrypt logins, then a pool of distinct demo tokens by rescoping.
        admin = issue_token(port, password_auth("admin", args.admin_password, "admin"))
        demo_unscoped = issue_token(port, password_auth(args.user, args.password, None))
        pool = [issue_token(port, token_auth(demo_unscoped, "demo")) for _ in range(args.pool)]
        assert len(set(pool)) == len(pool), "token pool is not distinct"
        print(f"kumo bench: {len(pool)} distinct demo tokens; phases {seconds:g} s "
              f"(password {pw_seconds:g} s), 1 and {args.clients} clients", flush=True)

        validate = [Req("GET", TOKENS_PATH, {"X-Auth-Token": admin, "X-Subject-Token": t},
                        None, 200) for t in pool]
        parents = [demo_unscoped] + pool
        rescope = [post_tokens(token_auth(t, "demo")) for t in parents]
        login = [post_tokens(password_auth(args.user, args.password, "demo"))]

        phases = [("validate", validate, args.count, seconds),
                  ("issue (token)", rescope, args.count, seconds),
                  ("issue (password)", login, args.password_count, pw_seconds)]
        if args.only:
            keys = dict(zip(("validate", "token", "password"), phases))
            wanted = [k.strip() for k in args.only.split(",")]
            if not wanted or any(k not in keys for k in wanted):
                raise SystemExit("--only takes validate, token, password")
            phases = [keys[k] for k in wanted]
        results = {}
        for name, reqs, count, secs in phases:
            for clients in (1, args.clients):
                results[(name, clients)] = measure(name, port, reqs, clients, count, secs)
        report(results, args)
        failed = sum(r.n_errors for r in results.values())
        return 1 if failed else 0
    finally:
        if proc is not None:
            stop_server(proc)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
