#!/usr/bin/env python3
"""Block Storage benchmark: empty volumes created per second, create-from-image time
cold (the image is converted into the backend's image cache) vs cached (a copy of the
cached file), and backup/restore throughput in MiB/s.

Starts a throw-away ``kumo up`` (loopback only, data plane off) and talks to it with
openstacksdk. Each figure is the time from the POST to the resource being
``available`` (polled every 20 ms).

    .venv/bin/python benchmarks/volume.py [--volumes 20] [--data-mib 256]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine_facts, start_server, stop_server  # noqa: E402


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
    args = parser.parse_args()
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
