"""DVR + HA routers for real (``router create --distributed --ha``): the SNAT part
highly available across two ``dvr_snat`` hosts, on three simulated hosts (n1, n2:
``dvr_snat``; c1: ``dvr``), each a namespace with a private run dir running an Agent
(Linux bridge + L3 drivers, the L3 one reporting VRRP states) against a real ``kumo
up``. A scratch namespace joins them: bridge ``ul`` (the underlay) and bridge ``ex``
(the flat ``public`` network), holding 172.24.4.1/24 on ``ex``: the outside address.

- both dvr_snat hosts run the router's ``snat-`` namespace with an ``ha-`` leg and
  keepalived; one is reported master (``ha_state`` through the API) and alone holds the
  ``sg-``/``qg-`` addresses and the default route;
- a server without a floating IP on c1 reaches 172.24.4.1 through SNAT (seen as the
  router's gateway address); a floating IP on another server of c1 answers from c1;
  east-west traffic c1 <-> n1 is routed by the hosts' ``qrouter-``;
- restarting the master's agent keeps its keepalived and mastership;
- the master's keepalived is killed (SIGKILL): the other dvr_snat host is reported
  master, takes the addresses, the gateway and ``sg-`` ports follow it, and the SNAT
  traffic continues (ping loss counted and printed, bounded loosely); an established
  TCP session out through SNAT survives; east-west and the floating IP are unaffected;
  the agent restarts the crashed keepalived, which comes back standby without them;
- the manual failover (router off the master's L3 agent, then back) moves the SNAT;
- removing the floating IP, the interfaces and the router stops every keepalived and
  removes the ``snat-``/``qrouter-``/``fip-`` namespaces and the keepalived files.
Every namespace, link and process is removed at the end, pass or fail."""
from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import uuid

import pytest

from kumo.agent import dvr
from kumo.agent.agent import Agent
from kumo.agent.client import ControllerClient
from kumo.agent.dataplane import keepalived, links, names, netns
from kumo.agent.l2 import LinuxBridgeDriver
from kumo.agent.l3 import L3Driver
from kumo.agent.metadata import MetadataProxy
from tests import waiting
from tests.dataplane import probes
from tests.dataplane.test_dvr import EXTERNAL, forwarded, plug
from tests.dataplane.test_l3 import accept_once
from tests.dataplane.test_l3_ha import (echo_server, echoes, ha_states, host_ha_router_on,
                                        master_of)

WAIT_S = 90.0
PING_S = 0.1
PING_N = 200
pytestmark = [
    pytest.mark.skipif(not os.path.exists(keepalived.BINARY), reason="needs keepalived"),
    pytest.mark.skipif(shutil.which("ping") is None or shutil.which("nsenter") is None,
                       reason="needs ping(8) and nsenter(1)")]


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout)


@pytest.fixture
def pingers():
    """``start(ns, addr) -> Popen``: a bounded ``ping`` (``PING_N`` every ``PING_S``) in
    ``ns``; every one still running at teardown is killed."""
    procs: list[subprocess.Popen] = []

    def start(ns: netns.Netns, addr: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            ["nsenter", f"--net={ns.path}", "ping", "-n", "-i", str(PING_S), "-c",
             str(PING_N), "-W", "1", "-w", "90", addr],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def lost(proc: subprocess.Popen) -> int:
    """Echo requests a finished ``ping`` got no answer to."""
    out, _ = proc.communicate(timeout=120)
    m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", out)
    assert m, f"no ping summary in:\n{out}"
    return int(m.group(1)) - int(m.group(2))


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_dvr_ha_snat_failover(cloud, admin, hosts, scratch, state_root, made, pingers):
    suffix = uuid.uuid4().hex[:6]
    roles = {"n1": "dvr_snat", "n2": "dvr_snat", "c1": "dvr"}
    name = {r: f"dh{r}-{suffix}" for r in roles}
    where = {r: hosts(r) for r in roles}
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
    client = ControllerClient.from_cloud("kumo-agent", config_files=[str(cloud.clouds_yaml)])
    secret_file = cloud.state_dir / "metadata_secret"
    if not secret_file.exists():
        secret_file.write_text(uuid.uuid4().hex)
        secret_file.chmod(0o600)
    secret = secret_file.read_text().strip()
    l3: dict[str, L3Driver] = {}
    agents: dict[str, Agent] = {}

    def start(r: str) -> None:
        l2 = LinuxBridgeDriver(name[r], where=where[r], local_ip=underlay[r],
                               bridge_mappings={"public": "br-ex"})
        l3[r] = L3Driver(name[r], where=where[r], client=client, agent_mode=roles[r],
                         state_dir=str(state_root / r),
                         metadata_proxy=MetadataProxy(client, secret=secret))
        agents[r] = Agent(client, name[r], [l2, l3[r]], workers=3, resync_s=5.0,
                          heartbeat_s=1.0, wait_s=2.0)
        agents[r].start()
        made["hosts"].append(name[r])

    try:
        for r in roles:
            start(r)
        def restart(r: str) -> None:
            agents.pop(r).stop()
            start(r)
        _exercise(admin, where, wire, name, l3, state_root, made, pingers, restart)
    finally:
        for agent in agents.values():
            agent.stop()
        for d in l3.values():  # what the agents did not get to remove
            d.cleanup_orphans({})
    assert not probes.procs_under(str(state_root)), "keepalived left running"


def _exercise(admin, where, wire, name, l3, state_root, made, pingers, restart):
    tag = uuid.uuid4().hex[:6]
    agent = {r: wait_for(lambda r=r: next(iter(admin.network.agents(
        host=name[r], agent_type="L3 agent")), None), f"{r}'s L3 agent") for r in name}
    assert agent["n1"].configuration["agent_mode"] == "dvr_snat"
    assert agent["c1"].configuration["agent_mode"] == "dvr"
    public = admin.network.find_network("public", ignore_missing=False)
    nets, subs = [], []
    for i in (1, 2):
        net = admin.network.create_network(name=f"dvrha-net{i}-{tag}")
        made["nets"].append(net)
        subs.append(admin.network.create_subnet(
            network_id=net.id, ip_version=4, cidr=f"10.83.{i}.0/24", enable_dhcp=False))
        nets.append(net)
    router = admin.network.create_router(name=f"dvrha-r-{tag}", is_distributed=True,
                                         ha=True,
                                         external_gateway_info={"network_id": public.id})
    made["routers"].append(router)
    assert router.is_distributed and router.is_ha
    for sub in subs:
        admin.network.add_interface_to_router(router, subnet=sub.id)
    host_ha_router_on(admin, router.id, [agent["n1"].id, agent["n2"].id])
    router = admin.network.get_router(router.id)
    gw_ip = router.external_gateway_info["external_fixed_ips"][0]["ip_address"]

    # vm0 (c1, net1, floating IP), vm1 (c1, net2, none: SNAT), vm2 (n1, net2)
    placed = (("c1", 0), ("c1", 1), ("n1", 1))
    ports = [admin.network.create_port(network_id=nets[n].id, binding_host_id=name[h],
                                       device_owner="compute:nova",
                                       device_id=str(uuid.uuid4())) for h, n in placed]
    made["ports"].extend(ports)
    vm = [plug(where[h], f"vm{i}", p, subs[n].cidr, subs[n].gateway_ip)
          for i, ((h, n), p) in enumerate(zip(placed, ports))]
    ip = [p.fixed_ips[0]["ip_address"] for p in ports]

    sns = {r: where[r].ns(dvr.snat_ns(router.id)) for r in ("n1", "n2")}
    rns = {r: where[r].ns(names.router_ns(router.id)) for r in name}
    files = {r: keepalived.Files(str(state_root / r / "ha_confs" / router.id))
             for r in ("n1", "n2")}
    by_name = {name[r]: r for r in ("n1", "n2")}
    sg_ports = list(admin.network.ports(device_id=router.id,
                                        device_owner="network:router_centralized_snat"))
    assert len(sg_ports) == 2
    sg = {names.SNAT_LEG + p.id[:names.ID_LEN]: p.fixed_ips[0]["ip_address"]
          for p in sg_ports}
    qg = names.router_gateway(next(admin.network.ports(
        device_id=router.id, device_owner="network:router_gateway")).id)

    def addresses(r: str, leg: str) -> set[str]:
        if not sns[r].exists() or links.get_link(sns[r], leg) is None:
            return set()
        return {str(ipaddress.ip_interface(a).ip) for a in links.list_addresses(sns[r], leg)}

    def holds(r: str) -> bool:
        """Whether n1/n2's snat- holds the gateway and every sg- address."""
        return gw_ip in addresses(r, qg) and all(a in addresses(r, leg)
                                                 for leg, a in sg.items())

    def holds_none(r: str) -> bool:
        return not (gw_ip in addresses(r, qg) or any(a in addresses(r, leg)
                                                     for leg, a in sg.items()))

    def default_route(r: str) -> bool:
        return sns[r].exists() and any(rt["dst"] == "0.0.0.0/0" and rt["gateway"]
                                       for rt in links.list_routes(sns[r], 4))

    # both dvr_snat hosts run snat- with an ha- leg and keepalived; the dvr host none
    for r in ("n1", "n2"):
        wait_for(sns[r].exists, f"snat- on {r}")
        wait_for(lambda r=r: keepalived.running(files[r]), f"keepalived on {r}")
        want = [f"{gw_ip}/24 dev {qg}", *(f"{a}/24 dev {leg}" for leg, a in sg.items())]
        conf = wait_for(lambda r=r: all(w in (c := open(files[r].conf).read())
                                        for w in want) and c,
                        f"{r}'s keepalived.conf has the qg- and sg- addresses")
        assert "nopreempt" in conf and f"interface {names.HA}" in conf
        assert len([lk for lk in links.list_links(sns[r])
                    if lk.name.startswith(names.HA)]) == 1
    assert not where["c1"].ns(dvr.snat_ns(router.id)).exists()
    # n1's qrouter- (its server vm2) is the distributed one: no ha- leg there
    wait_for(rns["n1"].exists, "qrouter- on n1")
    assert not [lk for lk in links.list_links(rns["n1"]) if lk.name.startswith(names.HA)]
    master = by_name[wait_for(lambda: master_of(admin, router.id, by_name),
                              "one master reported")]
    standby = "n2" if master == "n1" else "n1"
    assert ha_states(admin, router.id)[name[standby]] == "standby"
    wait_for(lambda: holds(master), "the master's snat- holds sg-/qg- addresses")
    assert holds_none(standby) and not default_route(standby)
    assert default_route(master)

    # SNAT: vm1 (no floating IP) reaches the outside as the router's gateway address
    wait_for(lambda: probes.pings(vm[1], EXTERNAL), "vm1 reaches the outside")
    t, seen = accept_once(wire, EXTERNAL, 8092)
    wait_for(lambda: probes.connects(vm[1], EXTERNAL, 8092), "vm1 connects outside")
    t.join(10)
    assert seen.get("peer") == gw_ip
    # east-west c1 <-> n1, and a floating IP answering from c1
    wait_for(lambda: probes.pings(vm[0], ip[2]), "vm0 (c1) pings vm2 (n1)")
    fip = admin.network.create_ip(floating_network_id=public.id, port_id=ports[0].id)
    made["fips"].append(fip)
    addr = fip.floating_ip_address
    wait_for(lambda: probes.pings(wire, addr), "the outside pings the floating IP")
    assert where["c1"].ns(dvr.fip_ns(public.id)).exists()
    # a TCP session out through SNAT, kept open across the failover
    server = echo_server(wire, EXTERNAL, 5012)
    session = wait_for(lambda: netns.call(vm[1], lambda: socket.create_connection(
        (EXTERNAL, 5012), timeout=5)), "vm1 opens a session out through SNAT")
    assert echoes(session, b"before")

    # restarting the master's agent changes nothing: same keepalived, still master
    kept = keepalived.pids(files[master])
    restart(master)
    wait_for(lambda: l3[master].ha._reported.get(router.id) == "active",
             "the restarted agent reported its state again")
    assert keepalived.pids(files[master]) == kept and holds(master)
    assert master_of(admin, router.id, by_name) == name[master]
    assert echoes(session, b"after the agent restart")

    # the master's keepalived crashes: the standby takes the SNAT over
    snat_ping = pingers(vm[1], EXTERNAL)
    fip_ping = pingers(wire, addr)
    ew_ping = pingers(vm[0], ip[2])
    wait_for(lambda: probes.pings(vm[1], EXTERNAL, count=1), "pinging before the crash")
    keepalived.kill(files[master])
    wait_for(lambda: master_of(admin, router.id, by_name) == name[standby],
             "the standby reported active")
    wait_for(lambda: holds(standby), "the new master holds the addresses")
    assert default_route(standby)
    gw_port = next(admin.network.ports(device_id=router.id,
                                       device_owner="network:router_gateway"))
    wait_for(lambda: all(p.binding_host_id == name[standby] for p in admin.network.ports(
        device_id=router.id, device_owner="network:router_centralized_snat")),
        "the sg- ports follow the master")
    assert admin.network.get_port(gw_port.id).binding_host_id == name[standby]
    wait_for(lambda: probes.pings(vm[1], EXTERNAL), "SNAT through the new master")
    assert echoes(session, b"after the crash"), "the SNAT session did not survive"
    before = forwarded(sns[standby])
    assert probes.pings(vm[1], EXTERNAL, count=3)
    assert forwarded(sns[standby]) >= before + 3
    snat_lost, fip_lost, ew_lost = lost(snat_ping), lost(fip_ping), lost(ew_ping)
    print(f"DVR+HA failover: SNAT ping loss {snat_lost} x {PING_S}s "
          f"= {snat_lost * PING_S:.1f}s; floating IP lost {fip_lost}, east-west lost "
          f"{ew_lost} (of {PING_N})")
    assert snat_lost < PING_N // 2, snat_lost  # bounded, not tight: shared cores
    assert fip_lost <= 5 and ew_lost <= 5, (fip_lost, ew_lost)
    # the crashed keepalived is restarted by its agent: standby, holding nothing
    wait_for(lambda: keepalived.running(files[master]), "keepalived restarted")
    wait_for(lambda: keepalived.state(files[master]) == "standby", "it came back standby")
    wait_for(lambda: holds_none(master), "the old master dropped the addresses")
    assert not default_route(master)
    assert ha_states(admin, router.id)[name[master]] == "standby"
    assert probes.pings(vm[1], EXTERNAL) and probes.pings(wire, addr)
    assert probes.pings(vm[0], ip[2])
    session.close()
    server.join(10)

    # manual failover: the router off the master's agent (its snat- and keepalived go,
    # the other takes over), then back there as a standby
    master, standby = standby, master
    base = admin.network.get_endpoint().rstrip("/")
    resp = admin.session.delete(
        f"{base}/agents/{agent[master].id}/l3-routers/{router.id}", raise_exc=False)
    assert resp.status_code == 204, resp.text
    wait_for(lambda: not sns[master].exists() and not keepalived.running(files[master]),
             "snat- left the old master")
    wait_for(lambda: master_of(admin, router.id, by_name) == name[standby],
             "the other dvr_snat host is master")
    wait_for(lambda: holds(standby), "it holds the addresses")
    wait_for(lambda: probes.pings(vm[1], EXTERNAL), "SNAT after the manual failover")
    admin.network.add_router_to_agent(agent[master].id, router.id)
    wait_for(lambda: keepalived.running(files[master]), "keepalived back on the old master")
    wait_for(lambda: keepalived.state(files[master]) == "standby", "it joined as standby")
    assert master_of(admin, router.id, by_name) == name[standby] and holds_none(master)
    assert probes.pings(vm[1], EXTERNAL)

    # removal: every keepalived stopped, its files and the namespaces gone
    admin.network.delete_ip(fip)
    wait_for(lambda: not where["c1"].ns(dvr.fip_ns(public.id)).exists(), "fip- removed")
    for sub in subs:
        admin.network.remove_interface_from_router(router, subnet=sub.id)
    admin.network.delete_router(router)
    for r in ("n1", "n2"):
        wait_for(lambda r=r: not sns[r].exists() and not keepalived.pids(files[r]),
                 f"snat- and keepalived gone from {r}")
        wait_for(lambda r=r: not os.path.exists(files[r].dir), f"{r}'s keepalived files")
    for r in name:
        wait_for(lambda r=r: not rns[r].exists(), f"qrouter- gone from {r}")
