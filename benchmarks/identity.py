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
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (HOST, Req, call, connect, measure, port_from_url,  # noqa: E402
                     print_table, start_server, stop_server)

TOKENS_PATH = "/identity/v3/auth/tokens"

#: The reference Keystone on this kind of machine (from the issue), and the targets.
REF_VALIDATE_PER_S = 28.0
REF_PASSWORD_ISSUE_PER_S = 4.0
TARGET_VALIDATE_X = 100
TARGET_TOKEN_ISSUE_X = 10


# -- requests ------------------------------------------------------------------

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


def issue_token(port: int, body: dict) -> str:
    conn = connect(port)
    try:
        status, headers, data = call(conn, post_tokens(body))
    finally:
        conn.close()
    if status != 201:
        raise RuntimeError(f"token issue failed: HTTP {status}: {data[:300]!r}")
    return headers["X-Subject-Token"]



# -- report ----------------------------------------------------------------------

def report(results: dict, args) -> None:
    print_table(results.values())
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
