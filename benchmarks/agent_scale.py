"""An agent on a big host: restart with thousands of ports, and one new port on it.

A real :class:`~kumo.agent.agent.Agent` (informer, WorkQueue, workers, status reports)
runs the real L2 (``linuxbridge``) and firewall (``firewall``: nftables security groups)
drivers in a simulated host (a network namespace, see :mod:`benchmarks.dataplane`)
against an in-memory controller stub serving a snapshot of ``--ports`` ports bound to
the host over ``--networks`` VXLAN networks (each with two other hosts' ports in its L2
population) in ``--groups`` security groups (every port in one group and the shared
``default`` group, which admits its own members: a remote-group set of every port).

The stub behaves as the controller does where it matters for the agent: every snapshot
is a fresh JSON-decoded copy (as the client gets it), a status report changes the port
(its ``status``) and so appends a change, which wakes the agent's long poll, whose
informer then re-reads the whole snapshot. A status call costs ``--report-ms`` (one at a
time, as the controller's writer serializes them); with ``--batch-route`` the stub also
offers ``report_statuses(kind, {id: status})`` (one call for many,
``--report-ms`` plus 2 % per item), the batched route being added by another change.

Each port has its ``tap<port[:11]>`` device in the host's namespace before the agent
starts (veth pairs, their peers in one namespace standing for the instances).

Measured:

1. **cold restart**: taps present but unplugged, no bridges, no firewall tables, every
   port DOWN in the API (the state after a reboot or a first start): seconds until all
   ports are reported ACTIVE, and until the realized revision reaches the snapshot's;
   then checked in the kernel (every tap on its bridge, one port mark per port).
2. **warm restart**: a new agent over the realized host (ports ACTIVE in the API):
   seconds until it has nothing left to do (realized revision).
3. **new port on the busy host**: one port added to the snapshot (a change) and its tap
   made: seconds until it is reported ACTIVE (median of ``--new`` ports, one at a time).

Namespaces only, bounded waits, everything removed at the end, pass or fail. Root needed.

    python benchmarks/agent_scale.py [--ports 3000] [--networks 100] [--groups 10]
        [--workers 4] [--report-ms 2] [--batch-route] [--new 5]

To see where the time goes, run it under py-spy (in a throwaway venv:
``python3 -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install py-spy``), e.g.
``py-spy record --idle -f raw -o prof.txt -- python benchmarks/agent_scale.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.dataplane import make_host, remove_host  # noqa: E402
from benchmarks.harness import machine_facts  # noqa: E402
from kumo.agent.dataplane import links, names, netns  # noqa: E402

HOSTNAME = "bench-big"
LOCAL_IP = "192.0.2.1"
DEFAULT_GROUP = "de000000-0000-4000-8000-000000000000"


def _uid(prefix: str, i: int) -> str:
    return f"{prefix}{i:07x}-0000-4000-8000-{i:012x}"


def big_state(n_ports: int, n_nets: int, n_groups: int) -> dict:
    """The host's snapshot: ``n_nets`` VXLAN networks with one subnet each, ``n_ports``
    compute ports spread over them, security groups with a few rules each."""
    nets, subnets, ports = [], [], []
    for n in range(n_nets):
        nid = _uid("a", n)
        peers = [{"host": f"other-{h}", "tunneling_ip": f"192.0.2.{10 + h}",
                  "mac_address": f"fa:16:3f:{h:02x}:{n >> 8:02x}:{n & 255:02x}",
                  "ip_addresses": [f"10.{n // 256}.{n % 256}.{250 + h}"]}
                 for h in range(2)]
        nets.append({"id": nid, "name": f"net{n}", "network_type": "vxlan",
                     "segmentation_id": 1000 + n, "mtu": 1450, "admin_state_up": True,
                     "status": "ACTIVE", "project_id": "p", "revision_number": 1,
                     "l2_population": peers})
        subnets.append({"id": _uid("b", n), "network_id": nid, "ip_version": 4,
                        "cidr": f"10.{n // 256}.{n % 256}.0/24", "enable_dhcp": False,
                        "gateway_ip": f"10.{n // 256}.{n % 256}.1", "project_id": "p",
                        "revision_number": 1})
    groups = []
    for g in range(n_groups):
        gid = _uid("c", g)
        groups.append({"id": gid, "name": f"sg{g}", "stateful": True, "project_id": "p",
                       "revision_number": 1, "rules": [
                           {"id": f"{gid}-r1", "direction": "egress", "ethertype": "IPv4",
                            "protocol": None, "port_range_min": None,
                            "port_range_max": None, "remote_ip_prefix": None,
                            "remote_group_id": None},
                           {"id": f"{gid}-r2", "direction": "ingress", "ethertype": "IPv4",
                            "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
                            "remote_ip_prefix": "0.0.0.0/0", "remote_group_id": None},
                           {"id": f"{gid}-r3", "direction": "ingress", "ethertype": "IPv4",
                            "protocol": "tcp", "port_range_min": 8000 + g,
                            "port_range_max": 8000 + g, "remote_ip_prefix": None,
                            "remote_group_id": gid}]})
    for i in range(n_ports):
        ports.append(new_port(i, n_nets, n_groups))
    groups.append({"id": DEFAULT_GROUP, "name": "default", "stateful": True,
                   "project_id": "p", "revision_number": 1, "rules": [
                       {"id": "d-r1", "direction": "ingress", "ethertype": "IPv4",
                        "protocol": None, "port_range_min": None, "port_range_max": None,
                        "remote_ip_prefix": None, "remote_group_id": DEFAULT_GROUP}]})
    for g in groups:
        g["members"] = [ip["ip_address"] for p in ports if g["id"] in p["security_groups"]
                        for ip in p["fixed_ips"]]
    return {"revision": 1, "networks": nets, "subnets": subnets, "ports": ports,
            "security_groups": groups, "routers": [], "floatingips": []}


def new_port(i: int, n_nets: int, n_groups: int) -> dict:
    n = i % n_nets
    k = i // n_nets + 2
    return {"id": _uid("e", i), "name": "", "network_id": _uid("a", n),
            "binding:host_id": HOSTNAME, "device_owner": "compute:nova",
            "device_id": _uid("f", i), "admin_state_up": True, "status": "DOWN",
            "mac_address": f"fa:16:3e:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:"
                           f"{i & 255:02x}",
            "fixed_ips": [{"subnet_id": _uid("b", n),
                           "ip_address": f"10.{n // 256}.{n % 256}.{k}"}],
            "allowed_address_pairs": [], "port_security_enabled": True,
            "security_groups": [_uid("c", i % n_groups), DEFAULT_GROUP],
            "project_id": "p", "revision_number": 1}


class Controller:
    """The controller as the agent sees it (see the module doc)."""

    def __init__(self, state: dict, report_s: float, batch_route: bool):
        self.state = state
        self.report_s = report_s
        self._cond = threading.Condition()
        self._writer = threading.Lock()
        self._ports = {p["id"]: p for p in state["ports"]}
        self.snapshots = 0
        self.calls = 0
        self.active: set[str] = {p["id"] for p in state["ports"] if p["status"] == "ACTIVE"}
        self.active_at: dict[str, float] = {}
        if batch_route:
            self.report_statuses = self._report_many

    # -- reads ---------------------------------------------------------------------
    def snapshot(self, host):
        with self._cond:  # a consistent copy; rendered outside the lock, as a
            self.snapshots += 1  # database serves reads beside writes
            st = dict(self.state, ports=[dict(p) for p in self.state["ports"]])
        return json.loads(json.dumps(st))

    def changes(self, since, host, wait):
        deadline = time.monotonic() + min(wait, 1.0)
        with self._cond:
            while self.state["revision"] <= since:
                left = deadline - time.monotonic()
                if left <= 0:
                    return {"revision": since, "changes": []}
                self._cond.wait(left)
            return {"revision": self.state["revision"],
                    "changes": [{"revision": self.state["revision"]}]}

    def heartbeat(self, *args, **kwargs):
        return []

    # -- writes ----------------------------------------------------------------------
    def bump(self, mutate=None) -> None:
        with self._cond:
            if mutate is not None:
                mutate(self.state)
                self._ports = {p["id"]: p for p in self.state["ports"]}
            self.state["revision"] += 1
            self._cond.notify_all()

    def _set(self, port_id: str, status: str) -> None:
        p = self._ports.get(port_id)
        if p is None:
            from kumo.agent.client import NotFound
            raise NotFound(port_id)
        if p["status"] != status:
            p["status"] = status
            p["revision_number"] += 1
            self.state["revision"] += 1
        if status == "ACTIVE":
            self.active.add(port_id)
            self.active_at.setdefault(port_id, time.monotonic())
        else:
            self.active.discard(port_id)

    def report_port_status(self, port_id, status):
        with self._writer:
            time.sleep(self.report_s)
            with self._cond:
                self.calls += 1
                self._set(port_id, status)
                self._cond.notify_all()

    def _report_many(self, kind, by_id):
        statuses = [{"id": i, "status": st} for i, st in by_id.items()]
        with self._writer:
            time.sleep(self.report_s * (1 + 0.02 * len(statuses)))
            with self._cond:
                self.calls += 1
                for item in statuses:
                    try:
                        self._set(item["id"], item["status"])
                    except Exception:  # noqa: BLE001 - a gone port is skipped
                        pass
                self._cond.notify_all()
        return []

    def report_floatingip_status(self, fip_id, status):
        self.calls += 1


def make_taps(host: netns.Host, sink: netns.Netns, ports: list[dict]) -> None:
    """A veth per port: ``tap<port[:11]>`` in the host's namespace, down and unplugged
    (as an instance's tap before the L2 agent plugs it), its peer in the namespace
    ``sink`` standing for the instances; over one netlink socket."""
    fd = os.open(sink.path, os.O_RDONLY)
    try:
        with netns.shared_ipr(host.root) as ipr:
            for p in ports:
                ipr.link("add", ifname=names.tap(p["id"]), kind="veth",
                         peer={"ifname": "v" + p["id"][:11], "net_ns_fd": fd})
    finally:
        os.close(fd)


def _until(pred, bound_s: float, what: str) -> float:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > bound_s:
            raise SystemExit(f"{what}: not reached within {bound_s:.0f} s")
        time.sleep(0.01)
    return time.monotonic() - t0


def make_agent(ctl: Controller, host: netns.Host, workers: int):
    from kumo.agent.agent import Agent
    from kumo.agent.l2 import LinuxBridgeDriver
    from kumo.agent.secgroups import FirewallDriver

    drivers = [LinuxBridgeDriver(HOSTNAME, where=host, local_ip=LOCAL_IP),
               FirewallDriver(HOSTNAME, where=host)]
    return Agent(ctl, HOSTNAME, drivers, workers=workers, resync_s=3600,
                 heartbeat_s=3600, wait_s=1.0)


def check_kernel(host: netns.Host, state: dict) -> None:
    """Every port's tap on its network's bridge and up; one port mark per port."""
    by_name = {lk.name: lk for lk in links.list_links(host.root)}
    bad = 0
    for p in state["ports"]:
        tap = by_name.get(names.tap(p["id"]))
        br = by_name.get(names.bridge(p["network_id"]))
        if tap is None or br is None or tap.master != br.index or not tap.up:
            bad += 1
    doc = json.loads(netns.run(host.root, ["nft", "-j", "list", "map", "bridge", "kumo_sg",
                                          "port_marks"]).stdout)
    marks = next(o["map"] for o in doc["nftables"] if "map" in o).get("elem", [])
    if bad or len(marks) != len(state["ports"]):
        raise SystemExit(f"kernel check: {bad} taps not plugged, {len(marks)} port "
                         f"marks for {len(state['ports'])} ports")


def run(args) -> dict[str, float]:
    tag = f"kumo-b{uuid.uuid4().hex[:8]}"
    host = make_host(tag, "big")
    agent = None
    out: dict[str, float] = {}
    try:
        links.ensure_bridge(host.root, "underlay")
        links.ensure_address(host.root, "underlay", f"{LOCAL_IP}/24")
        links.set_up(host.root, "underlay")
        sink = netns.ensure_netns(host, "vms")
        state = big_state(args.ports, args.networks, args.groups)
        t0 = time.monotonic()
        make_taps(host, sink, state["ports"])
        out["making the taps (not the agent)"] = time.monotonic() - t0
        ctl = Controller(state, args.report_ms / 1000.0, args.batch_route)
        n = len(state["ports"])
        bound = args.bound

        # 1. cold restart
        agent = make_agent(ctl, host, args.workers)
        t0 = time.monotonic()
        agent.start()
        out["cold: all ports ACTIVE"] = _until(lambda: len(ctl.active) >= n, bound,
                                               "cold restart")
        _until(lambda: agent.realized_revision is not None
               and agent.realized_revision >= 1 and agent.queue.idle(), bound, "realized")
        out["cold: agent idle (realized)"] = time.monotonic() - t0
        out["cold: status calls"] = ctl.calls
        out["cold: snapshots read"] = ctl.snapshots
        check_kernel(host, ctl.state)
        agent.stop()

        # 2. warm restart
        calls, snaps = ctl.calls, ctl.snapshots
        agent = make_agent(ctl, host, args.workers)
        target = ctl.state["revision"]
        t0 = time.monotonic()
        agent.start()
        out["warm: agent idle (realized)"] = _until(
            lambda: (agent.realized_revision or 0) >= target and agent.queue.idle(),
            bound, "warm restart")
        out["warm: status calls"] = ctl.calls - calls
        out["warm: snapshots read"] = ctl.snapshots - snaps

        # 3. new ports, one at a time, on the busy host
        secs = []
        for j in range(args.new):
            p = new_port(args.ports + j, args.networks, args.groups)
            t0 = time.monotonic()
            ctl.bump(lambda st: st["ports"].append(p))
            make_taps(host, sink, [p])
            _until(lambda: p["id"] in ctl.active, bound, "new port")
            secs.append(ctl.active_at[p["id"]] - t0)
            time.sleep(0.3)
        out["new port: ACTIVE (median)"] = statistics.median(secs)
        out["new port: ACTIVE (max)"] = max(secs)
        return out
    finally:
        if agent is not None:
            agent.stop()
        remove_host(host)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ports", type=int, default=3000)
    ap.add_argument("--networks", type=int, default=100)
    ap.add_argument("--groups", type=int, default=10)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--report-ms", type=float, default=2.0,
                    help="simulated cost of one status call at the controller")
    ap.add_argument("--batch-route", action="store_true",
                    help="the controller offers the batched status route")
    ap.add_argument("--new", type=int, default=5, help="new ports to time")
    ap.add_argument("--bound", type=float, default=600.0, help="give up after (s)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("agent_scale benchmark: needs root (namespaces, nftables)")
    import logging
    logging.basicConfig(level=logging.WARNING)
    res = run(args)
    print()
    print(f"agent on one host: {args.ports} ports, {args.networks} networks, "
          f"{args.groups + 1} security groups, {args.workers} workers, status call "
          f"{args.report_ms:g} ms ({'batched route' if args.batch_route else 'single'})")
    print("-" * 70)
    for label, v in res.items():
        print(f"{label:<50}{v:>12.2f}" if isinstance(v, float) else f"{label:<50}{v:>12}")
    for fact in machine_facts():
        print("machine: " + fact)


if __name__ == "__main__":
    main()
