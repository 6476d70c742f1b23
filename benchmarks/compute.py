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

Time to answer ping needs the netns driver and root; it is not measured here.

    .venv/bin/python benchmarks/compute.py [--hosts 1000] [--count 50] [--fake-hosts 4]
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--decisions", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--fake-hosts", type=int, default=4)
    args = parser.parse_args(argv)
    for fact in machine_facts():
        print(fact)
    sched = bench_scheduler(args.hosts, args.seconds, args.decisions)
    print(f"scheduler: {sched['per_s']:.0f} decisions/s over {sched['hosts']} hosts "
          f"(p50 {sched['p50_ms']:.1f} ms, {sched['decisions']} decisions, SQLite)")
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
