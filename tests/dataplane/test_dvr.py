"""Distributed routers for real, on three simulated hosts: a network host (L3 agent in
``dvr_snat`` mode) and two compute hosts (``dvr``), each a namespace with a private run
dir running an Agent (Linux bridge + L3 drivers) against a real ``kumo up``. A scratch
namespace joins them: bridge ``ul`` (the underlay, 10.96.0.0/24) and bridge ``ex`` (the
flat ``public`` network, each host's ``br-ex`` plugged into it), and holds 172.24.4.1/24
on ``ex``: the external address the tests reach.

- a server (a port plugged into a namespace) on each compute host, on two subnets of
  one distributed router, pings the other: the network host forwards nothing meanwhile
  (``ForwDatagrams`` of its ``snat-`` and ``qrouter-`` namespaces stay still) while the
  sending host's ``qrouter-`` forwards;
- the server without a floating IP reaches 172.24.4.1 through the ``snat-`` namespace
  on the network host, seen as the router's gateway address;
- a floating IP answers from its compute host: the external side resolves it to that
  host's ``fg-`` port MAC and reaches the server;
- restarting a compute host's agent keeps its legs and traffic;
- converted to legacy (down first), the router runs whole on the network host;
- removing the floating IP, the interfaces and the router removes the ``fip-``,
  ``qrouter-`` and ``snat-`` namespaces and the bridge table.
Every namespace (and so every link) is removed at the end, pass or fail."""
from __future__ import annotations

import ipaddress
import shutil
import uuid

import pytest

from kumo.agent import dvr
from kumo.agent.agent import Agent
from kumo.agent.client import ControllerClient
from kumo.agent.dataplane import links, names, netns, nft
from kumo.agent.l2 import LinuxBridgeDriver
from kumo.agent.l3 import L3Driver
from tests import waiting
from tests.dataplane import probes
from tests.dataplane.test_l3 import accept_once, host_router_on

WAIT_S = 90.0
pings = probes.pings
connects = probes.connects
EXTERNAL = "172.24.4.1"


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout)


def plug(host: netns.Host, name: str, port, cidr: str, gateway: str) -> netns.Netns:
    vm = probes.plug(host, name, port, ipaddress.ip_network(cidr).prefixlen)
    links.ensure_default_route(vm, gateway)
    return vm


def forwarded(ns: netns.Netns) -> int:
    """IPv4 packets ``ns`` forwarded (``Ip: ForwDatagrams`` of its /proc/net/snmp)."""
    def read() -> int:
        with open("/proc/thread-self/net/snmp") as f:
            head, values = [line.split() for line in f if line.startswith("Ip:")][:2]
        return int(values[head.index("ForwDatagrams")])
    return netns.call(ns, read) if ns.exists() else 0


@pytest.fixture
def dvr_cloud(admin):
    made: dict[str, list] = {"fips": [], "ports": [], "routers": [], "nets": [],
                             "hosts": []}
    yield made
    for fip in made["fips"]:
        admin.network.delete_ip(fip, ignore_missing=True)
    for port in made["ports"]:
        admin.network.delete_port(port, ignore_missing=True)
    for router, subnets in made["routers"]:
        for sub in subnets:
            try:
                admin.network.remove_interface_from_router(router, subnet=sub)
            except Exception:  # noqa: BLE001 - already removed
                pass
        admin.network.delete_router(router, ignore_missing=True)
    for net in made["nets"]:
        admin.network.delete_network(net, ignore_missing=True)
    for host in made["hosts"]:
        for a in admin.network.agents(host=host):
            admin.network.delete_agent(a, ignore_missing=True)


@pytest.mark.skipif(shutil.which("ping") is None, reason="needs ping(8)")
def test_dvr_three_hosts(cloud, admin, hosts, scratch, unique, dvr_cloud):
    suffix = uuid.uuid4().hex[:6]
    roles = {"net": "dvr_snat", "c1": "dvr", "c2": "dvr"}
    name = {r: f"dvr{r}-{suffix}" for r in roles}
    where = {r: hosts(r) for r in roles}
    dvr_cloud["hosts"].extend(name.values())
    wire = scratch("wire")
    links.ensure_bridge(wire, "ul")
    links.ensure_bridge(wire, "ex")
    links.ensure_address(wire, "ex", f"{EXTERNAL}/24")
    underlay = {}
    for i, r in enumerate(roles, start=1):
        root = where[r].root
        underlay[r] = f"10.96.0.{i}"
        links.ensure_veth(wire, f"u{i}", "ul0", root)
        links.set_link(wire, f"u{i}", master="ul", up=True)
        links.set_up(root, "ul0")
        links.ensure_address(root, "ul0", f"{underlay[r]}/24")
        links.ensure_bridge(root, "br-ex")
        links.ensure_veth(wire, f"e{i}", "ex0", root)
        links.set_link(wire, f"e{i}", master="ex", up=True)
        links.set_link(root, "ex0", master="br-ex", up=True)
    agents: dict[str, Agent] = {}

    def start(r: str) -> None:
        client = ControllerClient.from_cloud("kumo-agent",
                                             config_files=[str(cloud.clouds_yaml)])
        l2 = LinuxBridgeDriver(name[r], where=where[r], local_ip=underlay[r],
                               bridge_mappings={"public": "br-ex"})
        l3 = L3Driver(name[r], where=where[r], agent_mode=roles[r])
        agents[r] = Agent(client, name[r], [l2, l3], workers=3, resync_s=3.0,
                          heartbeat_s=1.0, wait_s=2.0)
        agents[r].start()

    def restart(r: str) -> None:
        agents.pop(r).stop()
        start(r)

    try:
        for r in roles:
            start(r)
        _exercise(admin, where, wire, name, dvr_cloud, unique, restart)
    finally:
        for agent in agents.values():
            agent.stop()


def _exercise(admin, where, wire, name, made, unique, restart):
    l3 = {r: wait_for(lambda r=r: next(iter(admin.network.agents(
        host=name[r], agent_type="L3 agent")), None), f"{r}'s L3 agent") for r in name}
    assert l3["net"].configuration["agent_mode"] == "dvr_snat"
    assert l3["c1"].configuration["agent_mode"] == "dvr"
    public = admin.network.find_network("public", ignore_missing=False)
    nets, subs = [], []
    for i in (1, 2):
        net = admin.network.create_network(name=unique(f"dvr-net{i}"))
        made["nets"].append(net)
        subs.append(admin.network.create_subnet(
            network_id=net.id, ip_version=4, cidr=f"10.81.{i}.0/24", enable_dhcp=False))
        nets.append(net)
    router = admin.network.create_router(name=unique("dvr-r"), is_distributed=True,
                                         external_gateway_info={"network_id": public.id})
    made["routers"].append((router, [s.id for s in subs]))
    for sub in subs:
        admin.network.add_interface_to_router(router, subnet=sub.id)
    host_router_on(admin, router.id, l3["net"].id)
    router = admin.network.get_router(router.id)
    gw_ip = router.external_gateway_info["external_fixed_ips"][0]["ip_address"]

    ports = [admin.network.create_port(network_id=n.id, binding_host_id=name[h],
                                       device_owner="compute:nova",
                                       device_id=str(uuid.uuid4()))
             for n, h in zip(nets, ("c1", "c2"))]
    made["ports"].extend(ports)
    vm = [plug(where[h], "vm", p, s.cidr, s.gateway_ip)
          for h, p, s in zip(("c1", "c2"), ports, subs)]
    ip = [p.fixed_ips[0]["ip_address"] for p in ports]

    rns = {r: where[r].ns(names.router_ns(router.id)) for r in name}
    sns = where["net"].ns(dvr.snat_ns(router.id))
    for r in ("c1", "c2"):
        wait_for(rns[r].exists, f"qrouter- on {r}")
    wait_for(sns.exists, "snat- on the network host")

    # east-west: routed on the compute hosts, never through the network host
    wait_for(lambda: pings(vm[0], ip[1]), "vm0 pings vm1 across hosts")
    net_before = forwarded(sns) + forwarded(rns["net"])
    c1_before = forwarded(rns["c1"])
    assert pings(vm[0], ip[1], count=5, interval=0.2)
    assert pings(vm[1], ip[0], count=5, interval=0.2)
    assert forwarded(sns) + forwarded(rns["net"]) == net_before
    assert forwarded(rns["c1"]) >= c1_before + 5
    # each host's qr- leg carries that host's distributed MAC
    qr0 = names.router_interface(next(p.id for p in admin.network.ports(
        device_id=router.id, network_id=nets[0].id,
        device_owner="network:router_interface")))
    macs = {r: links.get_link(rns[r], qr0).mac for r in ("c1", "net")}
    assert macs["c1"] != macs["net"] and all(m.startswith("fa:16:3f") for m in macs.values())
    # vm0 resolved its gateway to its own host's router (ARP for it never crosses)
    neigh = netns.run(vm[0], ["ip", "-4", "neigh", "show", subs[0].gateway_ip]).stdout
    assert macs["c1"] in neigh.lower(), neigh
    assert ("bridge", dvr.ARP_TABLE) in nft.list_tables(where["c1"].root)

    # SNAT: vm1 (no floating IP) reaches the external address as the gateway address
    wait_for(lambda: pings(vm[1], EXTERNAL), "vm1 reaches the external address")
    snat_before = forwarded(sns)
    t, seen = accept_once(wire, EXTERNAL, 8082)
    wait_for(lambda: connects(vm[1], EXTERNAL, 8082), "vm1 connects outside")
    t.join(10)
    assert seen.get("peer") == gw_ip
    assert forwarded(sns) > snat_before

    # floating IP on vm0: answered from c1 (its fg- port's MAC), not the network host
    fip = admin.network.create_ip(floating_network_id=public.id, port_id=ports[0].id)
    made["fips"].append(fip)
    addr = fip.floating_ip_address
    fg = wait_for(lambda: next((p for p in admin.network.ports(network_id=public.id)
                                if p.device_owner == dvr.FG_OWNER
                                and p.binding_host_id == name["c1"]), None),
                  "c1's fg- port")
    wait_for(lambda: admin.network.get_ip(fip.id).status == "ACTIVE", "FIP ACTIVE")
    wait_for(lambda: pings(wire, addr), "the outside pings the floating IP")
    neigh = netns.run(wire, ["ip", "-4", "neigh", "show", addr]).stdout
    assert fg.mac_address.lower() in neigh.lower(), neigh
    fns = where["c1"].ns(dvr.fip_ns(public.id))
    assert fns.exists() and not where["net"].ns(dvr.fip_ns(public.id)).exists()
    t, seen = accept_once(vm[0], ip[0], 8083)
    wait_for(lambda: connects(wire, addr, 8083), "the outside connects to the FIP")
    t.join(10)
    assert seen.get("peer") == EXTERNAL

    # an agent restart changes nothing: same legs, traffic keeps flowing
    fpr = names.FIP_TO_ROUTER + router.id[:names.ID_LEN]
    kept = (links.get_link(rns["c1"], qr0).index, links.get_link(fns, fpr).index)
    restart("c1")
    for _ in range(5):  # the new agent lists and resyncs meanwhile
        assert pings(vm[0], ip[1], count=1) and pings(wire, addr, count=1)
    wait_for(lambda: admin.network.get_ip(fip.id).status == "ACTIVE", "FIP ACTIVE")
    assert (links.get_link(rns["c1"], qr0).index, links.get_link(fns, fpr).index) == kept

    # removal
    admin.network.delete_ip(fip)
    wait_for(lambda: not fns.exists(), "fip- namespace removed")
    assert not pings(wire, addr, count=1)

    # converted to legacy (down first): the whole router on the network host, which now
    # forwards the east-west traffic; the compute hosts' parts go
    admin.network.update_router(router, is_admin_state_up=False)
    for r in ("c1", "c2"):
        wait_for(lambda r=r: not rns[r].exists(), f"qrouter- on {r} removed (down)")
    admin.network.update_router(router, is_distributed=False)
    host_router_on(admin, router.id, l3["net"].id)
    admin.network.update_router(router, is_admin_state_up=True)
    wait_for(lambda: not sns.exists(), "snat- removed after the conversion")
    wait_for(lambda: pings(vm[0], ip[1]), "east-west through the legacy router", 120)
    before = forwarded(rns["net"])
    assert pings(vm[0], ip[1], count=3, interval=0.2)
    assert forwarded(rns["net"]) >= before + 3
    assert not rns["c1"].exists() and not rns["c2"].exists()
    for sub in subs:
        admin.network.remove_interface_from_router(router, subnet=sub.id)
    admin.network.delete_router(router)
    for r in name:
        wait_for(lambda r=r: not rns[r].exists(), f"qrouter- on {r} removed")
    wait_for(lambda: not sns.exists(), "snat- removed")
    wait_for(lambda: ("bridge", dvr.ARP_TABLE) not in nft.list_tables(where["c1"].root),
             "the bridge table removed")

