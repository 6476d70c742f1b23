#!/usr/bin/env python3
"""Compute benchmark: scheduler decisions per second over 1,000 hosts, and how fast
servers go ACTIVE on fake compute hosts (one server, then 50 created at once).

1. Scheduler (in process, no HTTP): a throw-away SQLite database with ``--hosts``
   (1,000) compute hosts registered by heartbeat; each decision is what a server create
   does: load the enabled, up hosts with their usage, filter (zone, RAM, vCPU, disk) and
   weigh. Prints decisions per second.
2. Servers (over HTTP): a throw-away ``kumo up --fake-compute-hosts N`` (loopback only,
   the fake virt driver: instances go ACTIVE without processes). Prints the time from
   ``POST /servers`` to ACTIVE for one server, then for ``--count`` (50) servers created
   at once by as many concurrent clients: total time and servers per second.

3. Paging (in process, no HTTP): a throw-away SQLite database with ``--servers``
   (10,000) server rows inserted directly in one project (many share a ``created_at``,
   so the tie-breaker matters), then paged through with ``--page-size`` (100) by the
   server list (:meth:`kumo.compute.listing.Lists.servers`: default order, ``marker``
   from the previous page). Prints the time per page over the first and the last five
   pages and in total: keyset paging costs the same at the end as at the start (the
   old list loaded every row and searched the marker in Python: O(N) per page).

Time to answer ping needs the netns driver and root; it is not measured here.

    .venv/bin/python benchmarks/compute.py [--hosts 1000] [--count 50] [--fake-hosts 4]
        [--servers 10000] [--page-size 100] [--only scheduler|servers|paging]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import connect, machine_facts, start_server, stop_server  # noqa: E402


# -- 1. scheduler ------------------------------------------------------------------------
def bench_scheduler(hosts: int, seconds: float, max_decisions: int) -> dict:
    from kumo import config
    from kumo.cli import prepare

    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-sched-"))
    try:
        settings = config.load(str(tmp / "state"))
        cloud = prepare(settings, migrate=True)
        compute = cloud.compute
        for i in range(hosts):
            compute.hosts.heartbeat({
                "host": f"bench-{i:04d}", "hypervisor_type": "fake",
                "hypervisor_hostname": f"bench-{i:04d}", "vcpus": 64,
                "memory_mb": 131072, "local_gb": 2048, "availability_zone": "nova",
                "driver": "fake", "host_ip": "127.0.0.1"})
        flavor = {"vcpus": 1, "ram": 512, "disk": 1}
        times = []
        deadline = time.monotonic() + seconds
        while len(times) < max_decisions and time.monotonic() < deadline:
            t0 = time.perf_counter()
            with compute.read() as s:
                (pick,) = compute.scheduler.select(s, flavor, 1, "nova")
            times.append(time.perf_counter() - t0)
        assert pick.host.startswith("bench-")
        cloud.close()
        return {"hosts": hosts, "decisions": len(times),
                "per_s": len(times) / sum(times),
                "p50_ms": statistics.median(times) * 1000}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- 2. servers --------------------------------------------------------------------------
class Client:
    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.conn = connect(port)

    def call(self, method: str, path: str, body=None, expect=(200,)):
        headers = {"X-Auth-Token": self.token, "Content-Type": "application/json",
                   "OpenStack-API-Version": "compute 2.47"}
        self.conn.request(method, path, json.dumps(body) if body is not None else None,
                          headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status not in expect:
            raise RuntimeError(f"{method} {path}: {resp.status} {data[:300]!r}")
        return json.loads(data) if data else None


def admin_token(port: int) -> tuple[str, str]:
    conn = connect(port)
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    conn.request("POST", "/identity/v3/auth/tokens", json.dumps(body),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return resp.headers["X-Subject-Token"], data["token"]["project"]["id"]


def wait_active(client: Client, ids: set[str], timeout: float = 120.0) -> float:
    """Poll until every server in ``ids`` is ACTIVE; returns the monotonic time then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        servers = client.call("GET", "/compute/v2.1/servers/detail?limit=1000")["servers"]
        status = {s["id"]: s["status"] for s in servers if s["id"] in ids}
        if any(v == "ERROR" for v in status.values()):
            raise RuntimeError(f"a server went to ERROR: {status}")
        if len(status) == len(ids) and all(v == "ACTIVE" for v in status.values()):
            return time.monotonic()
        time.sleep(0.01)
    raise RuntimeError("servers did not all go ACTIVE in time")


def bench_servers(count: int, fake_hosts: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-compute-"))
    proc = None
    try:
        proc, port, _ = start_server(tmp, ("--fake-compute-hosts", str(fake_hosts)))
        token, project = admin_token(port)
        client = Client(port, token)
        deadline = time.monotonic() + 30
        while len(client.call("GET", "/compute/v2.1/os-services")["services"]) \
                < fake_hosts and time.monotonic() < deadline:
            time.sleep(0.1)
        client.call("PUT", f"/compute/v2.1/os-quota-sets/{project}", {"quota_set": {
            "instances": -1, "cores": -1, "ram": -1}})
        images = client.call("GET", "/image/v2/images?name=cirros")["images"]
        networks = client.call("GET", "/networking/v2.0/networks?name=private")["networks"]
        body = {"imageRef": images[0]["id"], "flavorRef": "42",
                "networks": [{"uuid": networks[0]["id"]}]}

        t0 = time.monotonic()
        one = client.call("POST", "/compute/v2.1/servers",
                          {"server": {"name": "one", **body}}, (202,))["server"]["id"]
        one_s = wait_active(client, {one}) - t0
        client.call("DELETE", f"/compute/v2.1/servers/{one}", expect=(204,))

        clients = [Client(port, token) for _ in range(count)]
        ids: list[str] = []
        posts: list[float] = []
        lock = threading.Lock()
        gate = threading.Barrier(count + 1)

        def create(i: int):
            gate.wait()
            t = time.perf_counter()
            sid = clients[i].call("POST", "/compute/v2.1/servers", {"server": {
                "name": f"many-{i}", **body}}, (202,))["server"]["id"]
            with lock:
                ids.append(sid)
                posts.append(time.perf_counter() - t)
        threads = [threading.Thread(target=create, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        gate.wait()
        start = time.monotonic()
        for t in threads:
            t.join(120)
        accepted = time.monotonic() - start
        done = wait_active(client, set(ids)) - start
        for sid in ids:
            client.call("DELETE", f"/compute/v2.1/servers/{sid}", expect=(204,))
        return {"one_active_s": one_s, "count": count, "accepted_s": accepted,
                "all_active_s": done, "per_s": count / done,
                "post_p50_ms": statistics.median(posts) * 1000,
                "fake_hosts": fake_hosts}
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)


# -- 3. paging ---------------------------------------------------------------------------
def bench_paging(servers: int, page_size: int) -> dict:
    import datetime as dt
    import types
    import uuid

    from kumo import config
    from kumo.cli import prepare
    from kumo.compute.models import Instance

    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-paging-"))
    try:
        settings = config.load(str(tmp / "state"))
        cloud = prepare(settings, migrate=True)
        compute = cloud.compute
        project = uuid.uuid4().hex
        t0 = dt.datetime(2026, 1, 1)
        rows = [{"id": str(uuid.uuid4()), "project_id": project, "user_id": "u",
                 "display_name": f"s-{i:05d}", "hostname": f"s-{i:05d}",
                 "vm_state": "active", "power_state": 1, "image_id": "", "image": {},
                 "flavor": {"id": "42"}, "vcpus": 1, "memory_mb": 64, "root_gb": 1,
                 "meta": {}, "tags": [], "security_groups": [], "ports": [],
                 "tried_hosts": [], "scheduler_hints": {}, "reservation_id": "r-bench",
                 "deleted": False, "created_at": t0 + dt.timedelta(seconds=i // 3),
                 "updated_at": t0 + dt.timedelta(seconds=i // 3)}
                for i in range(servers)]
        with cloud.db.session() as s:
            s.execute(sa_insert(Instance), rows)
        ctx = types.SimpleNamespace(project_id=project, is_admin=False)
        times, seen, marker = [], [], None
        for _ in range(servers // page_size + 2):
            filters = {"limit": str(page_size)}
            if marker:
                filters["marker"] = marker
            t = time.perf_counter()
            page, more = compute.lists.servers(ctx, filters)
            times.append(time.perf_counter() - t)
            seen.extend(r.id for r in page)
            if not more:
                break
            marker = page[-1].id
        assert len(seen) == len(set(seen)) == servers, (len(seen), len(set(seen)))
        # what one page cost before: every matching row loaded, the marker found in
        # Python (kept here for comparison only)
        t = time.perf_counter()
        with compute.read() as s:
            every = list(s.scalars(sa_select(Instance).where(
                Instance.project_id == project)))
        [r.id for r in every].index(seen[-1])
        load_all = time.perf_counter() - t
        cloud.close()
        return {"servers": servers, "page_size": page_size, "pages": len(times),
                "first_ms": statistics.mean(times[:5]) * 1000,
                "last_ms": statistics.mean(times[-5:]) * 1000,
                "total_s": sum(times), "load_all_ms": load_all * 1000}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sa_insert(model):
    import sqlalchemy as sa
    return sa.insert(model)


def sa_select(model):
    import sqlalchemy as sa
    return sa.select(model)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--decisions", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--fake-hosts", type=int, default=4)
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--only", choices=("scheduler", "servers", "paging"))
    args = parser.parse_args(argv)
    for fact in machine_facts():
        print(fact)
    if args.only in (None, "scheduler"):
        sched = bench_scheduler(args.hosts, args.seconds, args.decisions)
        print(f"scheduler: {sched['per_s']:.0f} decisions/s over {sched['hosts']} hosts "
              f"(p50 {sched['p50_ms']:.1f} ms, {sched['decisions']} decisions, SQLite)")
    if args.only in (None, "paging"):
        p = bench_paging(args.servers, args.page_size)
        print(f"paging {p['servers']} servers by {p['page_size']} ({p['pages']} pages, "
              f"SQLite): first 5 pages {p['first_ms']:.1f} ms/page, last 5 pages "
              f"{p['last_ms']:.1f} ms/page, all {p['total_s']:.2f} s (loadavg "
              f"{os.getloadavg()[0]:.1f}); loading every row, as each page did before: "
              f"{p['load_all_ms']:.0f} ms")
    if args.only not in (None, "servers"):
        return 0
    servers = bench_servers(args.count, args.fake_hosts)
    print(f"one server: POST /servers -> ACTIVE in {servers['one_active_s']:.3f} s "
          f"(fake driver, {servers['fake_hosts']} fake hosts)")
    print(f"{servers['count']} servers at once: all accepted in "
          f"{servers['accepted_s']:.2f} s (POST p50 {servers['post_p50_ms']:.0f} ms), "
          f"all ACTIVE in {servers['all_active_s']:.2f} s = "
          f"{servers['per_s']:.1f} servers/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
