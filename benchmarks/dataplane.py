"""Security groups in the data plane: throughput through the nftables firewall, and the
time to apply a rule change to many ports.

1. **Throughput.** A simulated host (a namespace with a ``brq`` bridge) and two instance
   namespaces plugged as Nova does (``tap<port[:11]>`` <-> ``eth0``), iperf3 (TCP) from one
   instance to the other: without the firewall, then with the
   firewall driver filtering both ports with 10 and with 1,000 ingress rules in their
   group (the rule admitting iperf3 sorts last, so a new connection walks all of them),
   and with 1 rule (the one admitting iperf3) to separate the cost of filtering
   (br_netfilter, conntrack) from the cost of the number of rules; and a stateless
   group (untracked, with the reply rule) with 10 and 1,000 rules, where every packet
   walks the rules.
   Each is measured with 1 and with 64 parallel streams (``--streams``, iperf3 ``-P``;
   the source saw iptables collapse past about 10 flows). Runs alternate between the
   setups (in reverse order every other run) and the median of ``--runs`` is shown.
2. **Apply time.** Another simulated host with ``--ports`` ports bound to it in one
   security group (no devices needed: rules match device names). Times
   :meth:`FirewallDriver.sync` (model from the snapshot, diff, one ``nft`` transaction)
   for the first install, one rule added to the group, one member joining a remote
   group, and a resync that finds nothing to change.
3. **Routers.** A third simulated host with ``br-ex``, and a real
   :class:`~kumo.agent.agent.Agent` (its informer, queue and workers) running the L3
   driver (with its metadata proxy) against an in-memory controller stub. ``--routers``
   routers with a gateway (``qg-`` on the external network), one interface and one
   extra route appear in one snapshot revision, as after an agent restart or an API
   outage; timed until the agent's realized revision reaches it (namespaces, legs,
   addresses, routes, SNAT table, proxy: everything ready).
4. **Repair time.** On the apply-time host (``--ports`` ports installed), the driver's kernel
   watch running and each requeued key reconciled at once (as an idle agent's worker
   would): seconds from ``nft delete table`` of ``inet kumo_sg``, ``bridge kumo_sg`` and
   ``bridge kumo_guard`` to the table back. And with ``busybox-static``: a cirros
   instance of the ``netns`` compute driver plugged by the L2 driver, both watching;
   seconds from deleting its tap to the tap made again and plugged into its bridge, and
   to the guest having its IPv4 address again (from a dnsmasq on the bridge).

The snapshots have the shape of ``GET /networking/kumo/v1/state`` (the driver reads
nothing else), so no server is started. Namespaces only (never the machine's own
networking), bounded runs, everything removed at the end, pass or fail. Root needed.

    python benchmarks/dataplane.py [--seconds 4] [--runs 3] [--ports 1000] [--routers 100]
                                   [--only routers|firewall] [--repair-only]
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
#: Seconds between a firewall change and the next measurement (the kernel frees the old
#: rules after a transaction).
SETTLE_S = 1.0


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


def stateless_group(n_rules: int) -> dict:
    """:func:`group` with ``stateful`` false and the reply rule a stateless group needs
    (TCP to the client's ephemeral ports), sorting just before the iperf3 rule: every
    packet, not only a connection's first, walks the rules before it."""
    body = group(n_rules, [rule(999998, protocol="tcp", port_range_min=32768,
                                port_range_max=60999, remote_ip_prefix="0.0.0.0/0")])
    return dict(body, stateful=False)


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


def plug_vms(host: netns.Host, ports: list[dict], net: str) -> list[netns.Netns]:
    """An instance namespace ``vm<i>`` per port, plugged into ``net``'s bridge as Nova
    does (``tap<port[:11]>`` <-> ``eth0`` with the port's MAC and address /8)."""
    bridge = names.bridge(net)
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
    return vms


def iperf_server(vm: netns.Netns, port_number: int) -> subprocess.Popen:
    """``iperf3 -s`` inside ``vm`` (at most 30 minutes; the caller kills it), given
    half a second to listen."""
    server = subprocess.Popen(["timeout", "1800", "nsenter", f"--net={vm.path}", "iperf3",
                               "-s", "-p", str(port_number)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(0.5)
    return server


def stop_iperf_server(server: subprocess.Popen | None) -> None:
    """Stop what :func:`iperf_server` started (its whole session), if anything."""
    if server is None:
        return
    try:
        os.killpg(server.pid, 15)
    except ProcessLookupError:
        pass
    server.wait(10)


# -- throughput -------------------------------------------------------------------------

def iperf(client: netns.Netns, server_ip: str, seconds: float, streams: int = 1) -> float:
    """Gbit/s received of ``streams`` parallel TCP streams (one iperf3 client, ``-P``)
    for ``seconds``; a failed run (the server still busy with the last one) is retried
    twice after a second."""
    for attempt in range(3):
        out = netns.run(client, ["iperf3", "-c", server_ip, "-p", str(IPERF_PORT), "-t",
                                 str(seconds), "-P", str(streams), "-J"],
                        timeout=seconds + 60, check=False).stdout
        body = None
        try:
            body = json.loads(out)
            return body["end"]["sum_received"]["bits_per_second"] / 1e9
        except (ValueError, KeyError):
            err = body.get("error") if isinstance(body, dict) else out[-200:]
            print(f"iperf3 ({streams} streams) failed: {err}", file=sys.stderr)
            time.sleep(1.0)
    raise SystemExit("iperf3 failed three times")


def throughput(tag: str, seconds: float, runs: int,
               streams: tuple[int, ...] = (1, 64)) -> dict[tuple[str, int], float]:
    """Median Gbit/s per ``(setup, streams)``; every run goes through all setups and
    stream counts in turn, so a change in the machine's load spreads over all."""
    host = make_host(tag, "tp")
    server = None
    try:
        ports = [port(1), port(2)]
        vms = plug_vms(host, ports, NET)
        server_ip = ports[1]["fixed_ips"][0]["ip_address"]
        server = iperf_server(vms[1], IPERF_PORT)
        driver = FirewallDriver(HOSTNAME, where=host)
        setups = {"no firewall (no tables)": None, "firewall, 1 rule": 1,
                  "firewall, 10 rules": 10, "firewall, 1,000 rules": 1000,
                  "stateless group, 10 rules": -10, "stateless group, 1,000 rules": -1000}
        results: dict[tuple[str, int], list[float]] = {
            (k, n): [] for n in streams for k in setups}
        for r in range(runs):
            order = list(setups.items())
            if r % 2:
                order.reverse()  # no setup always follows the same one
            for label, n in order:
                if n is None:
                    driver.sync(state([], [], r))  # removes our tables
                    assert not any(t == TABLE for _, t in nft.list_tables(host.root))
                else:
                    driver.sync(state(ports, [group(n) if n > 0 else
                                              stateless_group(-n)], r))
                time.sleep(SETTLE_S)
                for k in streams:
                    results[(label, k)].append(iperf(vms[0], server_ip, seconds, k))
        out = {k: statistics.median(v) for k, v in results.items()}
        driver.sync(state(ports, [group(1000)], runs))
        out[("reached", max(streams))] = rules_reached(host, vms[0], server_ip,
                                                       max(streams))
        return out
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        remove_host(host)


def rules_reached(host: netns.Host, client: netns.Netns, server_ip: str,
                  streams: int) -> tuple[int, int]:
    """``(packets that reached a group's rules, packets filtered)`` during a 2 s iperf3
    run with ``streams`` streams: a ``counter`` rule is put first in the group chains
    and in the shared port chains (the driver is done with this table afterwards)."""
    objs = nft.list_table(host.root, "inet", TABLE) or []
    chains = [o["chain"]["name"] for o in objs if "chain" in o
              and o["chain"]["name"].startswith(("sg-", "ps-"))]
    for c in chains:
        netns.run(host.root, ["nft", "insert", "rule", "inet", TABLE, c, "counter"])
    iperf(client, server_ip, 2.0, streams)
    seen = {"sg": 0, "ps": 0}
    for o in nft.list_table(host.root, "inet", TABLE) or []:
        r = o.get("rule")
        if r and r["chain"] in chains:
            for e in r["expr"]:
                if "counter" in e:
                    seen[r["chain"][:2]] += e["counter"]["packets"]
    return seen["sg"], seen["ps"]


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


# -- routers ----------------------------------------------------------------------------

EXT_NET = "e0000000-0000-4000-8000-000000000001"


class StubController:
    """The agent's controller client over one in-memory snapshot: no changes feed (the
    long poll just waits), status reports and heartbeats are counted."""

    def __init__(self, snapshot: dict):
        self.state = snapshot
        self.reports = 0
        self.snapshots = 0

    def snapshot(self, host):
        self.snapshots += 1
        return self.state

    def changes(self, since, host, wait):
        time.sleep(min(wait, 0.2))
        return {"revision": since, "changes": []}

    def heartbeat(self, *args, **kwargs):
        return {}

    def report_port_status(self, port_id, status):
        self.reports += 1

    def report_floatingip_status(self, fip_id, status):
        self.reports += 1


def router_state(n: int) -> dict:
    """``n`` routers hosted on HOSTNAME, each with a gateway on 172.24.0.0/16, one
    interface on its own 10.x.y.0/24 network and one extra route."""
    routers, networks = [], [{"id": EXT_NET, "mtu": 1500}]
    for i in range(n):
        uid = f"a{i:07x}-0000-4000-8000-{i:012x}"
        net = f"d{i:07x}-0000-4000-8000-{i:012x}"
        networks.append({"id": net, "mtu": 1450})
        gw_ip = f"172.24.{4 + (i + 2) // 250}.{(i + 2) % 250 + 2}"
        routers.append({
            "id": uid, "project_id": "p", "host": HOSTNAME, "admin_state_up": True,
            "enable_snat": True, "distributed": False, "ha": False,
            "gateway": {"port_id": f"b{i:07x}-0000-4000-8000-{i:012x}",
                        "network_id": EXT_NET, "mac_address": f"fa:16:3e:01:{i >> 8:02x}:{i & 255:02x}",
                        "fixed_ips": [{"subnet_id": "ext", "ip_address": gw_ip,
                                       "cidr": "172.24.0.0/16", "gateway_ip": "172.24.4.1"}]},
            "interfaces": [{"port_id": f"c{i:07x}-0000-4000-8000-{i:012x}",
                            "network_id": net, "mac_address": f"fa:16:3e:02:{i >> 8:02x}:{i & 255:02x}",
                            "fixed_ips": [{"subnet_id": f"s{i}",
                                           "ip_address": f"10.{100 + i // 256}.{i % 256}.1",
                                           "cidr": f"10.{100 + i // 256}.{i % 256}.0/24",
                                           "gateway_ip": f"10.{100 + i // 256}.{i % 256}.1"}]}],
            "routes": [{"destination": "192.168.77.0/24",
                        "nexthop": f"10.{100 + i // 256}.{i % 256}.254"}],
            "revision_number": 1})
    return {"revision": 1, "networks": networks, "subnets": [], "ports": [],
            "security_groups": [], "routers": routers, "floatingips": []}


def router_times(tag: str, n: int, workers: int) -> dict[str, float]:
    """Seconds for the agent to realize ``n`` routers from nothing, then to find
    nothing to do on a full resync."""
    from kumo.agent.agent import Agent
    from kumo.agent.l3 import L3Driver
    from kumo.agent.metadata import MetadataProxy

    host = make_host(tag, "l3")
    agent = None
    try:
        links.ensure_bridge(host.root, "br-ex")
        links.ensure_address(host.root, "br-ex", "172.24.4.1/16")
        proxy = MetadataProxy(None, secret="bench", metadata_url="http://127.0.0.1:9/m")
        driver = L3Driver(HOSTNAME, where=host, metadata_proxy=proxy)
        stub = StubController(router_state(n))
        agent = Agent(stub, HOSTNAME, [driver], workers=workers, resync_s=3600,
                      heartbeat_s=3600, wait_s=0.2)
        t0 = time.perf_counter()
        agent.start()
        limit = max(120.0, n * 3.0)
        deadline = time.monotonic() + limit
        while agent.realized_revision != 1:
            if time.monotonic() > deadline:
                raise SystemExit(f"routers: not realized within {limit:.0f} s")
            time.sleep(0.01)
        first = time.perf_counter() - t0
        made = sum(1 for x in netns.list_netns(host) if x.startswith(names.ROUTER_NS))
        assert made == n, f"{made} router namespaces, want {n}"
        stub.state = dict(stub.state, revision=2)
        t0 = time.perf_counter()
        agent.resync()
        while agent.realized_revision != 2:
            if time.monotonic() > deadline:
                raise SystemExit("routers: resync not realized in time")
            time.sleep(0.01)
        again = time.perf_counter() - t0
        return {"realize": first, "resync": again}
    finally:
        if agent is not None:
            agent.stop()
        remove_host(host)


# -- repair time ------------------------------------------------------------------------

def _watching(watch, on_key):
    """Run ``watch(requeue, stop)`` on a thread; requeued keys call ``on_key(key)`` on
    another thread (a worker). Returns the stop event."""
    import queue
    import threading
    stop = threading.Event()
    keys: queue.Queue = queue.Queue()

    def work():
        while not stop.is_set():
            try:
                key = keys.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                on_key(key)
            except Exception as e:  # noqa: BLE001 - a benchmark keeps going
                print(f"reconcile {key}: {e}", file=sys.stderr)
    threading.Thread(target=lambda: watch(keys.put, stop), daemon=True).start()
    threading.Thread(target=work, daemon=True).start()
    return stop


def _until(predicate, bound_s: float = 30.0) -> float:
    """Seconds until ``predicate()`` holds, polled every 5 ms (``inf`` past the bound)."""
    t0 = time.perf_counter()
    while not predicate():
        if time.perf_counter() - t0 > bound_s:
            return float("inf")
        time.sleep(0.005)
    return time.perf_counter() - t0


def _has_table(host: netns.Host, family: str, table: str) -> bool:
    """Whether the table has chains (``nft list chains``: ``nft list tables`` reads
    the whole ruleset with nft 1.0, far too slow to poll at 1,000 ports)."""
    out = json.loads(netns.run(host.root, ["nft", "-j", "list", "chains"]).stdout)
    return any(o["chain"]["family"] == family and o["chain"]["table"] == table
               for o in out["nftables"] if "chain" in o)


def firewall_repair(tag: str, n_ports: int) -> list[tuple[str, float]]:
    from kumo.agent.sgmodel import GUARD_TABLE
    host = make_host(tag, "rp")
    stop = None
    try:
        driver = FirewallDriver(HOSTNAME, where=host)
        st = state([port(i) for i in range(1, n_ports + 1)], [group(10)], 1)
        driver.sync(st)
        stop = _watching(driver.watch, lambda key: driver.sync(st))
        out = []
        for family, table in (("inet", TABLE), ("bridge", TABLE), ("bridge", GUARD_TABLE)):
            time.sleep(1.5)
            nft.delete_table(host.root, family, table)
            secs = _until(lambda: _has_table(host, family, table))
            out.append((f"{family} {table} deleted -> back", secs))
        return out
    finally:
        if stop is not None:
            stop.set()
        time.sleep(1.2)
        remove_host(host)


def tap_repair(tag: str) -> list[tuple[str, float]]:
    import hashlib
    import shutil
    import tempfile

    from kumo.agent.l2 import LinuxBridgeDriver
    from kumo.agent.virt.netns import NetnsDriver
    from kumo.image import cirros

    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-"))
    try:
        data = cirros.ensure_rootfs(tmp / "img").read_bytes()
    except cirros.BusyboxNotFound:
        shutil.rmtree(tmp, ignore_errors=True)
        return []
    host = make_host(tag, "tap")
    dhcp = netns.ensure_netns(host, "dhcp")
    stops, drv, dns, iid = [], None, None, None
    try:
        p = port(1)
        ip = p["fixed_ips"][0]["ip_address"]
        net = {"id": NET, "network_type": "local", "mtu": 1500, "status": "ACTIVE"}
        l2 = LinuxBridgeDriver(HOSTNAME, where=host)
        st = state([p], [], 1)
        st["networks"] = [net]
        bridge = names.bridge(NET)
        links.ensure_bridge(host.root, bridge)
        links.ensure_veth(host.root, "tapbenchdhcp", "d0", peer_ns=dhcp)
        links.set_master(host.root, "tapbenchdhcp", bridge)
        links.ensure_address(dhcp, "d0", f"{ip.rsplit('.', 1)[0]}.254/24")
        dns = netns.call(dhcp, subprocess.Popen, [
            "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
            "--bind-interfaces", "--interface=d0", "--except-interface=lo",
            "--leasefile-ro",
            f"--dhcp-range={ip.rsplit('.', 1)[0]}.0,static,255.255.255.0,24h",
            f"--dhcp-host={p['mac_address']},{ip}", "--dhcp-option=3"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        drv = NetnsDriver(HOSTNAME, where=host, state_dir=str(tmp / "compute"),
                          fetch=lambda i: [data], stop_grace_s=2.0)
        iid = str(uuid.uuid4())
        inst = {"id": iid, "name": "instance-0000be9c", "hostname": "bench", "power": "on",
                "reboot_seq": 0, "rebuild_seq": 0, "flavor": {},
                "image": {"id": "cirros", "checksum": hashlib.md5(data).hexdigest(),
                          "kumo_rootfs": "tar"},
                "ports": [{"id": p["id"], "mac_address": p["mac_address"], "mtu": 1500,
                           "network_id": NET, "fixed_ips": p["fixed_ips"]}]}

        def l2_key(key):
            l2.reconcile({"kind": key[0], "id": key[1], "object": p, "state": st}, 1)
        stops.append(_watching(l2.watch, l2_key))
        stops.append(_watching(drv.watch, lambda _: drv.reconcile(inst)))
        drv.reconcile(inst)
        l2_key(("ports", p["id"]))
        tap = names.tap(p["id"])

        def has_ip() -> bool:
            out = subprocess.run(drv.enter_argv(iid) + ["ip", "-4", "-o", "addr"],
                                 capture_output=True, text=True, timeout=10).stdout
            return f" {ip}/" in out
        if _until(has_ip, 60) == float("inf"):
            return [("instance lease at boot", float("inf"))]
        before = links.get_link(host.root, tap).index

        def plugged() -> bool:
            cur, br = links.get_link(host.root, tap), links.get_link(host.root, bridge)
            return cur is not None and cur.index != before and cur.master == br.index
        t0 = time.perf_counter()
        links.delete_link(host.root, tap)
        back = _until(plugged)
        got = _until(has_ip, 60)
        total = time.perf_counter() - t0 if got != float("inf") else got
        return [("instance tap deleted -> re-plugged", back),
                ("instance tap deleted -> guest has its IPv4", total)]
    finally:
        for stop in stops:
            stop.set()
        if drv is not None and iid is not None:
            drv.destroy(iid)
        if dns is not None:
            dns.kill()
            dns.wait(10)
        time.sleep(1.0)
        remove_host(host)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="iperf3 run length")
    ap.add_argument("--runs", type=int, default=3, help="iperf3 runs per setup")
    ap.add_argument("--streams", default="1,64",
                    help="parallel TCP streams per iperf3 run, comma-separated")
    ap.add_argument("--ports", type=int, default=1000, help="ports for the apply time")
    ap.add_argument("--routers", type=int, default=100, help="routers to realize")
    ap.add_argument("--workers", type=int, default=4, help="agent worker threads")
    ap.add_argument("--only", choices=["firewall", "routers", "throughput"],
                    help="run one part")
    ap.add_argument("--repair-only", action="store_true", help="only the repair times")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("dataplane benchmark: needs root (namespaces, nftables)")
    tag = f"kumo-b{uuid.uuid4().hex[:8]}"
    if args.repair_only:
        return print_repair(tag, args.ports)

    if args.only not in ("firewall", "throughput"):
        rt = router_times(tag, args.routers, args.workers)
        print()
        print(f"routers: {args.routers} with gateways, realized in {rt['realize']:.1f} s, "
              f"{args.routers / rt['realize']:.1f} routers/s ({args.workers} workers); "
              f"resync finding nothing to do: {rt['resync']:.2f} s")
        if args.only == "routers":
            for fact in machine_facts():
                print("machine: " + fact)
            return

    print_throughput(tag, args)
    if args.only == "throughput":
        for fact in machine_facts():
            print("machine: " + fact)
        print("note: iperf3 client, server and the kernel's bridge share the same cores")
        return
    print()
    print(f"{'apply (FirewallDriver.sync)':<40}{'seconds':>10}{'nft cmds':>10}")
    print("-" * 70)
    for label, secs, cmds in apply_times(tag, args.ports):
        print(f"{label:<40}{secs:>10.3f}{cmds:>10}")
    print_repair(tag, args.ports)
    for fact in machine_facts():
        print("machine: " + fact)
    print("note: iperf3 client, server and the kernel's bridge share the same cores")


def print_throughput(tag: str, args) -> None:
    streams = tuple(int(x) for x in args.streams.split(","))
    tp = throughput(tag, args.seconds, args.runs, streams)
    reached, filtered = tp.pop(("reached", max(streams)))
    for k in streams:
        none, one = tp[("no firewall (no tables)", k)], tp[("firewall, 1 rule", k)]
        print()
        print(f"{f'iperf3, TCP, {k} stream(s) (median of {args.runs})':<40}"
              f"{'Gbit/s':>10}{'vs none':>10}{'vs 1 rule':>10}")
        print("-" * 70)
        for (label, n), gbps in tp.items():
            if n == k:
                print(f"{label:<40}{gbps:>10.2f}{gbps / none * 100:>9.1f}%"
                      f"{gbps / one * 100:>9.1f}%")
    print(f"packets reaching a group's rules at 1,000 rules, {max(streams)} streams: "
          f"{reached} of {filtered} passes through the ports' chains (established packets "
          "stop at their first rule)")


def print_repair(tag: str, n_ports: int) -> None:
    print()
    print(f"{f'repair by the kernel watches ({n_ports} ports)':<50}{'seconds':>10}")
    print("-" * 70)
    for label, secs in firewall_repair(tag, n_ports) + tap_repair(tag):
        print(f"{label:<50}{secs:>10.2f}")
    print()


if __name__ == "__main__":
    main()
