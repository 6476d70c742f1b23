"""Security groups in the data plane: throughput through the nftables firewall, and the
time to apply a rule change to many ports.

1. **Throughput.** A simulated host (a namespace with a ``brq`` bridge) and two instance
   namespaces plugged as Nova does (``tap<port[:11]>`` <-> ``eth0``), iperf3 (TCP, one
   stream) from one instance to the other: without the firewall, then with the
   firewall driver filtering both ports with 10 and with 1,000 ingress rules in their
   group (the rule admitting iperf3 sorts last, so a new connection walks all of them),
   and with 1 rule (the one admitting iperf3) to separate the cost of filtering
   (br_netfilter, conntrack) from the cost of the number of rules.
   Runs alternate between the setups and the median of ``--runs`` is shown.
2. **Apply time.** Another simulated host with ``--ports`` ports bound to it in one
   security group (no devices needed: rules match device names). Times
   :meth:`FirewallDriver.sync` (model from the snapshot, diff, one ``nft`` transaction)
   for the first install, one rule added to the group, one member joining a remote
   group, and a resync that finds nothing to change.

The snapshots have the shape of ``GET /networking/kumo/v1/state`` (the driver reads
nothing else), so no server is started. Namespaces only (never the machine's own
networking), bounded runs, everything removed at the end, pass or fail. Root needed.

    python benchmarks/dataplane.py [--seconds 4] [--runs 3] [--ports 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import machine_facts  # noqa: E402
from kumo.agent.dataplane import links, names, netns, nft  # noqa: E402
from kumo.agent.secgroups import FirewallDriver  # noqa: E402
from kumo.agent.sgmodel import TABLE  # noqa: E402

HOSTNAME = "bench-host"
NET = "5e1f0000-0000-4000-8000-000000000001"
GROUP = "5e1f0000-0000-4000-8000-00000000000a"
IPERF_PORT = 5201


def port(i: int, group: str = GROUP) -> dict:
    """Port ``i`` as the state feed renders it."""
    return {"id": f"{i:08x}-0000-4000-8000-{i:012x}", "network_id": NET,
            "binding:host_id": HOSTNAME, "mac_address":
            f"fa:16:3e:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}",
            "fixed_ips": [{"subnet_id": "s", "ip_address":
                           f"10.{64 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"}],
            "allowed_address_pairs": [], "security_groups": [group],
            "port_security_enabled": True, "device_owner": "compute:nova",
            "device_id": f"vm-{i}"}


def rule(rid: int, **kw) -> dict:
    body = {"id": f"r{rid:06d}", "direction": "ingress", "ethertype": "IPv4",
            "protocol": None, "port_range_min": None, "port_range_max": None,
            "remote_ip_prefix": None, "remote_group_id": None}
    body.update(kw)
    return body


def group(n_rules: int, extra: list[dict] = ()) -> dict:
    """``n_rules`` ingress rules; the last one (by id) admits iperf3, the others never
    match it (TCP 10000+ from 192.0.2.x addresses)."""
    rules = [rule(0, direction="egress")]
    for i in range(1, n_rules):
        rules.append(rule(i, protocol="tcp", port_range_min=10000 + i,
                          port_range_max=10000 + i,
                          remote_ip_prefix=f"192.0.{2 + i // 256}.{i % 256}/32"))
    rules.append(rule(999999, protocol="tcp", port_range_min=IPERF_PORT,
                      port_range_max=IPERF_PORT, remote_ip_prefix="0.0.0.0/0"))
    rules += list(extra)
    return {"id": GROUP, "stateful": True, "rules": rules, "project_id": "p",
            "revision_number": 1}


def state(ports: list[dict], groups: list[dict], revision: int) -> dict:
    return {"revision": revision, "networks": [], "subnets": [], "ports": ports,
            "security_groups": groups, "routers": [], "floatingips": []}


def make_host(tag: str, suffix: str) -> netns.Host:
    root = netns.ensure_netns(netns.Host(), f"{tag}-{suffix}")
    return netns.Host(netns=root.path, run_dir=f"/run/{tag}-{suffix}/netns")


def remove_host(host: netns.Host) -> None:
    try:
        netns.remove_run_dir(host)
        os.rmdir(os.path.dirname(host.run_dir))
    except OSError:
        pass
    netns.delete_netns_path(host.netns)


# -- throughput -------------------------------------------------------------------------

def iperf(client: netns.Netns, server_ip: str, seconds: float) -> float:
    """Gbit/s of one TCP stream for ``seconds``."""
    out = netns.run(client, ["iperf3", "-c", server_ip, "-p", str(IPERF_PORT), "-t",
                             str(seconds), "-J"], timeout=seconds + 30).stdout
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9


def throughput(tag: str, seconds: float, runs: int) -> dict[str, float]:
    host = make_host(tag, "tp")
    server = None
    try:
        ports = [port(1), port(2)]
        bridge = names.bridge(NET)
        links.ensure_bridge(host.root, bridge)
        vms = []
        for i, p in enumerate(ports):
            vm = netns.ensure_netns(host, f"vm{i}")
            tap = names.tap(p["id"])
            links.ensure_veth(host.root, tap, "eth0", vm, up=False)
            links.set_master(host.root, tap, bridge)
            links.set_up(host.root, tap)
            links.set_mac(vm, "eth0", p["mac_address"])
            links.set_up(vm, "eth0")
            links.ensure_address(vm, "eth0", p["fixed_ips"][0]["ip_address"] + "/8")
            vms.append(vm)
        server_ip = ports[1]["fixed_ips"][0]["ip_address"]
        server = subprocess.Popen(["nsenter", f"--net={vms[1].path}", "iperf3", "-s",
                                   "-p", str(IPERF_PORT)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.5)
        driver = FirewallDriver(HOSTNAME, where=host)
        setups = {"no firewall (no tables)": None, "firewall, 1 rule": 1,
                  "firewall, 10 rules": 10, "firewall, 1,000 rules": 1000}
        results: dict[str, list[float]] = {k: [] for k in setups}
        for r in range(runs):
            for label, n in setups.items():
                if n is None:
                    driver.sync(state([], [], r))  # removes our tables
                    assert not any(t == TABLE for _, t in nft.list_tables(host.root))
                else:
                    driver.sync(state(ports, [group(n)], r))
                results[label].append(iperf(vms[0], server_ip, seconds))
        return {k: statistics.median(v) for k, v in results.items()}
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        remove_host(host)


# -- apply time -------------------------------------------------------------------------

def apply_times(tag: str, n_ports: int) -> list[tuple[str, float, int]]:
    host = make_host(tag, "ap")
    try:
        driver = FirewallDriver(HOSTNAME, where=host)
        ports = [port(i) for i in range(1, n_ports + 1)]
        other = "5e1f0000-0000-4000-8000-00000000000b"
        remote = rule(500000, protocol="tcp", port_range_min=22, port_range_max=22,
                      remote_group_id=other)
        outsider = dict(port(n_ports + 1, group=other), **{"binding:host_id": "elsewhere"})
        base = group(10, [remote])
        og = {"id": other, "stateful": True, "rules": [], "project_id": "p",
              "revision_number": 1}
        out = []

        def timed(label: str, st: dict) -> None:
            t0 = time.perf_counter()
            cmds = driver.sync(st)
            out.append((label, time.perf_counter() - t0, cmds))

        timed(f"install {n_ports} ports", state(ports, [base, og], 1))
        changed = dict(base, rules=base["rules"] + [rule(600000, protocol="udp",
                                                         port_range_min=53,
                                                         port_range_max=53)])
        timed("add one rule to their group", state(ports, [changed, og], 2))
        timed("a member joins a remote group",
              state(ports + [outsider], [changed, og], 3))
        timed("resync, nothing changed", state(ports + [outsider], [changed, og], 4))
        return out
    finally:
        remove_host(host)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="iperf3 run length")
    ap.add_argument("--runs", type=int, default=3, help="iperf3 runs per setup")
    ap.add_argument("--ports", type=int, default=1000, help="ports for the apply time")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("dataplane benchmark: needs root (namespaces, nftables)")
    tag = f"kumo-b{uuid.uuid4().hex[:8]}"

    tp = throughput(tag, args.seconds, args.runs)
    none, one = tp["no firewall (no tables)"], tp["firewall, 1 rule"]
    print()
    print(f"{'iperf3, TCP, 1 stream (median of runs)':<40}{'Gbit/s':>10}{'vs none':>10}"
          f"{'vs 1 rule':>10}")
    print("-" * 70)
    for label, gbps in tp.items():
        print(f"{label:<40}{gbps:>10.2f}{gbps / none * 100:>9.1f}%"
              f"{gbps / one * 100:>9.1f}%")

    print()
    print(f"{'apply (FirewallDriver.sync)':<40}{'seconds':>10}{'nft cmds':>10}")
    print("-" * 70)
    for label, secs, cmds in apply_times(tag, args.ports):
        print(f"{label:<40}{secs:>10.3f}{cmds:>10}")
    print()
    for fact in machine_facts():
        print("machine: " + fact)
    print("note: iperf3 client, server and the kernel's bridge share the same cores")


if __name__ == "__main__":
    main()
