"""DVR+HA failover time: ping loss through SNAT when the SNAT master fails.

A throw-away ``kumo up`` (data plane off) and three simulated hosts in namespaces (as
``tests/dataplane/test_dvr_ha.py``): A and B ``dvr_snat`` agents (the router's two
``snat-`` namespaces and keepalived), C a ``dvr`` agent with an instance namespace on a
tenant VXLAN network, no floating IP. A scratch namespace holds the underlay bridge and
the flat ``public`` segment with 172.24.4.1 (the outside). The instance pings the
outside every 10 ms (``ping -i 0.01 -W 0.2``) through its host's ``qrouter-`` and the
master's ``snat-``; after 1 s the master fails, and the lost replies times 10 ms are
the failover time (median, min, max of ``--runs``; the master alternates):

- ``keepalived SIGKILL``: the master's keepalived crashes (the standby's VRRP timeout,
  its agent's report, the controller re-binding the gateway and ``sg-`` ports, L2
  population moving the ``sg-`` MACs on C);
- ``manual failover``: ``DELETE /v2.0/agents/{master}/l3-routers/{router}``, then the
  router added back to that agent (as a standby).

Namespaces only; everything is removed at the end, pass or fail. Root needed.

    python benchmarks/l3_dvr_ha.py [--runs 5]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import machine_facts, start_server, stop_server  # noqa: E402
from benchmarks.l3 import _until, make_host, ping_loss_ms, remove_host  # noqa: E402
from kumo.agent.dataplane import keepalived, links, names, netns  # noqa: E402

UNDERLAY = {"A": "10.94.0.1", "B": "10.94.0.2", "C": "10.94.0.3"}
MODES = {"A": "dvr_snat", "B": "dvr_snat", "C": "dvr"}
EXTERNAL = "172.24.4.1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=8.0, help="ping length per run")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("l3_dvr_ha benchmark: needs root (namespaces, keepalived)")
    if not os.path.exists(keepalived.BINARY):
        sys.exit("l3_dvr_ha benchmark: needs keepalived")
    tag = f"kumo-b{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-dvrha-"))
    proc = None
    made: list[netns.Host] = []
    agents: list = []
    try:
        proc, _, _ = start_server(tmp)
        results = run(tag, tmp, made, agents, args)
    finally:
        for agent in agents:
            agent.stop()
        for drv in [d for a in agents for d in a.drivers if hasattr(d, "ha")]:
            drv.cleanup_orphans({})
        if proc is not None:
            stop_server(proc)
        for host in made:
            remove_host(host)
        if netns.Host().ns(f"{tag}-wire").exists():
            netns.delete_netns(netns.Host(), f"{tag}-wire")
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"{'DVR+HA SNAT failover, ping loss (ms)':<40}{'median':>10}{'min':>10}"
          f"{'max':>10}")
    print("-" * 70)
    for label, values in results.items():
        print(f"{label:<40}{statistics.median(values):>10.0f}{min(values):>10.0f}"
              f"{max(values):>10.0f}")
    print(f"runs: {args.runs} each; ping every 10 ms from a dvr host through SNAT; "
          f"keepalived advert_int {keepalived.ADVERT_INT} s")
    for fact in machine_facts():
        print("machine: " + fact)


def run(tag: str, tmp: Path, made: list, agents: list, args) -> dict[str, list[float]]:
    import openstack

    from kumo.agent.agent import Agent
    from kumo.agent.client import ControllerClient
    from kumo.agent.l2 import LinuxBridgeDriver
    from kumo.agent.l3 import L3Driver
    from kumo.agent.metadata import MetadataProxy

    clouds = tmp / "state" / "clouds.yaml"
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    admin = openstack.connect(cloud="kumo-admin")
    client = ControllerClient.from_cloud("kumo-agent", config_files=[str(clouds)])
    secret = tmp / "state" / "metadata_secret"
    if not secret.exists():
        secret.write_text(uuid.uuid4().hex)
    wire = netns.ensure_netns(netns.Host(), f"{tag}-wire")
    links.ensure_bridge(wire, "ul")
    links.ensure_bridge(wire, "ex")
    links.ensure_address(wire, "ex", f"{EXTERNAL}/24")
    where, name = {}, {}
    for i, h in enumerate("ABC"):
        where[h] = make_host(tag, h.lower())
        made.append(where[h])
        name[h] = f"bdh{h}-{tag[-6:]}"
        root = where[h].root
        links.ensure_veth(wire, f"u{i}", "ul0", root)
        links.set_link(wire, f"u{i}", master="ul", up=True)
        links.set_up(root, "ul0")
        links.ensure_address(root, "ul0", f"{UNDERLAY[h]}/24")
        links.ensure_bridge(root, "br-ex")
        links.ensure_veth(wire, f"e{i}", "ex0", root)
        links.set_link(wire, f"e{i}", master="ex", up=True)
        links.set_link(root, "ex0", master="br-ex", up=True)
    state = tmp / "agents"
    for h in "ABC":
        drivers = [LinuxBridgeDriver(name[h], where=where[h], local_ip=UNDERLAY[h],
                                     bridge_mappings={"public": "br-ex"}),
                   L3Driver(name[h], where=where[h], client=client, agent_mode=MODES[h],
                            state_dir=str(state / h),
                            metadata_proxy=MetadataProxy(
                                client, secret=secret.read_text().strip()))]
        agent = Agent(client, name[h], drivers, workers=3, resync_s=30.0,
                      heartbeat_s=1.0, wait_s=2.0)
        agent.start()
        agents.append(agent)
    l3_agent = {h: _until(lambda h=h: next(iter(admin.network.agents(
        host=name[h], agent_type="L3 agent")), None), "L3 agents") for h in "ABC"}
    public = admin.network.find_network("public", ignore_missing=False)
    net = admin.network.create_network(name="bench-dvrha")
    sub = admin.network.create_subnet(network_id=net.id, ip_version=4,
                                      cidr="10.74.0.0/24", enable_dhcp=False)
    router = admin.network.create_router(name="bench-dvrha", is_distributed=True, ha=True,
                                         external_gateway_info={"network_id": public.id})
    admin.network.add_interface_to_router(router, subnet=sub.id)
    base = admin.network.get_endpoint().rstrip("/")
    for h in "AB":
        admin.session.post(f"{base}/agents/{l3_agent[h].id}/l3-routers",
                           json={"router_id": router.id}, raise_exc=False)
    vm_port = admin.network.create_port(network_id=net.id, binding_host_id=name["C"],
                                        device_owner="compute:nova",
                                        device_id=str(uuid.uuid4()))
    vm = netns.ensure_netns(where["C"], "vm")
    links.ensure_veth(where["C"].root, names.tap(vm_port.id), "eth0", vm, up=False)
    links.set_mac(vm, "eth0", vm_port.mac_address)
    links.set_up(vm, "eth0")
    links.ensure_address(vm, "eth0", f"{vm_port.fixed_ips[0]['ip_address']}/24")
    links.ensure_default_route(vm, sub.gateway_ip)
    files = {h: keepalived.Files(str(state / h / "ha_confs" / router.id)) for h in "AB"}

    def master() -> str | None:
        resp = admin.session.get(f"{base}/routers/{router.id}/l3-agents")
        active = [a["host"] for a in resp.json()["agents"] if a["ha_state"] == "active"]
        by_name = {name[h]: h for h in "AB"}
        return by_name.get(active[0]) if len(active) == 1 else None

    def pings() -> bool:
        return netns.run(vm, ["ping", "-c", "1", "-W", "1", EXTERNAL],
                         check=False).returncode == 0

    def steady() -> str:
        m = _until(master, "a master")
        other = "B" if m == "A" else "A"
        _until(lambda: keepalived.running(files[other])
               and keepalived.state(files[other]) == "standby", "a standby")
        _until(pings, "the outside answering through SNAT")
        return m

    results: dict[str, list[float]] = {"keepalived SIGKILL": [], "manual failover": []}
    for _ in range(args.runs):
        m = steady()
        results["keepalived SIGKILL"].append(ping_loss_ms(
            vm, EXTERNAL, args.seconds, lambda: keepalived.kill(files[m])))
        _until(lambda: master() not in (None, m), "the new master")
    for _ in range(args.runs):
        m = steady()
        results["manual failover"].append(ping_loss_ms(
            vm, EXTERNAL, args.seconds, lambda: admin.session.delete(
                f"{base}/agents/{l3_agent[m].id}/l3-routers/{router.id}")))
        admin.session.post(f"{base}/agents/{l3_agent[m].id}/l3-routers",
                           json={"router_id": router.id})
    admin.network.delete_port(vm_port)
    admin.network.remove_interface_from_router(router, subnet=sub.id)
    admin.network.delete_router(router)
    admin.network.delete_network(net)
    return results


if __name__ == "__main__":
    main()
