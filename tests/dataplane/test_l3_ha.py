"""L3 HA for real: three simulated hosts joined by an underlay bridge (in a namespace
of the test's own), A and B running the L2 and L3 drivers (the HA router's two
agents), C the L2 driver and an instance namespace on a tenant VXLAN network. The
router's ``qrouter-`` namespace on A and B gets its ``ha-`` leg on the hidden HA
network (VXLAN between A and B) and keepalived; one becomes master (``ha_state``
active through the API), only it holds the router's address, and C pings it across
VXLAN; a client on the flat public segment (the hosts' ``br-ex`` joined) pings the
instance's floating IP. Killing the master's keepalived (SIGKILL, a crash) makes the other master and
the pings continue; the agent restarts the dead keepalived, which comes back standby
without the addresses. The manual failover (remove the router from the master's agent,
add it back) moves the mastership, and so does disabling the master's L3 agent.
TCP sessions to the floating IP and out through SNAT survive all of it. Converting to legacy and back (router down
first) keeps the addresses and the floating IP working. Deleting the router stops every keepalived and
removes its files; every namespace, link and process is removed at the end, pass or
fail."""
from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import threading
import uuid

import pytest

from kumo.agent.agent import Agent
from kumo.agent.client import ControllerClient
from kumo.agent.dataplane import keepalived, links, names, netns
from kumo.agent.l2 import LinuxBridgeDriver
from kumo.agent.l3 import L3Driver
from kumo.agent.metadata import MetadataProxy
from tests import waiting
from tests.dataplane import probes

WAIT_S = 90.0
UNDERLAY = {"A": "10.96.0.1", "B": "10.96.0.2", "C": "10.96.0.3"}
pytestmark = pytest.mark.skipif(not os.path.exists(keepalived.BINARY),
                                reason="needs keepalived")


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout)


def ha_states(admin, router_id: str) -> dict[str, str | None]:
    base = admin.network.get_endpoint().rstrip("/")
    resp = admin.session.get(f"{base}/routers/{router_id}/l3-agents", raise_exc=False)
    assert resp.status_code == 200, resp.text
    return {a["host"]: a["ha_state"] for a in resp.json()["agents"]}


def master_of(admin, router_id: str, hosts) -> str | None:
    states = ha_states(admin, router_id)
    active = [h for h, s in states.items() if s == "active"]
    return active[0] if len(active) == 1 and active[0] in hosts else None


def host_ha_router_on(admin, router_id: str, agent_ids: list[str]) -> None:
    """Make exactly ``agent_ids`` host the router (other tests' fake agents may have
    been picked)."""
    base = admin.network.get_endpoint().rstrip("/")
    for a in agent_ids:
        admin.session.post(f"{base}/agents/{a}/l3-routers", json={"router_id": router_id},
                           raise_exc=False)
    for a in admin.network.routers_hosting_l3_agents(router_id):
        if a.id not in agent_ids:
            admin.session.delete(f"{base}/agents/{a.id}/l3-routers/{router_id}",
                                 raise_exc=False)
    assert sorted(a.id for a in admin.network.routers_hosting_l3_agents(router_id)) == \
        sorted(agent_ids)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_ha_router_failover(cloud, admin, hosts, scratch, state_root, unique, made):
    suffix = uuid.uuid4().hex[:6]
    name = {h: f"ha{h}-{suffix}" for h in "ABC"}
    where = {h: hosts(h.lower()) for h in "ABC"}
    switch = scratch("ul")
    links.ensure_bridge(switch, "ul")
    for i, h in enumerate("ABC"):
        links.ensure_veth(where[h].root, "ul0", f"ul{i}", switch)
        links.set_up(switch, f"ul{i}")
        links.ensure_address(where[h].root, "ul0", f"{UNDERLAY[h]}/24")
        links.set_master(switch, f"ul{i}", "ul")
    # the flat public network: each router host's br-ex on one segment with a client
    # holding its gateway address (172.24.4.1)
    links.ensure_bridge(switch, "ex")
    for i, h in enumerate("AB"):
        links.ensure_bridge(where[h].root, "br-ex")
        links.ensure_veth(where[h].root, "ex0", f"ex{i}", switch)
        links.set_master(where[h].root, "ex0", "br-ex")
        links.set_up(switch, f"ex{i}")
        links.set_master(switch, f"ex{i}", "ex")
    outside = scratch("cl")
    links.ensure_veth(outside, "eth0", "excl", switch)
    links.set_up(switch, "excl")
    links.set_master(switch, "excl", "ex")
    links.ensure_address(outside, "eth0", "172.24.4.1/24")
    client = ControllerClient.from_cloud("kumo-agent", config_files=[str(cloud.clouds_yaml)])
    secret_file = cloud.state_dir / "metadata_secret"
    if not secret_file.exists():
        secret_file.write_text(uuid.uuid4().hex)
        secret_file.chmod(0o600)
    secret = secret_file.read_text().strip()
    l3 = {}
    agents: dict[str, Agent] = {}

    def start(h: str) -> None:
        drivers = [LinuxBridgeDriver(name[h], where=where[h], local_ip=UNDERLAY[h],
                                     bridge_mappings={"public": "br-ex"} if h != "C"
                                     else {})]
        if h != "C":
            l3[h] = L3Driver(name[h], where=where[h], client=client,
                             state_dir=str(state_root / h),
                             metadata_proxy=MetadataProxy(client, secret=secret))
            drivers.append(l3[h])
        agents[h] = Agent(client, name[h], drivers, workers=3, resync_s=5.0,
                          heartbeat_s=1.0, wait_s=2.0)
        agents[h].start()
        made["hosts"].append(name[h])

    try:
        for h in "ABC":
            start(h)

        def restart(h: str) -> None:
            agents[h].stop()
            start(h)
        _exercise(admin, where, name, l3, state_root, made, unique, restart, outside)
    finally:
        for agent in agents.values():
            agent.stop()
        for h in "AB":  # what the agents did not get to remove
            if h in l3:
                l3[h].cleanup_orphans({})
    assert not probes.procs_under(str(state_root)), "keepalived left running"


def _exercise(admin, where, name, l3, state_root, made, unique, restart, outside):
    l3_agents = {h: wait_for(lambda h=h: next(iter(admin.network.agents(
        host=name[h], agent_type="L3 agent")), None), f"{h}'s L3 agent") for h in "AB"}
    net = admin.network.create_network(name=unique("ha-net"))
    made["nets"].append(net)
    sub = admin.network.create_subnet(network_id=net.id, ip_version=4,
                                      cidr="10.72.0.0/24", enable_dhcp=False)
    made["subnets"].append(sub)
    public = admin.network.find_network("public", ignore_missing=False)
    router = admin.network.create_router(name=unique("ha-r"), ha=True,
                                         external_gateway_info={"network_id": public.id})
    made["routers"].append(router)
    admin.network.add_interface_to_router(router, subnet=sub.id)
    host_ha_router_on(admin, router.id, [l3_agents[h].id for h in "AB"])
    port = admin.network.create_port(network_id=net.id, binding_host_id=name["C"],
                                     device_owner="compute:nova",
                                     device_id=str(uuid.uuid4()))
    made["ports"].append(port)
    vm = probes.plug(where["C"], "vm", port, 24)
    links.ensure_default_route(vm, sub.gateway_ip)
    fip = admin.network.create_ip(floating_network_id=public.id, port_id=port.id)
    made["fips"].append(fip)
    fip_ip = fip.floating_ip_address
    gw = sub.gateway_ip
    qr = names.router_interface(next(admin.network.ports(
        device_id=router.id, device_owner="network:router_interface")).id)
    files = {h: keepalived.Files(str(state_root / h / "ha_confs" / router.id))
             for h in "AB"}
    rns = {h: where[h].ns(names.router_ns(router.id)) for h in "AB"}
    by_name = {name[h]: h for h in "AB"}

    def holds(h: str) -> bool:
        return rns[h].exists() and links.get_link(rns[h], qr) is not None and any(
            ipaddress.ip_interface(a).ip == ipaddress.ip_address(gw)
            for a in links.list_addresses(rns[h], qr))

    # both hosts run the router with keepalived; one master, which alone holds it
    for h in "AB":
        wait_for(lambda h=h: keepalived.running(files[h]), f"keepalived on {h}")
        mode = os.stat(files[h].dir).st_mode & 0o777
        assert mode == 0o700, oct(mode)
        conf = wait_for(lambda h=h: f"{gw}/24 dev {qr}" in (
            c := open(files[h].conf).read()) and c, f"{h}'s keepalived.conf has qr-")
        assert "nopreempt" in conf and f"interface {names.HA}" in conf
        ha_leg = [lk.name for lk in links.list_links(rns[h]) if lk.name.startswith("ha-")]
        assert len(ha_leg) == 1
    master = by_name[wait_for(lambda: master_of(admin, router.id, name.values()),
                              "one master reported")]
    standby = "B" if master == "A" else "A"
    assert ha_states(admin, router.id)[name[standby]] == "standby"
    wait_for(lambda: holds(master), "the master holds the router's address")
    assert not holds(standby)
    wait_for(lambda: probes.pings(vm, gw), "C pings the router through the master")
    wait_for(lambda: probes.pings(outside, fip_ip), "the floating IP answers outside")
    assert f"{fip_ip}/32 dev " in open(files[master].conf).read()
    assert "0.0.0.0/0 via 172.24.4.1" in open(files[master].conf).read()
    # TCP sessions kept open across the failovers below, one to the floating IP, one
    # out through the default SNAT: the NAT rules are stateless and the new master's
    # conntrack (emptied when it became master) picks a session up mid-stream
    # (nf_conntrack_tcp_loose) from its next packet; here the inside or outside client
    # speaks first after each failover (a reply arriving first at the new master for
    # a default-SNAT session would be reset: no conntrackd)
    server = echo_server(vm, port.fixed_ips[0]["ip_address"], 5001)
    session = netns.call(outside, lambda: socket.create_connection((fip_ip, 5001),
                                                                   timeout=10))
    assert echoes(session, b"before")
    port2 = admin.network.create_port(network_id=net.id, binding_host_id=name["C"],
                                      device_owner="compute:nova",
                                      device_id=str(uuid.uuid4()))
    made["ports"].append(port2)
    vm2 = probes.plug(where["C"], "vm2", port2, 24)
    links.ensure_default_route(vm2, sub.gateway_ip)
    server2 = echo_server(outside, "172.24.4.1", 5002)
    snat = wait_for(lambda: netns.call(vm2, lambda: socket.create_connection(
        ("172.24.4.1", 5002), timeout=5)), "vm2 connects out through SNAT")
    assert echoes(snat, b"before")
    assert admin.network.get_port(qr_port_id(admin, router.id)).binding_host_id == \
        name[master]

    # restarting the master's agent changes nothing: same keepalived, still master
    before = keepalived.pids(files[master])
    restart(master)
    wait_for(lambda: next(iter(l3[master].ha._reported.values()), None) == "active",
             "the restarted agent reported its state again")
    assert keepalived.pids(files[master]) == before and holds(master)
    assert master_of(admin, router.id, name.values()) == name[master]
    assert probes.pings(vm, gw)

    # the master's keepalived crashes: the standby takes over, the ping continues
    keepalived.kill(files[master])
    wait_for(lambda: master_of(admin, router.id, name.values()) == name[standby],
             "the standby reported active")
    wait_for(lambda: holds(standby), "the new master holds the address")
    wait_for(lambda: probes.pings(vm, gw), "C pings the router through the new master")
    wait_for(lambda: probes.pings(outside, fip_ip), "the floating IP answers again")
    assert echoes(session, b"after the crash"), "the TCP session did not survive"
    # the default SNAT session too: its next packet from the inside is picked up and
    # SNATed again (the same port, no clash), so the answers find their way back
    assert echoes(snat, b"after the crash"), "the SNAT session did not survive"
    # the agent restarts the crashed keepalived: standby, without the addresses
    wait_for(lambda: keepalived.running(files[master]), "keepalived restarted")
    wait_for(lambda: keepalived.state(files[master]) == "standby", "it came back standby")
    wait_for(lambda: not holds(master), "the old master dropped the address")
    assert probes.pings(vm, gw)

    # manual failover: take the router off the master's agent, then add it back
    master, standby = standby, master
    base = admin.network.get_endpoint().rstrip("/")
    resp = admin.session.delete(
        f"{base}/agents/{l3_agents[master].id}/l3-routers/{router.id}", raise_exc=False)
    assert resp.status_code == 204, resp.text
    wait_for(lambda: not keepalived.running(files[master]) and not rns[master].exists(),
             "the router left the old master")
    assert not os.path.exists(files[master].dir)
    wait_for(lambda: master_of(admin, router.id, name.values()) == name[standby],
             "the other agent is master")
    wait_for(lambda: probes.pings(vm, gw), "C pings after the manual failover")
    wait_for(lambda: probes.pings(outside, fip_ip), "the floating IP after it")
    assert echoes(session, b"after the manual failover")
    assert echoes(snat, b"after the manual failover")
    admin.network.add_router_to_agent(l3_agents[master].id, router.id)
    wait_for(lambda: keepalived.running(files[master]), "keepalived back on the old master")
    wait_for(lambda: keepalived.state(files[master]) == "standby", "it joined as standby")
    assert master_of(admin, router.id, name.values()) == name[standby]
    assert probes.pings(vm, gw)

    # disabling the master's L3 agent drains it; enabling it brings it back standby
    admin.network.update_agent(l3_agents[standby].id, is_admin_state_up=False)
    wait_for(lambda: not keepalived.running(files[standby]) and not rns[standby].exists(),
             "the disabled agent's router gone")
    wait_for(lambda: master_of(admin, router.id, name.values()) == name[master],
             "the other agent is master")
    wait_for(lambda: probes.pings(outside, fip_ip), "the floating IP after draining")
    assert echoes(session, b"after draining")
    admin.network.update_agent(l3_agents[standby].id, is_admin_state_up=True)
    wait_for(lambda: keepalived.state(files[standby]) == "standby", "back as standby")
    assert master_of(admin, router.id, name.values()) == name[master]

    for conn, srv in ((session, server), (snat, server2)):
        conn.close()
        srv.join(10)

    # conversion, as Neutron: down, --no-ha, up: a legacy router on one host with its
    # addresses, floating IP and default route; down, --ha, up: HA again
    admin.network.update_router(router.id, is_admin_state_up=False)
    for h in "AB":
        wait_for(lambda h=h: not rns[h].exists(), f"the router down on {h}")
    admin.network.update_router(router.id, is_ha=False)
    admin.network.update_router(router.id, is_admin_state_up=True)
    legacy = by_name[wait_for(lambda: (a := list(admin.network.routers_hosting_l3_agents(
        router.id))) and len(a) == 1 and a[0].host, "one agent for the legacy router")]
    wait_for(lambda: holds(legacy), "the legacy router holds its address")
    assert not keepalived.pids(files[legacy]) and not os.path.exists(files[legacy].dir)
    assert not [lk for lk in links.list_links(rns[legacy]) if lk.name.startswith("ha-")]
    wait_for(lambda: probes.pings(vm, gw), "C pings the legacy router")
    wait_for(lambda: probes.pings(outside, fip_ip), "the floating IP, legacy")
    admin.network.update_router(router.id, is_admin_state_up=False)
    wait_for(lambda: not rns[legacy].exists(), "the legacy router down")
    admin.network.update_router(router.id, is_ha=True)
    admin.network.update_router(router.id, is_admin_state_up=True)
    host_ha_router_on(admin, router.id, [l3_agents[h].id for h in "AB"])
    wait_for(lambda: master_of(admin, router.id, name.values()), "a master again")
    wait_for(lambda: probes.pings(vm, gw), "C pings the router, HA again")
    wait_for(lambda: probes.pings(outside, fip_ip), "the floating IP, HA again")

    # the router goes: keepalived stopped, its files and namespaces removed
    admin.network.delete_ip(fip)
    admin.network.remove_interface_from_router(router, subnet=sub.id)
    admin.network.delete_router(router)
    for h in "AB":
        wait_for(lambda h=h: not rns[h].exists() and not keepalived.pids(files[h]),
                 f"the router gone from {h}")
        assert not os.path.exists(files[h].dir)


def echo_server(vm: netns.Netns, addr: str, port: int) -> threading.Thread:
    """A TCP echo server on ``addr:port`` inside ``vm`` for one connection (bounded:
    it ends when the peer closes or after ``WAIT_S`` of silence)."""
    def bind():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(1)
        return s
    sock = netns.call(vm, bind)

    def run():
        sock.settimeout(WAIT_S)
        try:
            conn, _ = sock.accept()
            conn.settimeout(WAIT_S * 3)
            while data := conn.recv(1024):
                conn.sendall(data)
            conn.close()
        except OSError:
            pass
        finally:
            sock.close()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def echoes(conn: socket.socket, word: bytes) -> bool:
    """Whether ``word`` sent on the established ``conn`` comes back (TCP retransmits
    across a failover; up to ``WAIT_S``)."""
    conn.settimeout(WAIT_S)
    conn.sendall(word)
    got = b""
    while len(got) < len(word):
        chunk = conn.recv(1024)
        if not chunk:
            return False
        got += chunk
    return got == word


def qr_port_id(admin, router_id: str) -> str:
    return next(admin.network.ports(device_id=router_id,
                                    device_owner="network:router_interface")).id
