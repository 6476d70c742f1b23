"""Tap-as-a-Service on the kernel: what a tc mirror costs the mirrored port, and
whether the analyzer receives all of it.

A simulated host (a namespace with a ``brq`` bridge) and three instance namespaces
plugged as Nova does (``tap<port[:11]>`` <-> ``eth0``): vm0 sends to vm1 with iperf3
(TCP, one stream, ``--seconds``), vm2 is the analyzer behind the tap service's port.
The TaaS driver (:class:`kumo.agent.taas.TaasDriver`) is given vm0's port with no
mirror, an ``OUT`` mirror and a ``BOTH`` mirror (no server: the port dict has the
shape of the state feed's). Printed per setup: the median Mbit/s vm1 received, and
the bytes the analyzer's ``eth0`` received against the bytes vm0's ``eth0`` sent
(``OUT``) during the last run. Namespaces only, bounded runs, everything removed at
the end, pass or fail. Root needed.

    python benchmarks/taas.py [--seconds 4] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.dataplane import (iperf_server, make_host, plug_vms, port,  # noqa: E402
                                  remove_host, stop_iperf_server)
from benchmarks.harness import machine_facts  # noqa: E402
from kumo.agent.dataplane import netns  # noqa: E402
from kumo.agent.taas import TaasDriver  # noqa: E402

HOSTNAME = "bench-host"
NET = "5e1f0000-0000-4000-8000-000000000002"
IPERF_PORT = 5202


def iperf(client: netns.Netns, server_ip: str, seconds: float) -> float:
    """Mbit/s the receiver got from one TCP stream."""
    argv = ["iperf3", "-c", server_ip, "-p", str(IPERF_PORT), "-t", str(seconds), "-J"]
    for _ in range(20):
        proc = netns.run(client, argv, check=False, timeout=seconds + 30)
        try:
            end = json.loads(proc.stdout).get("end", {})
        except ValueError:
            end = {}
        if proc.returncode == 0 and "sum_received" in end:
            return end["sum_received"]["bits_per_second"] / 1e6
        time.sleep(0.5)
    raise RuntimeError(f"iperf3 failed: {proc.stderr[-300:]}")


def counter(ns: netns.Netns, dev: str, what: str) -> int:
    """``rx``/``tx`` bytes of ``dev`` in ``ns`` (``ip -s -j``: sysfs is the
    machine's, not the namespace's)."""
    stats = json.loads(netns.run(ns, ["ip", "-s", "-j", "link", "show", dev]).stdout)
    return int(stats[0]["stats64"][what]["bytes"])


def run(tag: str, seconds: float, runs: int) -> list[tuple]:
    host = make_host(tag, "taas")
    server = None
    try:
        ports = [port(1), port(2), port(3)]
        vms = plug_vms(host, ports, NET)
        server_ip = ports[1]["fixed_ips"][0]["ip_address"]
        server = iperf_server(vms[1], IPERF_PORT)
        driver = TaasDriver(HOSTNAME, where=host)

        def apply(direction: str | None) -> None:
            mirrors = ([{"id": "f", "direction": direction, "to": ports[2]["id"]}]
                       if direction else [])
            obj = dict(ports[0], **{"binding:host_id": HOSTNAME, "tap_mirrors": mirrors})
            driver.reconcile({"kind": "ports", "id": obj["id"], "object": obj,
                              "state": {}}, 1)

        out = []
        for direction in (None, "OUT", "BOTH", None):
            apply(direction)
            rates = []
            for _ in range(runs):
                sent0 = counter(vms[0], "eth0", "tx")
                got0 = counter(vms[2], "eth0", "rx")
                rates.append(iperf(vms[0], server_ip, seconds))
                sent = counter(vms[0], "eth0", "tx") - sent0
                got = counter(vms[2], "eth0", "rx") - got0
            out.append((direction or "no mirror", statistics.median(rates), sent, got))
        apply(None)
        return out
    finally:
        stop_iperf_server(server)
        remove_host(host)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="iperf3 run length")
    ap.add_argument("--runs", type=int, default=3, help="iperf3 runs per setup")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("taas benchmark: needs root (namespaces, tc)")
    tag = f"kumo-b{uuid.uuid4().hex[:8]}"
    rows = run(tag, args.seconds, args.runs)
    print()
    print(f"{'vm0 -> vm1, iperf3 TCP, 1 stream':<34}{'Mbit/s (median)':>16}"
          f"{'vm0 sent MB':>13}{'analyzer got MB':>17}{'ratio':>8}")
    print("-" * 88)
    for label, rate, sent, got in rows:
        print(f"{label:<34}{rate:>16.0f}{sent / 1e6:>13.1f}{got / 1e6:>17.1f}"
              f"{got / sent if sent else 0:>8.2f}")
    print("(last run of each setup; BOTH also copies vm1's ACKs to the analyzer)")
    for fact in machine_facts():
        print("machine: " + fact)
    print(f"load: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
