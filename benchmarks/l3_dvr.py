"""Distributed routers against legacy ones, across hosts: east-west throughput and the
time for a router's first floating IP to answer.

A throw-away ``kumo up`` (API only) and three simulated hosts on this machine (network
namespaces with private run dirs, as the data-plane tests make them): a network host
whose L3 agent runs in ``dvr_snat`` mode and two compute hosts in ``dvr`` mode, each
with a real :class:`~kumo.agent.agent.Agent` (Linux bridge + L3 drivers). A scratch
namespace joins them: an underlay bridge (VXLAN between the hosts) and the flat
``public`` network, holding 172.24.4.1/24 (the "outside").

For each kind of router (``legacy``: scheduled whole to the network host;
``distributed``): two networks on one router, a server (a port plugged into a
namespace) on each compute host, and

1. **east-west**: iperf3 (one TCP stream, ``--seconds``) from the server on compute
   host 1 to the one on compute host 2, median of ``--runs``; with a legacy router the
   traffic crosses the network host twice (there and back), with DVR it is routed on
   the compute hosts;
2. **first floating IP**: from ``POST /v2.0/floatingips`` (the router's first) to the
   first answered ping from the outside (pings every 0.1 s, bounded by 60 s); for DVR
   this includes the host's ``fg-`` port and ``fip-`` namespace being made.

Only namespaces this script makes (never the machine's own networking); every loop
bounded; everything removed at the end, pass or fail. Root, iperf3 and ping needed.

    python benchmarks/l3_dvr.py [--seconds 3] [--runs 3]
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import machine_facts, start_server, stop_server  # noqa: E402
from kumo.agent.agent import Agent  # noqa: E402
from kumo.agent.client import ControllerClient  # noqa: E402
from kumo.agent.dataplane import links, names, netns  # noqa: E402
from kumo.agent.l2 import LinuxBridgeDriver  # noqa: E402
from kumo.agent.l3 import L3Driver  # noqa: E402

EXTERNAL = "172.24.4.1"
IPERF_PORT = 5201
ROLES = {"net": "dvr_snat", "c1": "dvr", "c2": "dvr"}


def wait(predicate, what: str, bound_s: float = 90.0):
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def pings(ns: netns.Netns, addr: str, wait_s: str = "1") -> bool:
    return netns.run(ns, ["ping", "-c", "1", "-W", wait_s, addr], check=False,
                     timeout=10).returncode == 0


class Topology:
    """The three hosts, their wiring and agents (see the module doc)."""

    def __init__(self, tag: str, clouds_yaml: str):
        self.tag = tag
        self.machine = netns.Host()
        self.wire = netns.ensure_netns(self.machine, f"{tag}-wire")
        self.where: dict[str, netns.Host] = {}
        self.name = {r: f"{tag}-{r}" for r in ROLES}
        self.agents: list[Agent] = []
        links.ensure_bridge(self.wire, "ul")
        links.ensure_bridge(self.wire, "ex")
        links.ensure_address(self.wire, "ex", f"{EXTERNAL}/24")
        for i, (role, mode) in enumerate(ROLES.items(), start=1):
            root = netns.ensure_netns(self.machine, f"{tag}-{role}")
            host = netns.Host(netns=root.path, run_dir=f"/run/{tag}-{role}/netns")
            self.where[role] = host
            addr = f"10.96.0.{i}"
            links.ensure_veth(self.wire, f"u{i}", "ul0", host.root)
            links.set_link(self.wire, f"u{i}", master="ul", up=True)
            links.set_up(host.root, "ul0")
            links.ensure_address(host.root, "ul0", f"{addr}/24")
            links.ensure_bridge(host.root, "br-ex")
            links.ensure_veth(self.wire, f"e{i}", "ex0", host.root)
            links.set_link(self.wire, f"e{i}", master="ex", up=True)
            links.set_link(host.root, "ex0", master="br-ex", up=True)
            client = ControllerClient.from_cloud("kumo-agent", config_files=[clouds_yaml])
            agent = Agent(client, self.name[role], [
                LinuxBridgeDriver(self.name[role], where=host, local_ip=addr,
                                  bridge_mappings={"public": "br-ex"}),
                L3Driver(self.name[role], where=host, agent_mode=mode)],
                workers=3, resync_s=10.0, heartbeat_s=1.0, wait_s=2.0)
            agent.start()
            self.agents.append(agent)

    def close(self) -> None:
        for agent in self.agents:
            agent.stop()
        for host in self.where.values():
            for name in netns.list_netns(host):
                netns.delete_netns(host, name)
            try:
                netns.remove_run_dir(host)
                os.rmdir(os.path.dirname(host.run_dir))
            except OSError:
                pass
            netns.delete_netns_path(host.netns)
        netns.delete_netns(self.machine, f"{self.tag}-wire")


def build(conn, topo: Topology, kind: str, third: int, made: dict):
    """A router of ``kind`` with two networks and a server on each compute host;
    returns ``(router, [vm namespaces], [fixed ips], [ports])``."""
    public = conn.network.find_network("public", ignore_missing=False)
    nets, subs = [], []
    for i in (1, 2):
        net = conn.network.create_network(name=f"bench-{kind}-{i}")
        made["nets"].append(net)
        subs.append(conn.network.create_subnet(network_id=net.id, ip_version=4,
                                               cidr=f"10.{third}.{i}.0/24",
                                               enable_dhcp=False))
        nets.append(net)
    router = conn.network.create_router(name=f"bench-{kind}",
                                        is_distributed=kind == "distributed",
                                        external_gateway_info={"network_id": public.id})
    made["routers"].append((router, [s.id for s in subs]))
    for sub in subs:
        conn.network.add_interface_to_router(router, subnet=sub.id)
    net_agent = wait(lambda: next(iter(conn.network.agents(
        host=topo.name["net"], agent_type="L3 agent")), None), "the network host's agent")
    base = conn.network.get_endpoint().rstrip("/")
    for _ in range(30):  # host it on the network host (a heartbeat may place it first)
        hosting = [a.id for a in conn.network.routers_hosting_l3_agents(router.id)]
        if hosting == [net_agent.id]:
            break
        for other in hosting:
            conn.session.delete(f"{base}/agents/{other}/l3-routers/{router.id}",
                                raise_exc=False)
        conn.session.post(f"{base}/agents/{net_agent.id}/l3-routers",
                          json={"router_id": router.id}, raise_exc=False)
        time.sleep(0.2)
    vms, ips, ports = [], [], []
    for role, net, sub in zip(("c1", "c2"), nets, subs):
        port = conn.network.create_port(network_id=net.id, device_owner="compute:nova",
                                        device_id=str(uuid.uuid4()),
                                        binding_host_id=topo.name[role])
        made["ports"].append(port)
        vm = netns.ensure_netns(topo.where[role], f"vm-{kind}")
        links.ensure_veth(topo.where[role].root, names.tap(port.id), "eth0", vm, up=False)
        links.set_mac(vm, "eth0", port.mac_address)
        links.set_up(vm, "eth0")
        ip = port.fixed_ips[0]["ip_address"]
        links.ensure_address(vm, "eth0",
                             f"{ip}/{ipaddress.ip_network(sub.cidr).prefixlen}")
        links.ensure_default_route(vm, sub.gateway_ip)
        vms.append(vm)
        ips.append(ip)
        ports.append(port)
    wait(lambda: pings(vms[0], ips[1]), f"{kind}: east-west ping", 120)
    return router, vms, ips, ports


def iperf(client: netns.Netns, server: netns.Netns, server_ip: str, seconds: float,
          runs: int) -> float:
    proc = subprocess.Popen(["nsenter", f"--net={server.path}", "iperf3", "-s", "-p",
                             str(IPERF_PORT)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(0.5)
        out = []
        for _ in range(runs):
            for attempt in range(5):  # the server may still be starting
                text = netns.run(client, ["iperf3", "-c", server_ip, "-p",
                                          str(IPERF_PORT), "-t", str(seconds), "-J"],
                                 timeout=seconds + 30, check=False).stdout
                data = json.loads(text or "{}")
                if "end" in data and "sum_received" in data["end"]:
                    break
                time.sleep(1)
            else:
                raise RuntimeError(f"iperf3: {data.get('error', text)}")
            out.append(data["end"]["sum_received"]["bits_per_second"] / 1e9)
        return statistics.median(out)
    finally:
        proc.terminate()
        proc.wait(10)


def first_fip(conn, topo: Topology, port, made: dict) -> float:
    public = conn.network.find_network("public", ignore_missing=False)
    t0 = time.monotonic()
    fip = conn.network.create_ip(floating_network_id=public.id, port_id=port.id)
    made["fips"].append(fip)
    deadline = t0 + 60
    while time.monotonic() < deadline:
        if pings(topo.wire, fip.floating_ip_address, "0.2"):
            return time.monotonic() - t0
        time.sleep(0.1)
    return float("nan")


def cleanup(conn, made: dict, topo_names: list[str]) -> None:
    for fip in made["fips"]:
        conn.network.delete_ip(fip, ignore_missing=True)
    for port in made["ports"]:
        conn.network.delete_port(port, ignore_missing=True)
    for router, subs in made["routers"]:
        for sub in subs:
            try:
                conn.network.remove_interface_from_router(router, subnet=sub)
            except Exception:  # noqa: BLE001 - already gone
                pass
        conn.network.delete_router(router, ignore_missing=True)
    for net in made["nets"]:
        conn.network.delete_network(net, ignore_missing=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("root needed")
    tag = f"kumo-b{uuid.uuid4().hex[:6]}"
    tmp = Path(tempfile.mkdtemp(prefix="kumo-l3dvr-"))
    proc, _port, _log = start_server(tmp, env_extra={"KUMO_DATAPLANE": "off"})
    clouds = str(tmp / "state" / "clouds.yaml")
    os.environ["OS_CLIENT_CONFIG_FILE"] = clouds
    import openstack
    conn = openstack.connect(cloud="kumo-admin")
    made: dict = {"fips": [], "ports": [], "routers": [], "nets": []}
    topo = None
    results = {}
    try:
        topo = Topology(tag, clouds)
        for kind, third in (("legacy", 83), ("distributed", 84)):
            router, vms, ips, ports = build(conn, topo, kind, third, made)
            gbps = iperf(vms[0], vms[1], ips[1], args.seconds, args.runs)
            fip_s = first_fip(conn, topo, ports[0], made)
            results[kind] = (gbps, fip_s)
    finally:
        cleanup(conn, made, [])
        if topo is not None:
            topo.close()
        stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()
    print("L3: legacy vs distributed routers across simulated hosts "
          f"(iperf3 {args.seconds:g} s x {args.runs}, median)")
    for line in machine_facts():
        print("  " + line)
    print(f"  load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"  {'router':<12} {'east-west Gbit/s':>17} {'first FIP answers (s)':>22}")
    for kind, (gbps, fip_s) in results.items():
        print(f"  {kind:<12} {gbps:>17.2f} {fip_s:>22.2f}")


if __name__ == "__main__":
    main()
