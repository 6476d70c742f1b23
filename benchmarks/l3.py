"""L3 HA failover time: ping loss when an HA router's master fails.

A throw-away ``kumo up`` (data plane off) and three simulated hosts in namespaces
joined by an underlay bridge (as ``tests/dataplane/test_l3_ha.py``): A and B run real
agents with the L2 and L3 drivers (the HA router's two keepalived), C the L2 driver and
an instance namespace on a tenant VXLAN network. The instance pings the router's
address every 10 ms (``ping -i 0.01 -W 0.2``); after 1 s the master fails, and the
lost replies times 10 ms are the failover time. Each failure is repeated ``--runs``
times (the master alternates between A and B); the median, min and max are printed:

- ``keepalived SIGKILL``: a crash of the master's keepalived (the standby notices
  after 3 missed adverts of 0.5 s, takes the addresses, its agent reports it, the
  controller binds the router's ports to it and L2 population moves on C; the
  crashed one is restarted by its agent and comes back standby);
- ``manual failover``: ``DELETE /v2.0/agents/{master}/l3-routers/{router}`` (the
  master's keepalived is stopped with SIGTERM and drops its addresses at once), then
  the router added back to that agent (as a standby).

Namespaces only; every namespace, link and process is removed at the end, pass or
fail. Root needed.

    python benchmarks/l3.py [--runs 5]
"""
from __future__ import annotations

import argparse
import os
import re
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
from kumo.agent.dataplane import keepalived, links, names, netns  # noqa: E402

UNDERLAY = {"A": "10.95.0.1", "B": "10.95.0.2", "C": "10.95.0.3"}
INTERVAL_S = 0.01


def _until(pred, what: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


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


def ping_loss_ms(vm: netns.Netns, addr: str, seconds: float, fail) -> float:
    """Ping ``addr`` from ``vm`` every 10 ms for ``seconds``; ``fail()`` runs after 1 s.
    Returns the replies lost times the interval, in ms."""
    count = int(seconds / INTERVAL_S)

    def go():
        return subprocess.Popen(["ping", "-n", "-q", "-i", str(INTERVAL_S), "-W", "0.2",
                                 "-c", str(count), addr], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    proc = netns.call(vm, go)
    time.sleep(1.0)
    fail()
    out, _ = proc.communicate(timeout=seconds + 30)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    if not m:
        raise RuntimeError(f"ping said: {out}")
    return (int(m.group(1)) - int(m.group(2))) * INTERVAL_S * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=8.0, help="ping length per run")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("l3 benchmark: needs root (namespaces, keepalived)")
    if not os.path.exists(keepalived.BINARY):
        sys.exit("l3 benchmark: needs keepalived")
    tag = f"kumo-b{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-l3-"))
    proc = None
    made: list[netns.Host] = []
    switch = None
    agents = []
    try:
        proc, port, _ = start_server(tmp)
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
        switch = netns.Host().ns(f"{tag}-ul")
        if switch.exists():
            netns.delete_netns(netns.Host(), f"{tag}-ul")
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"{'L3 HA failover, ping loss (ms)':<40}{'median':>10}{'min':>10}{'max':>10}")
    print("-" * 70)
    for label, values in results.items():
        print(f"{label:<40}{statistics.median(values):>10.0f}{min(values):>10.0f}"
              f"{max(values):>10.0f}")
    print(f"runs: {args.runs} each; ping every {INTERVAL_S * 1000:.0f} ms from a third "
          "host over VXLAN; keepalived advert_int "
          f"{keepalived.ADVERT_INT} s")
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
    secret = (tmp / "state" / "metadata_secret")
    if not secret.exists():
        secret.write_text(uuid.uuid4().hex)
    switch = netns.ensure_netns(netns.Host(), f"{tag}-ul")
    links.ensure_bridge(switch, "ul")
    where, name = {}, {}
    for i, h in enumerate("ABC"):
        where[h] = make_host(tag, h.lower())
        made.append(where[h])
        name[h] = f"bench{h}-{tag[-6:]}"
        links.ensure_veth(where[h].root, "ul0", f"ul{i}", switch)
        links.set_up(switch, f"ul{i}")
        links.set_master(switch, f"ul{i}", "ul")
        links.ensure_address(where[h].root, "ul0", f"{UNDERLAY[h]}/24")
    state = tmp / "agents"
    for h in "ABC":
        drivers = [LinuxBridgeDriver(name[h], where=where[h], local_ip=UNDERLAY[h])]
        if h != "C":
            drivers.append(L3Driver(name[h], where=where[h], client=client,
                                    state_dir=str(state / h),
                                    metadata_proxy=MetadataProxy(
                                        client, secret=secret.read_text().strip())))
        agent = Agent(client, name[h], drivers, workers=3, resync_s=30.0,
                      heartbeat_s=1.0, wait_s=2.0)
        agent.start()
        agents.append(agent)
    l3_agent = {h: _until(lambda h=h: next(iter(admin.network.agents(
        host=name[h], agent_type="L3 agent")), None), "L3 agents") for h in "AB"}
    net = admin.network.create_network(name="bench-ha")
    sub = admin.network.create_subnet(network_id=net.id, ip_version=4,
                                      cidr="10.73.0.0/24", enable_dhcp=False)
    router = admin.network.create_router(name="bench-ha", ha=True)
    admin.network.add_interface_to_router(router, subnet=sub.id)
    base = admin.network.get_endpoint().rstrip("/")
    for a in admin.network.routers_hosting_l3_agents(router.id):
        if a.id not in {x.id for x in l3_agent.values()}:
            admin.session.delete(f"{base}/agents/{a.id}/l3-routers/{router.id}")
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
    gw = sub.gateway_ip
    files = {h: keepalived.Files(str(state / h / "ha_confs" / router.id)) for h in "AB"}

    def master() -> str | None:
        resp = admin.session.get(f"{base}/routers/{router.id}/l3-agents")
        active = [a["host"] for a in resp.json()["agents"] if a["ha_state"] == "active"]
        by_name = {name[h]: h for h in "AB"}
        return by_name.get(active[0]) if len(active) == 1 else None

    def pings() -> bool:
        return netns.run(vm, ["ping", "-c", "1", "-W", "1", gw], check=False).returncode == 0

    def steady() -> str:
        m = _until(master, "a master")
        other = "B" if m == "A" else "A"
        _until(lambda: keepalived.running(files[other])
               and keepalived.state(files[other]) == "standby", "a standby")
        _until(pings, "the router answering")
        return m

    results: dict[str, list[float]] = {"keepalived SIGKILL": [], "manual failover": []}
    for _ in range(args.runs):
        m = steady()
        results["keepalived SIGKILL"].append(ping_loss_ms(
            vm, gw, args.seconds, lambda: keepalived.kill(files[m])))
        _until(lambda: master() not in (None, m), "the new master")
    for _ in range(args.runs):
        m = steady()
        results["manual failover"].append(ping_loss_ms(
            vm, gw, args.seconds, lambda: admin.session.delete(
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
