"""QoS bandwidth limits on the kernel: how close the shaped rate is to the limit.

A simulated host (a namespace with a ``brq`` bridge) and two instance namespaces
plugged as Nova does (``tap<port[:11]>`` <-> ``eth0``); the QoS driver
(:class:`kumo.agent.qos.QosDriver`) is given the first port with a ``bandwidth_limit``
rule (no server: the port dict has the shape of the state feed's). iperf3 (TCP, one
stream, ``--seconds``) measures what the receiver got, per limit (10 and 100 Mbit/s)
and direction (``egress``: from the instance, shaped on an ifb device; ``ingress``: to
the instance, shaped on the tap), with Neutron's default burst (80% of the rate) and
with a small one (10% of the rate), over the whole run and leaving the first second
out (``-O 1``: slow start and the burst). Also the unlimited rate. Median of
``--runs``. Namespaces only, bounded runs, everything removed at the end, pass or
fail. Root needed.

    python benchmarks/qos.py [--seconds 4] [--runs 3] [--limits 10,100]
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
from kumo.agent.qos import QosDriver  # noqa: E402

HOSTNAME = "bench-host"
NET = "5e1f0000-0000-4000-8000-000000000001"
IPERF_PORT = 5201


def iperf(client: netns.Netns, server_ip: str, seconds: float, reverse: bool,
          omit: int) -> float:
    """Mbit/s the receiver got from one TCP stream."""
    argv = ["iperf3", "-c", server_ip, "-p", str(IPERF_PORT), "-t", str(seconds),
            "-O", str(omit), "-J"]
    if reverse:
        argv.append("-R")
    for _ in range(20):
        proc = netns.run(client, argv, check=False, timeout=seconds + omit + 30)
        try:
            end = json.loads(proc.stdout).get("end", {})
        except ValueError:
            end = {}
        if proc.returncode == 0 and "sum_received" in end:
            return end["sum_received"]["bits_per_second"] / 1e6
        time.sleep(0.5)
    raise RuntimeError(f"iperf3 failed: {proc.stderr[-300:]}")


def run(tag: str, seconds: float, runs: int, limits_mbit: list[int]) -> list[tuple]:
    host = make_host(tag, "qos")
    server = None
    try:
        ports = [port(1), port(2)]
        for p in ports:
            p["security_groups"], p["port_security_enabled"] = [], False
        vms = plug_vms(host, ports, NET)
        server_ip = ports[1]["fixed_ips"][0]["ip_address"]
        server = iperf_server(vms[1], IPERF_PORT)
        driver = QosDriver(HOSTNAME, where=host)

        def apply(rules: list[dict]) -> None:
            obj = dict(ports[0], **{"binding:host_id": HOSTNAME, "qos_rules": rules})
            driver.reconcile({"kind": "ports", "id": obj["id"], "object": obj,
                              "state": {}}, 1)

        out = []
        apply([])
        for direction, reverse in (("egress", False), ("ingress", True)):
            free = statistics.median(iperf(vms[0], server_ip, seconds, reverse, 1)
                                     for _ in range(runs))
            out.append((f"unlimited, {direction}", None, free, free))
            for mbit in limits_mbit:
                kbps = mbit * 1000
                for burst_label, burst in (("burst 80% (default)", 0),
                                           ("burst 10%", kbps // 10)):
                    apply([{"type": "bandwidth_limit", "direction": direction,
                            "max_kbps": kbps, "max_burst_kbps": burst}])
                    whole = statistics.median(iperf(vms[0], server_ip, seconds, reverse, 0)
                                              for _ in range(runs))
                    steady = statistics.median(iperf(vms[0], server_ip, seconds, reverse,
                                                     1) for _ in range(runs))
                    out.append((f"{mbit} Mbit/s {direction}, {burst_label}", mbit, whole,
                                steady))
            apply([])
        return out
    finally:
        stop_iperf_server(server)
        remove_host(host)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="iperf3 run length")
    ap.add_argument("--runs", type=int, default=3, help="iperf3 runs per setup")
    ap.add_argument("--limits", default="10,100", help="limits in Mbit/s")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("qos benchmark: needs root (namespaces, tc)")
    tag = f"kumo-b{uuid.uuid4().hex[:8]}"
    rows = run(tag, args.seconds, args.runs, [int(x) for x in args.limits.split(",")])
    print()
    print(f"{'iperf3, TCP, 1 stream (median)':<42}{'whole run':>12}{'vs limit':>10}"
          f"{'-O 1':>10}{'vs limit':>10}")
    print("-" * 84)
    for label, limit, whole, steady in rows:
        if limit is None:
            print(f"{label:<42}{whole:>12.1f}{'':>10}{steady:>10.1f}")
        else:
            print(f"{label:<42}{whole:>12.2f}{whole / limit - 1:>+10.1%}"
                  f"{steady:>10.2f}{steady / limit - 1:>+10.1%}")
    print("(Mbit/s the receiver got: TCP payload; the shaper counts Ethernet frames, so "
          "~4.4% of a full frame is headers)")
    for fact in machine_facts():
        print("machine: " + fact)
    print(f"load: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
