#!/usr/bin/env python3
"""Federated login micro-benchmark: ``mapped`` logins through a trusted front proxy
and rescoping the federated token to a project the mapping granted.

A mapped login is a write (shadow user, group memberships replaced) and so bumps the
identity revision, which empties this process's identity caches: it costs far more
than a rescope.

Starts its own ``kumo up`` on a free loopback port (throw-away state directory) that
trusts 127.0.0.1 as its front proxy (the benchmark's clients play the proxy), creates an
identity provider, a mapping (REMOTE_USER -> user, ``OIDC-groups`` "eng" -> a group
with member on a project) and protocol, then measures each phase with 1 and
``--clients`` concurrent clients. Every load loop stops after a request count or a time
limit, whichever comes first.

    .venv/bin/python benchmarks/federation.py            # about 40 s
    .venv/bin/python benchmarks/federation.py --quick    # about 1 s per phase
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (HOST, Req, call, connect, measure, print_table,  # noqa: E402
                     start_server, stop_server)

IDENTITY = "/identity/v3"
FED = IDENTITY + "/OS-FEDERATION"


def api(port: int, method: str, path: str, token: str | None = None, body=None,
        expect: int = 200, headers: dict | None = None):
    conn = connect(port)
    try:
        h = {"Content-Type": "application/json", **(headers or {})}
        if token:
            h["X-Auth-Token"] = token
        status, resp_headers, data = call(conn, Req(method, path, h, json.dumps(body).encode()
                                                    if body is not None else None, expect))
    finally:
        conn.close()
    if status != expect:
        raise RuntimeError(f"{method} {path}: HTTP {status}: {data[:300]!r}")
    return resp_headers, (json.loads(data) if data else None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 1 s per phase")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (4)")
    parser.add_argument("--seconds", type=float, help="time limit per phase (4; --quick 1)")
    parser.add_argument("--count", type=int, default=20000, help="request limit per phase")
    parser.add_argument("--admin-password", default="secret")
    args = parser.parse_args(argv)
    seconds = args.seconds or (1.0 if args.quick else 4.0)
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-fed-"))
    proc = None
    try:
        proc, port, _ = start_server(tmp, env_extra={
            "KUMO_FEDERATION_TRUSTED_PROXIES": HOST, "KUMO_COMPUTE_FAKE_HOSTS": "0"})
        print(f"kumo bench: server pid {proc.pid} on {HOST}:{port}", flush=True)
        headers, _ = api(port, "POST", IDENTITY + "/auth/tokens", expect=201, body={
            "auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"},
                "password": args.admin_password}}},
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        admin = headers["X-Subject-Token"]
        _, body = api(port, "POST", IDENTITY + "/projects", admin, expect=201,
                      body={"project": {"name": "fedbench", "domain_id": "default"}})
        project = body["project"]["id"]
        _, body = api(port, "POST", IDENTITY + "/groups", admin, expect=201,
                      body={"group": {"name": "eng", "domain_id": "default"}})
        group = body["group"]["id"]
        _, body = api(port, "GET", IDENTITY + "/roles?name=member", admin)
        member = body["roles"][0]["id"]
        api(port, "PUT", f"{IDENTITY}/projects/{project}/groups/{group}/roles/{member}",
            admin, expect=204)
        api(port, "PUT", FED + "/identity_providers/bench", admin, expect=201,
            body={"identity_provider": {"enabled": True}})
        api(port, "PUT", FED + "/mappings/bench", admin, expect=201, body={"mapping": {
            "rules": [{"local": [{"user": {"name": "{0}"}}],
                       "remote": [{"type": "REMOTE_USER"}]},
                      {"local": [{"group": {"id": group}}],
                       "remote": [{"type": "OIDC-groups", "any_one_of": ["eng"]}]}]}})
        api(port, "PUT", FED + "/identity_providers/bench/protocols/openid", admin,
            expect=201, body={"protocol": {"mapping_id": "bench"}})

        auth = FED + "/identity_providers/bench/protocols/openid/auth"
        users = [f"user{i}" for i in range(20)]
        logins = [Req("POST", auth, {"REMOTE_USER": u, "OIDC-groups": "eng;staff"}, None,
                      201) for u in users]
        unscoped = [api(port, "POST", auth, headers={"REMOTE_USER": u,
                                                     "OIDC-groups": "eng"},
                        expect=201)[0]["X-Subject-Token"] for u in users]
        rescope = [Req("POST", IDENTITY + "/auth/tokens",
                       {"Content-Type": "application/json"}, json.dumps({"auth": {
                           "identity": {"methods": ["token"], "token": {"id": t}},
                           "scope": {"project": {"id": project}}}}).encode(), 201)
                   for t in unscoped]
        results = []
        for name, reqs in (("mapped login", logins), ("rescope federated", rescope)):
            for clients in (1, args.clients):
                results.append(measure(name, port, reqs, clients, args.count, seconds))
        print_table(results)
        print(f"kumo bench: {len(users)} federated users; load average "
              f"{open('/proc/loadavg').read().split()[0]} at the end")
        return 1 if sum(r.n_errors for r in results) else 0
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = main()
    print(f"kumo bench: {time.monotonic() - t0:.0f} s in all")
    sys.exit(rc)
