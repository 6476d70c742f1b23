#!/usr/bin/env python3
"""Block Storage benchmark: empty volumes created per second, create-from-image time
cold (the image is converted into the backend's image cache) vs cached (a copy of the
cached file), backup/restore throughput in MiB/s, and attach-to-visible-in-guest /
detach-to-gone latency.

The first figures come from a throw-away ``kumo up`` (loopback only, data plane off)
driven with openstacksdk; each is the time from the POST to the resource being
``available`` (polled every 20 ms).

The attach figures (root only; ``--attach-rounds 0`` skips them) come from a
:class:`kumo.sim.SimulatedMachine` (``kumo up`` with the real data plane and the netns
compute driver in its own namespaces): one running cirros server and one 1 GiB volume;
a helper inside the machine times, ``--attach-rounds`` times, Nova's attach call
(``POST /servers/{id}/os-volume_attachments``) until ``/dev/vdb`` exists as a block
device inside the guest (its init's ``/proc/<pid>/root/dev/vdb``, polled every 5 ms),
and the detach call until that node is gone; it prints each round and the medians.
Every wait is bounded (``--timeout``); the machine is always torn down.

    .venv/bin/python benchmarks/volume.py [--volumes 20] [--data-mib 256]
        [--attach-rounds 5] [--timeout 120] [--only attach|api]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import uuid
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import machine_facts, start_server, stop_server  # noqa: E402

# Run inside the simulated machine: ``python -c ATTACH_HELPER <json args>``; prints one
# JSON document (seconds from just before each API call).
ATTACH_HELPER = r'''
import json, os, stat, sys, time
from pathlib import Path
import openstack
from kumo.agent.virt.console import find_instance
from kumo.agent.virt.netns import instance_init_pid

args = json.loads(sys.argv[1])
TIMEOUT = float(args["timeout"])
conn = openstack.connect()
conn.authorize()


def wait(pred, what, step=0.005):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise SystemExit(f"timed out waiting for {what}")


net = conn.network.create_network(name="bench-vol-net")
conn.network.create_subnet(network_id=net.id, name="bench-vol-subnet", ip_version=4,
                           cidr="10.78.0.0/24")
image = conn.image.find_image("cirros")
flavor = conn.compute.find_flavor("m1.nano")
server = conn.compute.create_server(name="bench-vol-vm", image_id=image.id,
                                    flavor_id=flavor.id, networks=[{"uuid": net.id}])
conn.compute.wait_for_server(server, wait=TIMEOUT)
volume = conn.block_storage.create_volume(size=1, name="bench-vol")
conn.block_storage.wait_for_status(volume, "available", wait=TIMEOUT)
compute_dir = Path(os.environ["KUMO_STATE_DIR"]) / "compute"


def node():
    d, _ = find_instance(compute_dir, server.id)
    pid = wait(lambda: instance_init_pid(d), "the server's init")
    return Path(f"/proc/{pid}/root/dev/vdb")


def is_block(path):
    try:
        return stat.S_ISBLK(path.stat().st_mode)
    except OSError:
        return False


rounds = []
for _ in range(int(args["rounds"])):
    vdb = node()
    assert not is_block(vdb), "/dev/vdb before the attach"
    t0 = time.monotonic()
    att = conn.compute.create_volume_attachment(server, volume_id=volume.id)
    t_call = time.monotonic() - t0
    wait(lambda: is_block(vdb), "/dev/vdb in the guest")
    t_visible = time.monotonic() - t0
    wait(lambda: conn.block_storage.get_volume(volume.id).status == "in-use",
         "in-use", 0.02)
    t_inuse = time.monotonic() - t0
    t0 = time.monotonic()
    conn.compute.delete_volume_attachment(server, volume.id)
    wait(lambda: not is_block(vdb), "/dev/vdb gone from the guest")
    t_gone = time.monotonic() - t0
    wait(lambda: conn.block_storage.get_volume(volume.id).status == "available",
         "available", 0.02)
    t_avail = time.monotonic() - t0
    rounds.append({"call": t_call, "visible": t_visible, "in_use": t_inuse,
                   "gone": t_gone, "available": t_avail})
conn.compute.delete_server(server)
conn.compute.wait_for_delete(server, wait=TIMEOUT)
conn.block_storage.delete_volume(volume)
print(json.dumps(rounds))
'''


def attach_latency(rounds: int, timeout: float) -> None:
    """The attach/detach figures in a simulated machine (see the module doc)."""
    from kumo.sim import SimulatedMachine

    if os.geteuid() != 0:
        print("attach latency: skipped (needs root for the simulated machine)")
        return
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-volattach-"))
    machine = SimulatedMachine(tmp, f"kumo-b{uuid.uuid4().hex[:8]}-vol")
    try:
        t = time.monotonic()
        machine.start()
        print(f"simulated machine up in {time.monotonic() - t:.1f} s "
              f"(load average {os.getloadavg()[0]:.2f})")
        out = machine.python_json(ATTACH_HELPER, json.dumps(
            {"rounds": rounds, "timeout": timeout}), admin=True,
            timeout=timeout * (4 * rounds + 3) + 60)
        for i, r in enumerate(out):
            print(f"attach {i + 1}: API call {r['call'] * 1000:.0f} ms, /dev/vdb in the "
                  f"guest {r['visible'] * 1000:.0f} ms, in-use {r['in_use'] * 1000:.0f} ms;"
                  f" detach: /dev/vdb gone {r['gone'] * 1000:.0f} ms, available "
                  f"{r['available'] * 1000:.0f} ms")

        def med(key):
            return statistics.median(r[key] for r in out) * 1000
        print(f"attach-to-visible-in-guest: median {med('visible'):.0f} ms of {len(out)} "
              f"(to in-use {med('in_use'):.0f} ms); detach-to-gone: median "
              f"{med('gone'):.0f} ms (to available {med('available'):.0f} ms); "
              f"load average {os.getloadavg()[0]:.2f}")
    finally:
        problems = machine.stop(timeout=300)
        print("teardown:", "; ".join(problems) if problems else "clean")
        shutil.rmtree(tmp, ignore_errors=True)


def wait(get, rid: str, status: str = "available", timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = get(rid)
        if got.status == status:
            return time.monotonic()
        if got.status.startswith("error"):
            raise RuntimeError(f"{rid} went to {got.status}")
        time.sleep(0.02)
    raise RuntimeError(f"{rid} never became {status}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=20)
    parser.add_argument("--data-mib", type=int, default=256)
    parser.add_argument("--attach-rounds", type=int, default=5,
                        help="attach/detach rounds in a simulated machine (0: none)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per wait")
    parser.add_argument("--only", choices=("api", "attach"),
                        help="only the API figures or only the attach figures")
    args = parser.parse_args()
    if args.only != "attach":
        api_figures(args)
    if args.only != "api" and args.attach_rounds > 0:
        if args.only == "attach":
            print("\n".join(machine_facts()))
        attach_latency(args.attach_rounds, args.timeout)
    return 0


def api_figures(args) -> None:
    import openstack

    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-volume-"))
    proc, port, log = start_server(tmp)
    try:
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(tmp / "state" / "clouds.yaml")
        conn = openstack.connect(cloud="kumo-admin")
        bs = conn.block_storage
        backend = tmp / "state" / "volumes" / "file-1"
        print("\n".join(machine_facts()))
        bs.put(f"/os-quota-sets/{conn.current_project_id}", json={"quota_set": {
            "volumes": -1, "gigabytes": -1}})
        print(f"load average before: {os.getloadavg()[0]:.2f}")

        start = time.monotonic()
        ids = [bs.create_volume(size=1).id for _ in range(args.volumes)]
        end = max(wait(bs.get_volume, vid) for vid in ids)
        print(f"empty volumes: {args.volumes} in {end - start:.2f} s = "
              f"{args.volumes / (end - start):.1f} volumes/s (POST to available)")

        image = next(iter(conn.image.images(name="cirros")))
        times = []
        for _ in range(3):
            t0 = time.monotonic()
            vid = bs.create_volume(size=1, image_id=image.id).id
            times.append(wait(bs.get_volume, vid) - t0)
            ids.append(vid)
        print(f"from image ({image.size / 1e6:.1f} MB rootfs tarball -> ext4), POST to "
              f"available: cold {times[0] * 1000:.0f} ms, cached {times[1] * 1000:.0f} ms "
              f"and {times[2] * 1000:.0f} ms ({times[0] / times[1]:.1f}x faster)")
        import re
        steps = re.findall(r"image cache (hit|miss) \((\d+) ms\)", log.read_text())
        if steps:
            print("  backend step alone (server log): " + ", ".join(
                f"{kind} {ms} ms" for kind, ms in steps) +
                f" ({int(steps[0][1]) / max(1, int(steps[1][1])):.0f}x faster)")

        vid = bs.create_volume(size=1).id
        wait(bs.get_volume, vid)
        ids.append(vid)
        with (backend / f"volume-{vid}").open("r+b") as f:
            for _ in range(args.data_mib):
                f.write(os.urandom(1 << 20))
        t0 = time.monotonic()
        backup = bs.create_backup(volume_id=vid)
        t1 = wait(bs.get_backup, backup.id)
        print(f"backup: {args.data_mib} MiB of data in {t1 - t0:.2f} s = "
              f"{args.data_mib / (t1 - t0):.0f} MiB/s")
        t0 = time.monotonic()
        restored = bs.restore_backup(backup.id, volume_id=None, name="restored")
        rid = restored.volume_id
        t1 = wait(bs.get_volume, rid)
        ids.append(rid)
        print(f"restore to a new volume: {args.data_mib} MiB in {t1 - t0:.2f} s = "
              f"{args.data_mib / (t1 - t0):.0f} MiB/s")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        bs.delete_backup(backup.id)
        for vid in ids:
            bs.delete_volume(vid)
        conn.close()
    finally:
        stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
