"""Firewall groups and metering in a router namespace: the time to apply a router's
tables and the forwarding throughput through them.

A simulated host (a namespace with a private run dir) holds three namespaces: a client
(``10.80.1.2/24``), a router (``qr-`` leg ``10.80.1.1/24``, ``qg-`` leg ``10.80.2.1/24``,
forwarding on) and a server (``10.80.2.2/24``), joined by veth pairs. The router's
item has the shape of the feed's (``firewall``, ``metering_labels``), so no server is
started; :class:`kumo.agent.fwaas.RouterTables` applies it as the L3 driver does.

For each setup: no firewall; a group on the ``qr-`` port with 1, 100 and 1,000 egress
rules (the rule allowing iperf3 comes last, so a new connection walks all of them) and
a metering label with 10 rules: the apply time (median of ``--runs`` fresh installs)
and iperf3 TCP throughput client -> server, one stream and ``--streams`` parallel
streams (median of ``--runs`` runs of ``--seconds``). Namespaces only, bounded runs,
everything removed at the end, pass or fail. Root needed.

    python benchmarks/fwaas.py [--seconds 3] [--runs 3] [--streams 8]
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
from kumo.agent import fwaas  # noqa: E402
from kumo.agent.dataplane import links, names, netns, nft  # noqa: E402

IPERF_PORT = 5301
PORT = "f3a00000-0000-4000-8000-000000000001"
GW = "f3a00000-0000-4000-8000-000000000002"
ROUTER = "f3a00000-0000-4000-8000-00000000000f"


def router_item(n_rules: int | None, labels: int = 0) -> dict:
    """The router's feed item: ``n_rules`` egress rules (None: no firewall group), the
    last one allowing iperf3's port; ``labels`` metering labels of 10 rules."""
    item: dict = {"id": ROUTER, "project_id": "p", "interfaces": [{"port_id": PORT}],
                  "firewall": [], "metering_labels": []}
    if n_rules is not None:
        rules = [{"id": f"r{i}", "protocol": "tcp", "ip_version": 4,
                  "source_ip_address": None, "destination_ip_address": f"10.81.{i // 250}."
                  f"{i % 250 + 1}", "source_port": None, "destination_port": str(1000 + i),
                  "action": "deny"} for i in range(n_rules - 1)]
        rules.append({"id": "allow", "protocol": "tcp", "ip_version": 4,
                      "source_ip_address": None, "destination_ip_address": None,
                      "source_port": None, "destination_port": str(IPERF_PORT),
                      "action": "allow"})
        allow_all = [{"id": "all", "protocol": None, "ip_version": 4,
                      "source_ip_address": None, "destination_ip_address": None,
                      "source_port": None, "destination_port": None, "action": "allow"}]
        item["firewall"] = [{"port_id": PORT, "firewall_group_id": "g", "egress": rules,
                             "ingress": allow_all, "logs": []}]
    for n in range(labels):
        item["metering_labels"].append({"id": f"{n:08d}-0000-4000-8000-000000000000",
                                        "rules": [{"id": f"m{n}-{i}", "direction": "egress",
                                                   "excluded": False,
                                                   "source_ip_prefix": None,
                                                   "destination_ip_prefix":
                                                   f"10.{80 + i}.0.0/16"}
                                                  for i in range(10)]})
    return item


def iperf(client: netns.Netns, seconds: float, streams: int) -> float:
    out = netns.run(client, ["iperf3", "-c", "10.80.2.2", "-p", str(IPERF_PORT), "-t",
                             str(seconds), "-P", str(streams), "-J"],
                    timeout=seconds + 30).stdout
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--streams", type=int, default=8)
    args = ap.parse_args()
    tag = f"kumo-b{uuid.uuid4().hex[:8]}"
    root = netns.ensure_netns(netns.Host(), f"{tag}-fw")
    host = netns.Host(netns=root.path, run_dir=f"/run/{tag}-fw/netns")
    server = None
    try:
        cli, rns, srv = (netns.ensure_netns(host, n) for n in ("cli", "rtr", "srv"))
        qr, qg = names.router_interface(PORT), names.router_gateway(GW)
        links.ensure_veth(cli, "eth0", qr, rns)
        links.ensure_veth(srv, "eth0", qg, rns)
        for ns, dev, cidr in ((cli, "eth0", "10.80.1.2/24"), (rns, qr, "10.80.1.1/24"),
                              (rns, qg, "10.80.2.1/24"), (srv, "eth0", "10.80.2.2/24")):
            links.ensure_address(ns, dev, cidr)
            links.set_up(ns, dev)
        for ns in (cli, rns, srv):
            links.set_up(ns, "lo")
        links.set_ip_forward(rns, True)
        links.ensure_route(cli, "0.0.0.0/0", gateway="10.80.1.1")
        links.ensure_route(srv, "0.0.0.0/0", gateway="10.80.2.1")
        server = subprocess.Popen(["nsenter", f"--net={srv.path}", "iperf3", "-s", "-p",
                                   str(IPERF_PORT)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.5)
        print("\n".join(machine_facts()))
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        print(f"{'setup':<34}{'apply ms':>10}{'1 stream Gbit/s':>17}"
              f"{f'{args.streams} streams Gbit/s':>19}")
        for label, n_rules, labels in (("no firewall", None, 0),
                                       ("group, 1 rule", 1, 0),
                                       ("group, 100 rules", 100, 0),
                                       ("group, 1,000 rules", 1000, 0),
                                       ("group 1,000 rules + 1 label", 1000, 1)):
            item = router_item(n_rules, labels)
            applies = []
            for _ in range(args.runs):
                for table in (fwaas.FW_TABLE, fwaas.METER_TABLE):
                    nft.delete_table(rns, fwaas.FAMILY, table)
                tables = fwaas.RouterTables()
                t0 = time.perf_counter()
                tables.sync(rns, item, qg)
                applies.append((time.perf_counter() - t0) * 1000)
            one = statistics.median(iperf(cli, args.seconds, 1) for _ in range(args.runs))
            many = statistics.median(iperf(cli, args.seconds, args.streams)
                                     for _ in range(args.runs))
            print(f"{label:<34}{statistics.median(applies):>10.1f}{one:>17.2f}{many:>19.2f}")
            if labels:
                print("  metering counters:", fwaas.counters(rns))
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if server is not None:
            server.kill()
            server.wait(10)
        try:
            for name in netns.list_netns(host):
                netns.delete_netns(host, name)
            netns.remove_run_dir(host)
            os.rmdir(os.path.dirname(host.run_dir))
        except OSError:
            pass
        netns.delete_netns_path(host.netns)


if __name__ == "__main__":
    main()
