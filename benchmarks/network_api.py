#!/usr/bin/env python3
"""Networking API benchmark: ports on one network.

For each backend (SQLite, and PostgreSQL when ``--pg-url`` names a server that the
``kumo`` role may create databases on), starts a throw-away ``kumo up`` and measures,
with 1 and with ``--clients`` concurrent keep-alive clients (p50/p99):

- port create/s and delete/s for ``--ports`` ports (1,000) on one network;
- list latency: all ports, and filtered by ``device_id`` and by ``fixed_ips=ip_address``;
- create latency of the first 100 and the last 100 of ``--growth`` ports (10,000):
  it must stay flat;
- the same create/list loop through openstacksdk (what a real client sees).

Every loop is bounded by a count and a time limit. Only 127.0.0.1 is contacted.

    .venv/bin/python benchmarks/network_api.py [--quick] [--pg-url postgresql+psycopg://kumo:kumo@127.0.0.1:5432/postgres]
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
from harness import (HOST, Req, call, connect, measure, print_table,  # noqa: E402
                     start_server, stop_server)

REF_CREATE_PER_S = 12.7   # reference Neutron 29 on this machine kind, from the issue
REF_DELETE_PER_S = 16.0
REF_LIST_200_S = 0.25


def api(port: int, method: str, path: str, token: str, body: dict | None = None,
        expect: int = 200):
    conn = connect(port)
    try:
        status, headers, data = call(conn, Req(method, path, _headers(token),
                                               json.dumps(body).encode() if body else None,
                                               expect))
    finally:
        conn.close()
    if status != expect:
        raise RuntimeError(f"{method} {path}: HTTP {status}: {data[:300]!r}")
    return json.loads(data) if data else None, headers


def _headers(token: str) -> dict:
    return {"X-Auth-Token": token, "Content-Type": "application/json"}


def admin_token(port: int) -> str:
    """An admin token; lifts the admin project's port, network, subnet and group quotas."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    token, headers = api(port, "POST", "/identity/v3/auth/tokens", "", body, 201)
    subject = headers["X-Subject-Token"]
    project_id = token["token"]["project"]["id"]
    api(port, "PUT", f"/networking/v2.0/quotas/{project_id}", subject,
        {"quota": {"port": -1, "network": -1, "subnet": -1, "security_group": -1,
                   "security_group_rule": -1}})
    return subject


def make_network(port: int, token: str, name: str, cidr: str) -> str:
    net, _ = api(port, "POST", "/networking/v2.0/networks", token,
                 {"network": {"name": name}}, 201)
    net_id = net["network"]["id"]
    api(port, "POST", "/networking/v2.0/subnets", token,
        {"subnet": {"network_id": net_id, "cidr": cidr, "ip_version": 4,
                    "enable_dhcp": False}}, 201)
    return net_id


def list_ports(port: int, token: str, query: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    body, _ = api(port, "GET", "/networking/v2.0/ports" + query, token)
    return time.perf_counter() - t0, len(body["ports"])


def growth(port: int, token: str, net_id: str, total: int, seconds: float) -> tuple:
    """Create up to ``total`` ports sequentially; latencies of the first and last 100."""
    conn = connect(port)
    req = Req("POST", "/networking/v2.0/ports", _headers(token),
              json.dumps({"port": {"network_id": net_id}}).encode(), 201)
    lat = []
    deadline = time.monotonic() + seconds
    try:
        for _ in range(total):
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            status, _, data = call(conn, req)
            if status != 201:
                raise RuntimeError(f"create failed: {status} {data[:200]!r}")
            lat.append(time.perf_counter() - t0)
    finally:
        conn.close()
    first, last = lat[:100], lat[-100:]
    return len(lat), statistics.median(first) * 1000, statistics.median(last) * 1000


def sdk_loop(port: int, count: int, seconds: float) -> tuple[float, float]:
    """Create and list ``count`` ports through openstacksdk; returns (create/s, list s)."""
    import openstack

    conn = openstack.connection.Connection(
        auth={"auth_url": f"http://{HOST}:{port}/identity", "username": "admin",
              "password": "secret", "project_name": "admin", "user_domain_id": "default",
              "project_domain_id": "default"}, region_name="RegionOne")
    net = conn.network.create_network(name="sdk-bench")
    conn.network.create_subnet(network_id=net.id, cidr="10.200.0.0/20", ip_version=4,
                               enable_dhcp=False)
    t0 = time.perf_counter()
    deadline = time.monotonic() + seconds
    made = 0
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        conn.network.create_port(network_id=net.id)
        made += 1
    rate = made / (time.perf_counter() - t0)
    t1 = time.perf_counter()
    listed = list(conn.network.ports(network_id=net.id))
    assert len(listed) == made
    return rate, time.perf_counter() - t1


def run_backend(label: str, db_url: str | None, args) -> list[str]:
    tmp = Path(tempfile.mkdtemp(prefix="kumo-netbench-"))
    proc = None
    summary = []
    try:
        proc, port, _ = start_server(tmp, ("--db", db_url) if db_url else ())
        token = admin_token(port)
        print(f"\n== {label}: server on {HOST}:{port}", flush=True)
        net_id = make_network(port, token, "bench", "10.100.0.0/16")
        create = Req("POST", "/networking/v2.0/ports", _headers(token),
                     json.dumps({"port": {"network_id": net_id,
                                          "device_id": "bench-device"}}).encode(), 201)
        results = []
        n = args.ports
        for clients in (1, args.clients):
            r = measure("create port", port, [create], clients, n, args.seconds)
            results.append(r)
            body, _ = api(port, "GET", f"/networking/v2.0/ports?network_id={net_id}"
                          "&fields=id&fields=fixed_ips", token)
            ports = body["ports"]
            some_ip = ports[len(ports) // 2]["fixed_ips"][0]["ip_address"]
            list_all, count = list_ports(port, token, f"?network_id={net_id}")
            list_dev, _ = list_ports(port, token, "?device_id=bench-device&limit=100")
            list_ip, found = list_ports(port, token, f"?fixed_ips=ip_address%3D{some_ip}")
            assert found == 1, found
            print(f"  list {count} ports: {list_all * 1000:.0f} ms; by device_id (limit "
                  f"100): {list_dev * 1000:.1f} ms; by fixed_ips=ip_address: "
                  f"{list_ip * 1000:.1f} ms", flush=True)
            deletes = [Req("DELETE", f"/networking/v2.0/ports/{p['id']}", _headers(token),
                           None, 204) for p in ports]
            results.append(measure("delete port", port, deletes, clients, len(deletes),
                                   args.seconds))
        print_table(results)
        best_create = max(r.rate for r in results if r.phase == "create port")
        best_delete = max(r.rate for r in results if r.phase == "delete port")
        net2 = make_network(port, token, "growth", "10.64.0.0/14")
        made, first, last = growth(port, token, net2, args.growth, args.growth_seconds)
        print(f"  growth: {made} ports; median create latency first 100 {first:.2f} ms, "
              f"last 100 {last:.2f} ms", flush=True)
        list_big, big = list_ports(port, token, f"?network_id={net2}")
        print(f"  list of {big} ports: {list_big:.2f} s", flush=True)
        sdk_rate, sdk_list = sdk_loop(port, args.sdk_ports, args.seconds)
        print(f"  openstacksdk: {sdk_rate:.1f} ports/s created, list in {sdk_list:.2f} s",
              flush=True)
        summary.append(
            f"{label}: create {best_create:.0f}/s ({best_create / REF_CREATE_PER_S:.0f}x), "
            f"delete {best_delete:.0f}/s ({best_delete / REF_DELETE_PER_S:.0f}x), "
            f"list {big} ports {list_big:.2f} s, create latency first/last 100 "
            f"{first:.2f}/{last:.2f} ms, sdk create {sdk_rate:.0f}/s")
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    return summary


def fresh_pg_database(base_url: str) -> str:
    import psycopg

    plain = base_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "kumo_bench" WITH (FORCE)')
        conn.execute('CREATE DATABASE "kumo_bench"')
    return base_url.rsplit("/", 1)[0] + "/kumo_bench"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--ports", type=int, default=1000)
    parser.add_argument("--growth", type=int, default=10000)
    parser.add_argument("--sdk-ports", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--growth-seconds", type=float, default=600.0)
    parser.add_argument("--pg-url", help="PostgreSQL base URL (a database kumo_bench is "
                                         "created there); SQLite only when absent")
    args = parser.parse_args(argv)
    if args.quick:
        args.ports, args.growth, args.sdk_ports = 200, 1000, 50
    summary = run_backend("sqlite", None, args)
    if args.pg_url:
        summary += run_backend("postgresql", fresh_pg_database(args.pg_url), args)
    print("\nreference Neutron 29: create 12.7/s, delete 16/s, list 200 ports 0.25 s; "
          "targets: >= 50x create and delete, list of 10,000 ports < 1 s")
    for line in summary:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
