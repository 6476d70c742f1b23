#!/usr/bin/env python3
"""Snapshot benchmark: how long Nova's snapshot-based actions take on the netns driver
with the cirros image (issue 16): createImage of a running server (live: the guest's
root packed through /proc/<init>/root, uploaded through the agent route) until the
image is ``active`` and the server's task ended; a server booted from that snapshot
until ACTIVE; createImage of a stopped server (the read-only overlay path); shelve until
SHELVED_OFFLOADED and unshelve until ACTIVE; a live migration (a move by stop and
restart between the machine's host and a simulated one, ``kumo up --hosts 2``) until
ACTIVE on the other host.

Everything runs inside one :class:`kumo.sim.SimulatedMachine`; a helper run inside the
machine times with openstacksdk (polling every 50 ms, so figures are +-50 ms) and
prints JSON. Loops are bounded (``--timeout`` per wait); the machine is always torn
down.

    sudo .venv/bin/python benchmarks/snapshot.py [--repeat 3] [--timeout 120]
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

HELPER = r'''
import json, sys, time
import openstack

mode, args = sys.argv[1], json.loads(sys.argv[2])
TIMEOUT = float(args.get("timeout", 120))
conn = openstack.connect()  # OS_CLOUD=kumo-admin
conn.authorize()
list(conn.compute.flavors(limit=1))


def until(check, what):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out: {what}")


def status(sid):
    s = conn.compute.get_server(sid)
    if s.status == "ERROR":
        raise SystemExit(f"server {sid} ERROR: {s.fault}")
    return s


def boot(name, image, host=None):
    t = time.monotonic()
    s = conn.compute.create_server(
        name=name, image_id=image, flavor_id=args["flavor"],
        networks=[{"uuid": args["network"]}],
        **({"availability_zone": f"nova:{host}"} if host else {}))
    until(lambda: status(s.id).status == "ACTIVE", f"{name} ACTIVE")
    return s.id, time.monotonic() - t


def snapshot(sid, name):
    t = time.monotonic()
    image_id = conn.compute.create_server_image(sid, name, wait=False)
    image_id = getattr(image_id, "id", image_id)
    until(lambda: conn.image.get_image(image_id).status == "active", f"{name} active")
    active = time.monotonic() - t
    until(lambda: status(sid).task_state is None, f"{name}: task ended")
    return image_id, active, time.monotonic() - t, conn.image.get_image(image_id).size


out = {}
if mode == "setup":
    net = conn.network.create_network(name="snap-bench")
    conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.78.0.0/24")
    out = {"network": net.id, "image": conn.image.find_image("cirros").id,
           "flavor": conn.compute.find_flavor("m1.nano").id}
elif mode == "live":
    sid, _ = boot(f"sb-{args['i']}", args["image"], args.get("host"))
    time.sleep(1)  # init settled
    image_id, active, ended, size = snapshot(sid, f"sb-img-{args['i']}")
    _, booted = boot(f"sb-from-{args['i']}", image_id, args.get("host"))
    out = {"server": sid, "image": image_id, "active_s": active, "ended_s": ended,
           "size": size, "boot_s": booted}
elif mode == "stopped":
    sid = args["server"]
    conn.compute.stop_server(sid)
    until(lambda: status(sid).status == "SHUTOFF", "SHUTOFF")
    _, active, ended, size = snapshot(sid, "sb-stopped")
    out = {"active_s": active, "ended_s": ended, "size": size}
elif mode == "shelve":
    sid = args["server"]
    t = time.monotonic()
    conn.compute.shelve_server(sid)
    until(lambda: status(sid).status == "SHELVED_OFFLOADED", "SHELVED_OFFLOADED")
    shelved = time.monotonic() - t
    t = time.monotonic()
    conn.compute.unshelve_server(sid)
    until(lambda: status(sid).status == "ACTIVE", "ACTIVE after unshelve")
    out = {"shelve_s": shelved, "unshelve_s": time.monotonic() - t}
elif mode == "live-migrate":
    sid = args["server"]
    src = status(sid).compute_host
    t = time.monotonic()
    conn.compute.live_migrate_server(sid, host=None, block_migration="auto")
    until(lambda: (lambda s: s.status == "ACTIVE" and s.compute_host != src)(status(sid)),
          "ACTIVE on the other host")
    out = {"from": src, "to": status(sid).compute_host, "moved_s": time.monotonic() - t}
print(json.dumps(out))
'''


def fmt(v) -> str:
    return "-" if v is None else f"{v:.2f} s"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="live snapshots")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per wait")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("benchmarks/snapshot.py needs root (it builds a simulated machine)")
    for fact in machine_facts():
        print(fact)
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-snap-"))
    machine = SimulatedMachine(tmp, f"kumo-b{uuid.uuid4().hex[:8]}-snap")
    limit = args.timeout * 4 + 60

    def helper(mode: str, **kw):
        return machine.python_json(HELPER, mode, json.dumps({"timeout": args.timeout, **kw}),
                                   admin=True, timeout=limit)

    try:
        t = time.monotonic()
        machine.start(args=("--hosts", "2"), timeout=180)
        print(f"simulated machine up in {time.monotonic() - t:.1f} s "
              f"(agent host {machine.agent_host}, one simulated host)")
        base = helper("setup")
        runs = [helper("live", i=i, host=machine.agent_host, **base)
                for i in range(args.repeat)]
        for i, r in enumerate(runs):
            print(f"(a) live createImage {i + 1}: image active {fmt(r['active_s'])}, task "
                  f"ended {fmt(r['ended_s'])}, {r['size'] / 1e6:.1f} MB; a server from "
                  f"it ACTIVE in {fmt(r['boot_s'])}")
        print(f"(a) median: image active {fmt(med(runs, 'active_s'))}, server from the "
              f"snapshot ACTIVE {fmt(med(runs, 'boot_s'))}")
        stopped = helper("stopped", server=runs[0]["server"], **base)
        print(f"(b) stopped createImage: image active {fmt(stopped['active_s'])}, task "
              f"ended {fmt(stopped['ended_s'])}")
        shelve = helper("shelve", server=runs[-1]["server"], **base)
        print(f"(c) shelve -> SHELVED_OFFLOADED {fmt(shelve['shelve_s'])}; unshelve -> "
              f"ACTIVE {fmt(shelve['unshelve_s'])}")
        moved = helper("live-migrate", server=runs[1 % len(runs)]["server"], **base)
        print(f"(d) live migration (stop, move the root, start) {moved['from']} -> "
              f"{moved['to']}: ACTIVE in {fmt(moved['moved_s'])}")
    finally:
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        problems = machine.stop(timeout=300)
        print("teardown:", "; ".join(problems) if problems else "clean")
    return 0


def med(rows: list[dict], key: str):
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


if __name__ == "__main__":
    sys.exit(main())
