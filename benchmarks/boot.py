#!/usr/bin/env python3
"""Boot benchmark: how fast ports and servers go ACTIVE and answer ping on the real
data plane (issue 6's targets: ACTIVE < 1 s, answering ping < 3 s for one server).

Everything runs inside one :class:`kumo.sim.SimulatedMachine` (``kumo up`` with the
real data plane and the netns compute driver in its own network and mount namespaces),
so nothing touches the real machine's networking and all traffic stays in namespaces
the benchmark made. The timing is done by a Python helper run *inside* the machine with
openstacksdk (so no CLI start-up is measured); it prints JSON back. As admin, on a
network ``bench-net`` (10.77.0.0/24) with a router on ``public``:

(a) **port**: ``create_port`` bound to the machine's agent host, then a namespace
    "instance" plugged by hand (veth ``tap<port-id[:11]>`` <-> ``eth0`` with the port's
    MAC and address): time from the create request to ACTIVE, and to the first answered
    ping from that instance to the router's interface (the subnet's gateway);
(b) **one server**: ``create_server`` (cirros, m1.nano): time to ACTIVE and to the first
    answered ping from the router's namespace; one cold boot, then the median of
    ``--repeat`` (3);
(c) **many servers**: ``--count`` (50) servers in one request (``min_count``): time until
    all are ACTIVE and until all answer ping, and servers per second.

Pings run every 20-50 ms with ``-D`` timestamps, so a figure is the first reply's time.
Loops are bounded (``--timeout`` per wait); the machine is always torn down.

    sudo .venv/bin/python benchmarks/boot.py [--repeat 3] [--count 50] [--timeout 120]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import machine_facts  # noqa: E402

from kumo.sim import SimulatedMachine  # noqa: E402

# The helper, run inside the machine: ``python -c HELPER <mode> <json args>``; prints one
# JSON document. Times are seconds from just before the create request.
HELPER = r'''
import json, re, statistics, subprocess, sys, threading, time
import openstack
from kumo.agent.dataplane import links, names, netns

mode, args = sys.argv[1], json.loads(sys.argv[2])
TIMEOUT = float(args.get("timeout", 120))
conn = openstack.connect()  # OS_CLOUD=kumo-admin
# token and version discovery before anything is timed
conn.authorize()
list(conn.network.networks(limit=1))
list(conn.compute.flavors(limit=1))


def wait(pred, what, step=0.02):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise SystemExit(f"timed out waiting for {what}")


def netns_names():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


class pinger(threading.Thread):
    """Ping ``ip`` from namespace ``ns`` every ``interval`` s until the first reply (or
    TIMEOUT); ``reply`` is its -D time. ping -c 1 also ends on an error (an unanswered
    ARP after 3 s), so it is started again until a reply or the deadline."""

    def __init__(self, ns, ip, interval="0.05"):
        super().__init__(daemon=True)
        self.argv = ["ip", "netns", "exec", ns, "ping", "-D", "-n", "-c", "1", "-i",
                     interval, ip]
        self.reply = None
        self.start()

    def run(self):
        deadline = time.monotonic() + TIMEOUT
        while self.reply is None and time.monotonic() < deadline:
            left = max(1, int(deadline - time.monotonic()))
            out = subprocess.run([*self.argv, "-w", str(left)], capture_output=True,
                                 text=True, timeout=left + 10).stdout
            for line in out.splitlines():
                m = re.match(r"\[(\d+\.\d+)\] \d+ bytes from", line)
                if m:
                    self.reply = float(m.group(1))
                    break
            else:
                time.sleep(0.05)


def first_reply(p, t0_epoch):
    """Seconds from ``t0_epoch`` to the first reply ``p`` saw, or None."""
    p.join(TIMEOUT + 20)
    return None if p.reply is None else p.reply - t0_epoch


def setup():
    net = conn.network.create_network(name="bench-net")
    sub = conn.network.create_subnet(network_id=net.id, name="bench-subnet",
                                     ip_version=4, cidr="10.77.0.0/24")
    public = next(conn.network.networks(name="public", is_router_external=True))
    router = conn.network.create_router(name="bench-router",
                                        external_gateway_info={"network_id": public.id})
    conn.network.add_interface_to_router(router, subnet=sub.id)
    project = conn.current_project_id
    group = next(conn.network.security_groups(name="default", project_id=project))
    conn.network.create_security_group_rule(
        security_group_id=group.id, direction="ingress", ethertype="IPv4",
        protocol="icmp", remote_ip_prefix="0.0.0.0/0")
    ns = f"qrouter-{router.id}"
    # the router's interface is up in its namespace before anything is timed
    wait(lambda: ns in netns_names() and sub.gateway_ip in subprocess.run(
        ["ip", "netns", "exec", ns, "ip", "-o", "addr"], capture_output=True,
        text=True).stdout, "the router's interface", 0.2)
    image = conn.image.find_image("cirros")
    flavor = conn.compute.find_flavor("m1.nano")
    return {"network": net.id, "subnet": sub.id, "gateway": sub.gateway_ip,
            "router": router.id, "router_ns": ns, "image": image.id, "flavor": flavor.id}


def port(a):
    """(a): a port bound to the agent host, plugged by hand into a namespace."""
    host, ns_name = netns.Host(), f"bench-inst-{a['device'][:8]}"
    ns = netns.ensure_netns(host, ns_name)  # the "instance", made before the clock runs
    mtu = conn.network.get_network(a["network"]).mtu or 1450
    p = None
    try:
        t0e, t0 = time.time(), time.monotonic()
        p = conn.network.create_port(network_id=a["network"], binding_host_id=a["host"],
                                     device_owner="compute:bench", device_id=a["device"])
        created = time.monotonic() - t0
        links.ensure_veth(host.root, names.tap(p.id), "eth0", peer_ns=ns, up=False,
                          mtu=mtu)
        links.set_mac(ns, "eth0", p.mac_address)
        links.ensure_address(ns, "eth0", p.fixed_ips[0]["ip_address"] + "/24")
        links.set_up(ns, "lo")
        links.set_up(ns, "eth0")
        links.set_up(host.root, names.tap(p.id))
        plugged = time.monotonic() - t0
        ping = pinger(ns_name, a["gateway"], "0.02")
        wait(lambda: conn.network.get_port(p.id).status == "ACTIVE", "port ACTIVE")
        active = time.monotonic() - t0
        answered = first_reply(ping, t0e)
    finally:
        netns.delete_netns(host, ns_name)
        if p is not None:
            conn.network.delete_port(p.id)
    return {"create_s": created, "plugged_s": plugged, "active_s": active,
            "ping_s": answered}


def server_ip(sid):
    addrs = conn.compute.get_server(sid).addresses or {}
    for entries in addrs.values():
        for e in entries:
            if e.get("version") == 4:
                return e["addr"]
    return None


def delete_servers(ids):
    for sid in ids:
        conn.compute.delete_server(sid)
    for sid in ids:
        wait(lambda: conn.compute.find_server(sid, ignore_missing=True) is None,
             "server deleted", 0.2)


def server(a):
    """(b): one cirros server: ACTIVE, then answering ping from the router."""
    t0e, t0 = time.time(), time.monotonic()
    s = conn.compute.create_server(name="bench-one", image_id=a["image"],
                                   flavor_id=a["flavor"],
                                   networks=[{"uuid": a["network"]}])
    accepted = time.monotonic() - t0
    try:
        ip = wait(lambda: server_ip(s.id), "the server's address")
        ping = pinger(a["router_ns"], ip)

        def status():
            st = conn.compute.get_server(s.id).status
            if st == "ERROR":
                raise SystemExit(f"server {s.id} went to ERROR")
            return st == "ACTIVE"
        wait(status, "server ACTIVE")
        active = time.monotonic() - t0
        answered = first_reply(ping, t0e)
    finally:
        delete_servers([s.id])
    return {"accepted_s": accepted, "active_s": active, "ping_s": answered}


def many(a):
    """(c): ``count`` servers in one request (min_count = max_count = count)."""
    n = a["count"]
    t0e, t0 = time.time(), time.monotonic()
    conn.compute.create_server(name="bench-many", image_id=a["image"],
                               flavor_id=a["flavor"], networks=[{"uuid": a["network"]}],
                               min_count=n, max_count=n)
    accepted = time.monotonic() - t0
    active_at, pings, ids = {}, {}, set()
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline and len(active_at) < n:
            for s in conn.compute.servers(details=True):
                if not s.name.startswith("bench-many"):
                    continue
                ids.add(s.id)
                if s.status == "ERROR":
                    raise SystemExit(f"server {s.id} went to ERROR")
                if s.status == "ACTIVE" and s.id not in active_at:
                    active_at[s.id] = time.monotonic() - t0
                if s.id not in pings:
                    ip = next((e["addr"] for v in (s.addresses or {}).values()
                               for e in v if e.get("version") == 4), None)
                    if ip:
                        pings[s.id] = pinger(a["router_ns"], ip, "0.1")
            time.sleep(0.05)
        answered = {sid: first_reply(p, t0e) for sid, p in pings.items()}
    finally:
        delete_servers(sorted(ids))
    ok = [v for v in answered.values() if v is not None]
    return {"count": n, "seen": len(ids), "accepted_s": accepted,
            "active": len(active_at), "all_active_s": max(active_at.values(), default=None),
            "answering": len(ok), "all_ping_s": max(ok) if len(ok) == n else None,
            "active_p50_s": statistics.median(active_at.values()) if active_at else None,
            "ping_p50_s": statistics.median(ok) if ok else None}


print(json.dumps({"setup": setup, "port": port, "server": server, "many": many}[mode](
    *([args] if mode != "setup" else []))))
'''


def fmt(value, unit: str = " s") -> str:
    return "n/a" if value is None else f"{value:.3f}{unit}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="warm single boots")
    parser.add_argument("--ports", type=int, default=3, help="port samples")
    parser.add_argument("--count", type=int, default=50, help="servers created at once")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per wait")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("benchmarks/boot.py needs root (it builds a simulated machine)")
    for fact in machine_facts():
        print(fact)
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-boot-"))
    machine = SimulatedMachine(tmp, f"kumo-b{uuid.uuid4().hex[:8]}-boot", env={
        # 50 m1.nano servers need more than 2 cores x 16 vCPUs and the default quotas
        "KUMO_SCHEDULER_CPU_ALLOCATION_RATIO": "128", "KUMO_QUOTA_INSTANCES": "-1",
        "KUMO_QUOTA_CORES": "-1", "KUMO_QUOTA_RAM": "-1", "KUMO_QUOTA_PORT": "-1"})
    limit = args.timeout * 2 + 60

    def helper(mode: str, **kw):
        return machine.python_json(HELPER, mode, json.dumps({"timeout": args.timeout, **kw}),
                                   admin=True, timeout=limit)

    try:
        t = time.monotonic()
        machine.start()
        print(f"simulated machine up in {time.monotonic() - t:.1f} s "
              f"(agent host {machine.agent_host})")
        net = helper("setup")
        base = {k: net[k] for k in ("network", "gateway", "router_ns", "image", "flavor")}

        ports = [helper("port", host=machine.agent_host, device=str(uuid.uuid4()), **base)
                 for _ in range(args.ports)]
        for i, p in enumerate(ports):
            print(f"(a) port {i + 1}: create {fmt(p['create_s'])}, plugged "
                  f"{fmt(p['plugged_s'])}, ACTIVE {fmt(p['active_s'])}, "
                  f"first ping to the router {fmt(p['ping_s'])}")
        print(f"(a) port create -> ACTIVE median {fmt(med(ports, 'active_s'))}, "
              f"-> answered ping median {fmt(med(ports, 'ping_s'))}")

        cold = helper("server", **base)
        print(f"(b) first server (cold): ACTIVE {fmt(cold['active_s'])}, answering ping "
              f"{fmt(cold['ping_s'])} (POST {fmt(cold['accepted_s'])})")
        warm = [helper("server", **base) for _ in range(args.repeat)]
        for i, s in enumerate(warm):
            print(f"(b) server {i + 1}: ACTIVE {fmt(s['active_s'])}, answering ping "
                  f"{fmt(s['ping_s'])} (POST {fmt(s['accepted_s'])})")
        print(f"(b) one server: ACTIVE median {fmt(med(warm, 'active_s'))} (target < 1 s), "
              f"answering ping median {fmt(med(warm, 'ping_s'))} (target < 3 s)")

        many = helper("many", count=args.count, **base)
        n = many["count"]
        print(f"(c) {n} servers in one request: POST {fmt(many['accepted_s'])}, "
              f"{many['active']}/{n} ACTIVE, all in {fmt(many['all_active_s'])} "
              f"(median {fmt(many['active_p50_s'])}); {many['answering']}/{n} answering "
              f"ping, all in {fmt(many['all_ping_s'])} (median {fmt(many['ping_p50_s'])})")
        if many["all_active_s"] and many["active"] == n:
            rate = f"{n / many['all_active_s']:.1f} servers/s ACTIVE"
            if many["all_ping_s"]:
                rate += f", {n / many['all_ping_s']:.1f} servers/s answering ping"
            print(f"(c) {rate}")
    finally:
        problems = machine.stop(timeout=300)
        print("teardown:", "; ".join(problems) if problems else "clean")
    return 0


def med(rows: list[dict], key: str):
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


if __name__ == "__main__":
    sys.exit(main())
