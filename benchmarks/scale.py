#!/usr/bin/env python3
"""Many hosts (issue 10): a thousand agents watching two API processes on PostgreSQL.

Makes its own database on the PostgreSQL server of ``--pg-url`` (default: what
``scripts/postgres.sh --url`` prints), starts ``kumo up --dataplane off`` and ``kumo api
--db URL`` on loopback, creates ``--networks`` networks (500) and ``--ports`` ports
(10,000) bound to ``--hosts`` simulated hosts (1,000; each network spans
``--hosts-per-network`` hosts, 4; ports made by bulk ``POST /v2.0/ports`` with lists, in
parallel on both processes), then prints:

1. p50/p99 of ``GET /networking/v2.0/networks`` and of a bound-port create, with no
   agent watching and with all of them watching (aim: p99 within 2x);
2. the long-poll answers (requests) and bytes an unrelated host (no ports on the
   changed network) receives per port change (aim: 0), and those a host on it receives;
3. the time from sending a port create to every host on its network having received a
   change naming the port or the network (aim: p99 < 1 s);
4. each API process's RSS and the database's connections (``pg_stat_activity``).

Each simulated agent (fake drivers: it realizes nothing) is what a real one is to the
API: it logs in as the service user ``kumo-agent`` (password from ``<state>/
agent_password``; one token shared by all), reads its host's snapshot (``GET
/networking/kumo/v1/state?host=H``), then long-polls ``/networking/kumo/v1/changes?
host=H&wait=120`` on one keep-alive connection, agents alternating between the two
processes, and fetches by key what each answer names. The agents run in a child process
on asyncio (:class:`harness.AsyncConn`), timestamping each answer on CLOCK_MONOTONIC.

Every loop is bounded by a count and a time limit (``--seconds`` per measured phase);
processes and the database are removed at the end, pass or fail. Only 127.0.0.1 and
the PostgreSQL server are contacted.

    python benchmarks/scale.py [--quick] [--hosts 1000] [--ports 10000]
        [--networks 500] [--seconds 30] [--pg-url postgresql+psycopg://...]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import queue
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (AsyncConn, Req, call, connect, machine_facts, measure,  # noqa: E402
                     pct, pg_base_url, pg_create, pg_drop, pg_plain, rss_mib,
                     start_server, stop_server)
from network_api import _headers, admin_token, api  # noqa: E402

WAIT_S = 120
BULK = 100          # ports (or networks, subnets) per bulk create
CHUNK_KEYS = 100    # keys per fetch, as the agent's informer does


def host_name(i: int) -> str:
    return f"sim-{i:05d}"


def layout(args) -> tuple[list[list[int]], list[tuple[int, int]]]:
    """(hosts of each network, (network, host) of each port): network ``n`` spans the
    ``--hosts-per-network`` hosts from ``n * hpn`` (mod hosts); its ports go round them."""
    hpn = max(1, min(args.hosts_per_network, args.hosts))
    net_hosts = [[(n * hpn + k) % args.hosts for k in range(hpn)]
                 for n in range(args.networks)]
    per_net = max(1, args.ports // args.networks)
    ports = [(n, net_hosts[n][j % hpn]) for n in range(args.networks) for j in range(per_net)]
    return net_hosts, ports[:args.ports]


def service_token(port: int, password: str) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "kumo-agent", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "service", "domain": {"id": "default"}}}}}
    _, headers = api(port, "POST", "/identity/v3/auth/tokens", "", body, 201)
    return headers["X-Subject-Token"]


# -- building the cloud -------------------------------------------------------------

def bulk(port: int, token: str, collection: str, entries: list[dict]) -> list[dict]:
    """One bulk create: ``POST /v2.0/<collection>`` with ``{collection: entries}``."""
    body, _ = api(port, "POST", f"/networking/v2.0/{collection.replace('_', '-')}", token,
                  {collection: entries}, 201)
    return body[collection]


def build(ports_api: list[int], token: str, args, net_hosts, port_plan) -> tuple:
    """Networks (one /24 IPv4 subnet each, no DHCP), their security groups
    (``--security-groups``) and the bound ports, in bulk requests spread over the API
    processes by a few threads. Returns (network ids, {network index: group ids} or {}
    for the project's default group)."""
    t0 = time.perf_counter()
    net_ids: list[str] = []
    with ThreadPoolExecutor(4) as pool:
        batches = [[{"name": f"scale-{n}"} for n in range(i, min(i + BULK, args.networks))]
                   for i in range(0, args.networks, BULK)]
        for out in pool.map(lambda ib: bulk(ports_api[ib[0] % 2], token, "networks", ib[1]),
                            enumerate(batches)):
            net_ids += [n["id"] for n in out]
        subnets = [{"network_id": nid, "cidr": f"10.{n // 250}.{n % 250}.0/24",
                    "ip_version": 4, "enable_dhcp": False} for n, nid in enumerate(net_ids)]
        list(pool.map(lambda ib: bulk(ports_api[ib[0] % 2], token, "subnets", ib[1]),
                      enumerate(subnets[i:i + BULK] for i in range(0, len(subnets), BULK))))
        groups = {}
        if args.security_groups == "per-network":
            # One group per network admitting its own members (as ``default`` does):
            # a host shares groups only with the hosts on its networks.
            # (Neutron's bulk rule create takes one group's rules only.)
            def group(n: int) -> str:
                sg, _ = api(ports_api[n % 2], "POST", "/networking/v2.0/security-groups",
                            token, {"security_group": {"name": f"scale-{n}"}}, 201)
                gid = sg["security_group"]["id"]
                api(ports_api[n % 2], "POST", "/networking/v2.0/security-group-rules",
                    token, {"security_group_rule": {
                        "security_group_id": gid, "direction": "ingress",
                        "ethertype": "IPv4", "remote_group_id": gid}}, 201)
                return gid
            groups = {n: [gid] for n, gid in enumerate(pool.map(group, range(len(net_ids))))}
        elif args.security_groups == "none":
            groups = {n: [] for n in range(len(net_ids))}
        t1 = time.perf_counter()
        entries = [{"network_id": net_ids[n], "device_id": f"vm-{i}",
                    "device_owner": "compute:nova", "binding:host_id": host_name(h),
                    **({"security_groups": groups[n]} if groups else {})}
                   for i, (n, h) in enumerate(port_plan)]
        made = sum(len(out) for out in pool.map(
            lambda ib: bulk(ports_api[ib[0] % 2], token, "ports", ib[1]),
            enumerate(entries[i:i + BULK] for i in range(0, len(entries), BULK))))
    t2 = time.perf_counter()
    print(f"built {len(net_ids)} networks with subnets (and groups) in {t1 - t0:.1f} s, "
          f"{made} bound "
          f"ports in {t2 - t1:.1f} s ({made / max(t2 - t1, 1e-9):.0f}/s, bulk {BULK}, "
          f"4 threads over {len(ports_api)} processes)", flush=True)
    return net_ids, groups


# -- the simulated agents (a child process) -------------------------------------------

async def _agent(i: int, port: int, token: str, since_q, events, stop: asyncio.Event,
                 gate: asyncio.Semaphore, ready: list) -> None:
    host = host_name(i)
    hdr = {"X-Auth-Token": token}
    conn = AsyncConn(port)
    try:
        async with gate:  # a bounded number of snapshots at once
            status, body, _ = await conn.request(
                "GET", f"/networking/kumo/v1/state?host={host}", hdr)
            if status != 200:
                raise RuntimeError(f"snapshot {host}: HTTP {status} {body[:200]!r}")
            since = json.loads(body)["revision"]
        ready.append(i)
        while not stop.is_set():
            status, body, size = await conn.request(
                "GET", f"/networking/kumo/v1/changes?since={since}&host={host}"
                f"&wait={WAIT_S}", hdr)
            t = time.monotonic()
            if status == 410:
                status, body, _ = await conn.request(
                    "GET", f"/networking/kumo/v1/state?host={host}", hdr)
                since = json.loads(body)["revision"]
                events.put((i, t, "relist", [], size, 0))
                continue
            if status != 200:
                events.put((i, t, f"HTTP {status}", [], size, 0))
                await asyncio.sleep(1)
                continue
            reply = json.loads(body)
            since = reply["revision"]
            changes = [(c["resource_type"], c["resource_id"]) for c in reply["changes"]]
            fetched = 0
            keys = sorted({f"{kind}:{rid}" for kind, rid in changes})
            for k in range(0, len(keys), CHUNK_KEYS):
                _, _, got = await conn.request(
                    "GET", f"/networking/kumo/v1/state?host={host}&keys="
                    + ",".join(keys[k:k + CHUNK_KEYS]), hdr)
                fetched += got
            if changes:
                events.put((i, t, "changes", changes, size, fetched))
    except asyncio.CancelledError:
        pass
    except Exception as e:  # noqa: BLE001 - reported, the others go on
        events.put((i, time.monotonic(), f"error {type(e).__name__}: {e}"[:200], [], 0, 0))
    finally:
        await conn.close()


def agents_main(n: int, ports: list[int], token: str, events, control, ready_q) -> None:
    async def main():
        stop = asyncio.Event()
        gate = asyncio.Semaphore(16)
        ready: list[int] = []
        tasks = [asyncio.create_task(_agent(i, ports[i % len(ports)], token, None, events,
                                            stop, gate, ready)) for i in range(n)]
        deadline = time.monotonic() + 600
        while len(ready) < n and time.monotonic() < deadline \
                and not all(t.done() for t in tasks):
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # the last long polls are sent
        ready_q.put(len(ready))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, control.get)  # "stop", or the parent died
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


class Agents:
    """The child process running ``n`` simulated agents; :attr:`events` collects their
    answers as (host index, monotonic time, kind, [(type, id)], poll bytes, fetch
    bytes)."""

    def __init__(self, n: int, ports: list[int], token: str):
        ctx = multiprocessing.get_context("fork")
        self._events, self._control, self._ready = ctx.Queue(), ctx.Queue(), ctx.Queue()
        self.events: list[tuple] = []
        self.proc = ctx.Process(target=agents_main, daemon=True,
                                args=(n, ports, token, self._events, self._control,
                                      self._ready))
        self._drain_stop = threading.Event()
        self._drainer = threading.Thread(target=self._drain, daemon=True)

    def _drain(self):
        while not self._drain_stop.is_set():
            try:
                self.events.append(self._events.get(timeout=0.2))
            except queue.Empty:
                continue

    def start(self, timeout: float) -> int:
        self.proc.start()
        self._drainer.start()
        return self._ready.get(timeout=timeout)

    def stop(self) -> None:
        if self.proc.is_alive():
            self._control.put("stop")
            self.proc.join(30)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(10)
        self._drain_stop.set()
        self._drainer.join(5)


# -- measuring ----------------------------------------------------------------------

def sg_field(groups: dict, n: int) -> dict:
    return {"security_groups": groups[n]} if groups else {}


def latencies(label: str, ports_api: list[int], token: str, net_ids, net_hosts, groups,
              args, tag: str) -> list:
    """GET networks and a bound-port create, sequential on one keep-alive client per
    process (the two processes alternately)."""
    h = _headers(token)
    out = []
    lists = [Req("GET", "/networking/v2.0/networks", h, None, 200)]
    rng = random.Random(tag)
    creates = []
    for k in range(args.samples):
        n = rng.randrange(len(net_ids))
        creates.append(Req("POST", "/networking/v2.0/ports", h, json.dumps({"port": {
            "network_id": net_ids[n], "device_id": f"{tag}-{k}",
            "binding:host_id": host_name(net_hosts[n][k % len(net_hosts[n])]),
            **sg_field(groups, n)}}).encode(),
            201))
    for what, reqs in (("GET /v2.0/networks", lists), ("port create", creates)):
        parts = [measure(f"{what} ({label}) p{j}", p, reqs[j::len(ports_api)] or reqs, 1,
                         args.samples // len(ports_api), args.seconds / 2)
                 for j, p in enumerate(ports_api)]
        out.append((what, label, [x for r in parts for x in r.latencies],
                    sum(r.n_errors for r in parts)))
    return out


def probe(ports_api, token, agents: Agents, net_ids, net_hosts, groups, args) -> dict:
    """``--probes`` port creates one at a time on random networks (bound to one of the
    network's hosts); for each, the time until every host on the network received a
    change naming the port or the network, and what the other hosts received."""
    rng = random.Random(7)
    h = _headers(token)
    delays, missing = [], 0
    windows = []
    time.sleep(2.0)  # the earlier creates' deliveries land before the first window
    deadline = time.monotonic() + args.seconds * 2
    for k in range(args.probes):
        if time.monotonic() > deadline:
            break
        n = rng.randrange(len(net_ids))
        hosts = set(net_hosts[n])
        mark = len(agents.events)
        conn = connect(ports_api[k % len(ports_api)])
        t0 = time.monotonic()
        status, _, data = call(conn, Req("POST", "/networking/v2.0/ports", h, json.dumps(
            {"port": {"network_id": net_ids[n], "device_id": f"probe-{k}",
                      "binding:host_id": host_name(net_hosts[n][k % len(hosts)]),
                      **sg_field(groups, n)}}).encode(),
            201))
        conn.close()
        if status != 201:
            raise RuntimeError(f"probe create: HTTP {status} {data[:200]!r}")
        port_id = json.loads(data)["port"]["id"]
        names = {port_id, net_ids[n]}
        got: dict[int, float] = {}
        wait_until = time.monotonic() + 5.0
        while time.monotonic() < wait_until:
            for ev in agents.events[mark:]:
                i, t, kind, changes = ev[:4]
                if i in hosts and i not in got and any(rid in names for _, rid in changes):
                    got[i] = t
            if len(got) == len(hosts):
                break
            time.sleep(0.01)
        if len(got) < len(hosts):
            missing += len(hosts) - len(got)
        if got:
            delays.append(max(got.values()) - t0)
        time.sleep(0.3)  # stray deliveries land in this probe's window
        windows.append((mark, len(agents.events), hosts))
    unrelated_req = unrelated_bytes = related_req = related_bytes = 0
    unrelated_hosts = related_hosts = 0
    kinds: dict[str, int] = {}
    for start, end, hosts in windows:
        unrelated_hosts += args.hosts - len(hosts)
        related_hosts += len(hosts)
        for i, _, kind, changes, size, fetched in agents.events[start:end]:
            if kind != "changes":
                continue
            if i in hosts:
                related_req += 1 + -(-len(changes) // CHUNK_KEYS)
                related_bytes += size + fetched
            else:
                unrelated_req += 1 + -(-len(changes) // CHUNK_KEYS)
                unrelated_bytes += size + fetched
                for kind_, _ in changes:
                    kinds[kind_] = kinds.get(kind_, 0) + 1
    probes = max(1, len(windows))
    return {"probes": len(windows), "delays": delays, "missing": missing,
            "unrelated_req": unrelated_req / max(1, unrelated_hosts),
            "unrelated_bytes": unrelated_bytes / max(1, unrelated_hosts),
            "unrelated_total_bytes": unrelated_bytes / probes, "unrelated_kinds": kinds,
            "related_req": related_req / max(1, related_hosts),
            "related_bytes": related_bytes / max(1, related_hosts)}


class PgSampler:
    """Samples ``pg_stat_activity`` for one database every 0.2 s: current and peak."""

    def __init__(self, base_url: str, db_name: str):
        self.base, self.name = base_url, db_name
        self.peak, self.last, self.states = 0, 0, {}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psycopg

        with psycopg.connect(pg_plain(self.base), autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute("SELECT coalesce(state, '?'), count(*) FROM "
                                    "pg_stat_activity WHERE datname = %s GROUP BY 1",
                                    (self.name,)).fetchall()
                self.states = dict(rows)
                self.last = sum(self.states.values())
                self.peak = max(self.peak, self.last)
                self._stop.wait(0.2)

    def reset(self):
        self.peak = self.last

    def stop(self):
        self._stop.set()
        self.thread.join(5)


# -- main ---------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="100 hosts, 1,000 ports on 50 networks (a smoke run)")
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--ports", type=int, default=10000)
    ap.add_argument("--networks", type=int, default=500)
    ap.add_argument("--hosts-per-network", type=int, default=4)
    ap.add_argument("--samples", type=int, default=200,
                    help="requests per latency figure (split over the two processes)")
    ap.add_argument("--probes", type=int, default=30, help="port creates timed to hosts")
    ap.add_argument("--security-groups", choices=("per-network", "default", "none"),
                    default="per-network",
                    help="the ports' groups: one per network admitting its members "
                         "(default), the project's default group (every host holds it: "
                         "each port change reaches every host), or none")
    ap.add_argument("--seconds", type=float, default=30.0, help="time limit per phase")
    ap.add_argument("--pg-url", help="PostgreSQL base URL (default: scripts/postgres.sh "
                                     "--url); a database kumo_bench_scale_<pid> is made")
    if ap.parse_args(argv).quick:  # its sizes, unless given explicitly
        ap.set_defaults(hosts=100, ports=1000, networks=50, samples=100, probes=15,
                        seconds=15.0)
    args = ap.parse_args(argv)
    for name in ("hosts", "ports", "networks", "samples", "probes"):
        if getattr(args, name) < 1 or getattr(args, name) > 100_000:
            ap.error(f"--{name} must be 1..100000")
    if args.networks > 62_500:
        ap.error("--networks: at most 62,500 (one 10.x.y.0/24 each)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.hosts + 1024)),
                                                hard))  # the servers inherit it
    started = time.monotonic()
    base = args.pg_url or pg_base_url()
    db_url = pg_create(base, "scale")
    db_name = db_url.rsplit("/", 1)[1]
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-scale-"))
    servers, agents, sampler = [], None, None
    try:
        env = {"KUMO_COMPUTE_FAKE_HOSTS": "0"}
        proc, port_a, _ = start_server(tmp / "a", ("--dataplane", "off", "--db", db_url),
                                       "up", env)
        servers.append(proc)
        password = (tmp / "a" / "state" / "agent_password").read_text().strip()
        proc, port_b, _ = start_server(tmp / "b", ("--db", db_url), "api",
                                       {**env, "KUMO_AGENT_PASSWORD": password})
        servers.append(proc)
        ports_api = [port_a, port_b]
        print(f"kumo up on :{port_a}, kumo api on :{port_b}, database {db_name}", flush=True)
        admin = admin_token(port_a)
        try:
            watch_token, who = service_token(port_a, password), "kumo-agent (service role)"
        except RuntimeError as e:
            print(f"service user login failed ({str(e)[:80]}); agents use admin", flush=True)
            watch_token, who = admin, "admin"
        net_hosts, plan = layout(args)
        net_ids, groups = build(ports_api, admin, args, net_hosts, plan)
        sampler = PgSampler(base, db_name)
        sampler.thread.start()
        time.sleep(0.5)
        rss_idle = [rss_mib(p.pid) for p in servers]
        conns_idle = sampler.last
        rows = latencies("0 agents", ports_api, admin, net_ids, net_hosts, groups, args,
                         "idle")
        t0 = time.monotonic()
        agents = Agents(args.hosts, ports_api, watch_token)
        n_ready = agents.start(timeout=600)
        print(f"{n_ready} of {args.hosts} agents read their snapshot and wait "
              f"({time.monotonic() - t0:.1f} s)", flush=True)
        sampler.reset()
        rows += latencies(f"{args.hosts} agents", ports_api, admin, net_ids, net_hosts,
                          groups, args, "busy")
        result = probe(ports_api, admin, agents, net_ids, net_hosts, groups, args)
        rss_busy = [rss_mib(p.pid) for p in servers]
        conns_busy, conns_peak, states = sampler.last, sampler.peak, dict(sampler.states)
        errors = [e for e in agents.events if e[2] not in ("changes",)]

        print(f"\nkumo many-hosts benchmark: {args.hosts} simulated agents ({who}), "
              f"{len(plan)} ports on {len(net_ids)} networks ({args.hosts_per_network} "
              f"hosts each), security groups {args.security_groups}, PostgreSQL, kumo up + "
              f"kumo api (agents alternate)")
        print(f"{'':<34}{'p50 ms':>9}{'p99 ms':>9}{'n':>6}{'errors':>8}")
        for what, label, lat, err in rows:
            print(f"{what + ', ' + label:<34}{pct(lat, .5):>9.1f}{pct(lat, .99):>9.1f}"
                  f"{len(lat):>6}{err:>8}")
        for what in ("GET /v2.0/networks", "port create"):
            lat = [r[2] for r in rows if r[0] == what]
            print(f"  {what}: p99 with agents / without = "
                  f"{pct(lat[1], .99) / pct(lat[0], .99):.2f}x (aim <= 2x)")
        d = result["delays"]
        print(f"port create -> every host on the network has the change ({result['probes']} "
              f"probes): p50 {pct(d, .5):.0f} ms, p99 {pct(d, .99):.0f} ms, max "
              f"{max(d, default=0) * 1000:.0f} ms (aim p99 < 1000); hosts missed "
              f"{result['missing']}")
        print(f"per port change, an unrelated host receives {result['unrelated_req']:.3f} "
              f"requests / {result['unrelated_bytes']:.1f} bytes (all unrelated hosts "
              f"together: {result['unrelated_total_bytes']:.0f} bytes; aim 0); a host on "
              f"the network {result['related_req']:.2f} requests / "
              f"{result['related_bytes']:.0f} bytes (long poll + fetch by key)")
        if result["unrelated_kinds"]:
            print(f"  changes the unrelated hosts received, by type: "
                  f"{result['unrelated_kinds']}")
        for name, idle, busy in zip(("kumo up", "kumo api"), rss_idle, rss_busy):
            print(f"RSS {name}: {idle:.0f} MiB with 0 agents, {busy:.0f} MiB with "
                  f"{args.hosts} watching")
        print(f"PostgreSQL connections to {db_name}: {conns_idle} with 0 agents, "
              f"{conns_busy} with {args.hosts} watching ({states}), peak {conns_peak}")
        if errors:
            print(f"agent errors/relists: {len(errors)}, first: {errors[0][2]}")
        for fact in machine_facts():
            print("machine: " + fact)
        print(f"(clients, both API processes and PostgreSQL share the machine; run "
              f"{time.monotonic() - started:.0f} s)")
    finally:
        if agents is not None:
            agents.stop()
        if sampler is not None:
            sampler.stop()
        for proc in servers:
            stop_server(proc)
        try:
            pg_drop(base, db_url)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
