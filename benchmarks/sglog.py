"""Security group logs in the firewall model: what a log costs the host's nftables
model, without a kernel.

For 1, 100 and 1,000 ports of one host in one group with 10 rules: the time to build
the model (:func:`kumo.agent.sgmodel.build`, fresh memo, median of ``--runs``), its rule
count, and the nft commands of the transaction that turns the unlogged model into the
logged one (enabling a project-wide ``ALL`` log) and back (disabling it). Pure Python,
no root needed.

    python benchmarks/sglog.py [--runs 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from kumo.agent import sgmodel
from kumo.agent.secgroups import Actual, plan

HOST = "bench"


def state(ports: int, logs: list[dict]) -> dict:
    rules = [{"id": f"r{i:02d}", "direction": "ingress", "ethertype": "IPv4",
              "protocol": "icmp" if i % 2 else "tcp", "port_range_min": None if i % 2
              else 1000 + i, "port_range_max": None if i % 2 else 1000 + i,
              "remote_ip_prefix": f"10.{i}.0.0/16", "remote_group_id": None}
             for i in range(10)]
    group = {"id": "g" * 36, "stateful": True, "members": [], "rules": rules,
             "logs": logs}
    return {"security_groups": [group], "ports": [
        {"id": f"{i:08x}-0000-4000-8000-000000000000", "network_id": "n" * 36,
         "binding:host_id": HOST, "mac_address": f"fa:16:3e:00:{i >> 8:02x}:{i & 255:02x}",
         "fixed_ips": [{"ip_address": f"10.200.{i >> 8}.{i & 255}"}],
         "allowed_address_pairs": [], "security_groups": ["g" * 36],
         "port_security_enabled": True, "device_owner": "compute:nova"}
        for i in range(ports)]}


def timed(s: dict, runs: int) -> tuple[float, sgmodel.Model]:
    times, model = [], None
    for _ in range(runs):
        t = time.perf_counter()
        model = sgmodel.build(s, HOST, {}, {})
        times.append(time.perf_counter() - t)
    return statistics.median(times), model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    log = [{"id": "l" * 36, "event": "ALL", "target_id": None}]
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    print(f"{'ports':>6} {'build ms':>9} {'logged ms':>10} {'rules':>6} {'logged':>7} "
          f"{'enable cmds':>12} {'disable cmds':>13}")
    for n in (1, 100, 1000):
        t0, bare = timed(state(n, []), args.runs)
        t1, withlog = timed(state(n, log), args.runs)
        count = lambda m: sum(len(r) for r in m.chains.values())  # noqa: E731
        enable = len(plan(Actual.of(bare), withlog))
        disable = len(plan(Actual.of(withlog), bare))
        print(f"{n:>6} {t0 * 1e3:>9.1f} {t1 * 1e3:>10.1f} {count(bare):>6} "
              f"{count(withlog):>7} {enable:>12} {disable:>13}")


if __name__ == "__main__":
    main()
