"""The L3 driver and the metadata proxy for real.

- The whole router: one simulated host (a namespace with a private run dir) running an
  Agent with the Linux-bridge and L3 drivers against a real ``kumo up``; the router is
  scheduled to it through the L3 agent scheduler API; two networks, one instance
  namespace on each, the host's ``br-ex`` holding 172.24.4.1/24 (the ``public``
  subnet's gateway). Instances ping each other through the router, the host reaches an
  instance by its floating IP (and the instance sees the host's address), SNAT lets the
  other instance reach the host, extra routes appear, the metadata address reaches the
  proxy (tests/dataplane/test_metadata_security.py has the proxy's own tests), and
  deleting the floating IP and the router removes their kernel state.
Every namespace (and so every link) is removed at the end, pass or fail."""
from __future__ import annotations

import errno
import ipaddress
import json
import shutil
import socket
import subprocess
import threading
import time
import uuid

import pytest

from kumo.agent.agent import Agent
from kumo.agent.client import ControllerClient
from kumo.agent.dataplane import links, names, netns, nft
from kumo.agent.l2 import LinuxBridgeDriver
from kumo.agent.l3 import FAMILY, TABLE, L3Driver
from kumo.agent.metadata import MetadataDriver, MetadataProxy
from tests import waiting
from tests.dataplane import probes

WAIT_S = 60.0
pings = probes.pings
connects = probes.connects


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout)


def http_get(ns: netns.Netns, host: str, port: int, path: str,
             source: str | None = None) -> tuple[int, bytes]:
    """A plain HTTP/1.0 GET made from inside ``ns``: ``(status, body)``."""
    def go():
        sock = socket.create_connection((host, port), timeout=10,
                                        source_address=(source, 0) if source else None)
        try:
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        finally:
            sock.close()
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body
    return netns.call(ns, go)


# -- the router on a simulated host -----------------------------------------------------

def plug(host: netns.Host, name: str, port, cidr: str, gateway: str) -> netns.Netns:
    """An instance namespace ``name`` whose ``eth0`` pairs with ``tap<port[:11]>``."""
    vm = netns.ensure_netns(host, name)
    links.ensure_veth(host.root, names.tap(port.id), "eth0", vm, up=False)
    links.set_mac(vm, "eth0", port.mac_address)
    links.set_up(vm, "eth0")
    prefix = ipaddress.ip_network(cidr).prefixlen
    links.ensure_address(vm, "eth0", f"{port.fixed_ips[0]['ip_address']}/{prefix}")
    links.ensure_default_route(vm, gateway)
    return vm


def accept_once(ns: netns.Netns, addr: str, port: int) -> tuple[threading.Thread, dict]:
    """Listen on ``addr:port`` inside ``ns``; the thread records the first peer.

    The bind is retried for a few seconds on EADDRINUSE: a listener on that port just
    closed may live on for some milliseconds in a child process forked meanwhile by
    an agent thread of this process (pyroute2 forks a helper to open a netlink socket
    in another namespace, and the child holds copies of every descriptor)."""
    def bind():
        deadline = time.monotonic() + 5.0
        while True:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((addr, port))
            except OSError as e:
                s.close()
                if e.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
                continue
            s.listen(1)
            return s
    sock = netns.call(ns, bind)
    seen: dict = {}

    def run():
        sock.settimeout(WAIT_S)
        try:
            conn, peer = sock.accept()
            seen["peer"] = peer[0]
            conn.close()
        except OSError:
            pass
        finally:
            sock.close()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, seen


def host_router_on(admin, router_id: str, agent_id: str) -> None:
    """Move the router to ``agent_id`` through the scheduler API (a heartbeat may place
    it meanwhile; try again)."""
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


def in_router_ns(where: netns.Host, router_id: str, *argv: str) -> bool:
    """``ip netns exec qrouter-<id> argv`` with the host's run dir as /run/netns (a
    private mount namespace, so the machine's /run/netns is untouched)."""
    script = (f"mount --rbind {where.run_dir} /run/netns && "
              f"exec ip netns exec {names.router_ns(router_id)} \"$@\"")
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                           script, "sh", *argv], capture_output=True, text=True,
                          timeout=30)
    return proc.returncode == 0


@pytest.fixture
def l3_cloud(admin, unique):
    """Networks, router, ports and floating IPs made through ``made`` are deleted at
    the end (what is already gone is skipped)."""
    made: dict[str, list] = {"fips": [], "ports": [], "routers": [], "nets": []}
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


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_router_on_a_host(cloud, admin, hosts, unique, l3_cloud):
    host = f"l3host-{uuid.uuid4().hex[:6]}"
    where = hosts("h")
    links.ensure_address(where.root, "lo", "10.97.0.1/32")  # the tunneling address
    links.ensure_bridge(where.root, "br-ex")
    links.ensure_address(where.root, "br-ex", "172.24.4.1/24")
    client = ControllerClient.from_cloud("kumo-agent", config_files=[str(cloud.clouds_yaml)])
    l2 = LinuxBridgeDriver(host, where=where, local_ip="10.97.0.1",
                           bridge_mappings={"public": "br-ex"})
    secret_file = cloud.state_dir / "metadata_secret"
    if not secret_file.exists():  # the server makes it on first use; make it first
        secret_file.write_text(uuid.uuid4().hex)
        secret_file.chmod(0o600)
    secret = secret_file.read_text().strip()
    l3 = L3Driver(host, where=where, client=client,
                  metadata_proxy=MetadataProxy(client, secret=secret))
    agent = Agent(client, host, [l2, l3, MetadataDriver(host)], workers=3, resync_s=2.0,
                  heartbeat_s=1.0, wait_s=2.0)
    agent.start()
    try:
        _exercise(admin, where, host, l3_cloud, unique)
    finally:
        agent.stop()
        for a in admin.network.agents(host=host):
            admin.network.delete_agent(a, ignore_missing=True)


def _exercise(admin, where, host, made, unique):
    public = admin.network.find_network("public", ignore_missing=False)
    nets, subs = [], []
    for i in (1, 2):
        net = admin.network.create_network(name=unique(f"l3-net{i}"))
        made["nets"].append(net)
        subs.append(admin.network.create_subnet(
            network_id=net.id, ip_version=4, cidr=f"10.71.{i}.0/24", enable_dhcp=False))
        nets.append(net)
    router = admin.network.create_router(name=unique("l3-r"),
                                         external_gateway_info={"network_id": public.id})
    made["routers"].append((router, [s.id for s in subs]))
    for sub in subs:
        admin.network.add_interface_to_router(router, subnet=sub.id)
    l3_agent = wait_for(lambda: next(iter(admin.network.agents(
        host=host, agent_type="L3 agent")), None), "the L3 agent registered")
    host_router_on(admin, router.id, l3_agent.id)
    router = admin.network.get_router(router.id)
    gw_ip = router.external_gateway_info["external_fixed_ips"][0]["ip_address"]

    ports = [admin.network.create_port(network_id=n.id, binding_host_id=host,
                                       device_owner="compute:nova",
                                       device_id=str(uuid.uuid4())) for n in nets]
    made["ports"].extend(ports)
    vm = [plug(where, f"vm{i}", p, s.cidr, s.gateway_ip)
          for i, (p, s) in enumerate(zip(ports, subs))]
    ip = [p.fixed_ips[0]["ip_address"] for p in ports]

    rns = where.ns(names.router_ns(router.id))
    wait_for(rns.exists, "the router namespace")
    for p in admin.network.ports(device_id=router.id):
        assert p.binding_host_id == host
        wait_for(lambda: admin.network.get_port(p.id).status == "ACTIVE",
                 f"router port {p.device_owner} ACTIVE")
    qr = {names.router_interface(p.id) for p in admin.network.ports(
        device_id=router.id, device_owner="network:router_interface")}
    wait_for(lambda: qr <= {lk.name for lk in links.list_links(rns)}, "qr- legs")
    assert links.get_sysctl(rns, "net.ipv4.ip_forward") == "1"
    # the agent's configuration counts routers with a gateway, not every router (the
    # bootstrap's router1 may be hosted here too)
    conf = lambda: admin.network.get_agent(l3_agent.id).configuration  # noqa: E731

    def gateways_hosted():
        return sum(1 for r in admin.network.agent_hosted_routers(l3_agent.id)
                   if admin.network.get_router(r.id).external_gateway_info)
    before = gateways_hosted()
    wait_for(lambda: conf().get("ex_gw_ports") == before, f"ex_gw_ports {before}")
    admin.network.update_router(router, external_gateway_info={})
    wait_for(lambda: conf().get("ex_gw_ports") == before - 1,
             "ex_gw_ports one less (gateway cleared)")
    assert conf()["routers"] > conf()["ex_gw_ports"]
    admin.network.update_router(router, external_gateway_info={"network_id": public.id})
    wait_for(lambda: conf().get("ex_gw_ports") == before, "ex_gw_ports back")
    router = admin.network.get_router(router.id)
    gw_ip = router.external_gateway_info["external_fixed_ips"][0]["ip_address"]

    # east-west through the router; the router reaches the instances
    wait_for(lambda: pings(vm[0], ip[1]), "vm0 pings vm1 through the router")
    assert pings(vm[1], ip[0])
    assert in_router_ns(where, router.id, "ping", "-c", "1", "-W", "2", ip[0])

    # SNAT: vm1 (no floating IP) reaches the host as the router's gateway address
    wait_for(lambda: pings(vm[1], "172.24.4.1"), "vm1 reaches 172.24.4.1 (SNAT)")
    t, seen = accept_once(where.root, "172.24.4.1", 8081)
    wait_for(lambda: connects(vm[1], "172.24.4.1", 8081), "vm1 connects to the host")
    t.join(10)
    assert seen.get("peer") == gw_ip

    # floating IP on vm0: the host reaches it and vm0 sees the host's address
    fip = admin.network.create_ip(floating_network_id=public.id, port_id=ports[0].id)
    made["fips"].append(fip)
    addr = fip.floating_ip_address
    wait_for(lambda: admin.network.get_ip(fip.id).status == "ACTIVE", "FIP ACTIVE")
    wait_for(lambda: pings(where.root, addr), "the host pings the floating IP")
    qg = names.router_gateway(router.external_gateway_info and next(
        p.id for p in admin.network.ports(device_id=router.id,
                                          device_owner="network:router_gateway")))
    assert f"{addr}/32" in links.list_addresses(rns, qg)
    t, seen = accept_once(vm[0], ip[0], 8080)
    wait_for(lambda: connects(where.root, addr, 8080), "the host connects to the FIP")
    t.join(10)
    assert seen.get("peer") == "172.24.4.1"

    # metadata: vm1's request to 169.254.169.254:80 reaches the proxy listening on its
    # qr- leg, which finds vm1's port on that network and signs its device id for the
    # controller's metadata service (which answers "Instance not found": there is no
    # such server; not 403: the signature is the server's; not the proxy's own 404)
    status, body = wait_for(lambda: _try_get(vm[1], "169.254.169.254", 80, "/openstack"),
                            "an HTTP answer from the metadata address")
    assert status == 404 and b"Instance not found" in body, (status, body)
    assert not connects(vm[1], gw_ip, 9697) and not connects(where.root, gw_ip, 80)

    # extra route
    admin.network.update_router(router, routes=[{"destination": "10.99.0.0/24",
                                                 "nexthop": ip[1]}])
    wait_for(lambda: {"dst": "10.99.0.0/24", "gateway": ip[1],
                      "dev": names.router_interface(next(
                          p.id for p in admin.network.ports(
                              device_id=router.id, device_owner="network:router_interface",
                              network_id=nets[1].id)))} in links.list_routes(rns),
             "the extra route")
    admin.network.update_router(router, routes=[])
    wait_for(lambda: not [r for r in links.list_routes(rns)
                          if r["dst"] == "10.99.0.0/24"], "the extra route removed")

    # deleting the floating IP removes its address and NAT rules
    admin.network.delete_ip(fip)
    wait_for(lambda: f"{addr}/32" not in links.list_addresses(rns, qg), "FIP /32 gone")
    rules = wait_for(lambda: (r := json.dumps(nft.list_table(rns, FAMILY, TABLE)))
                     and f'"{addr}"' not in r and r, "the FIP's NAT rules gone")
    assert "snat" in rules
    assert not pings(where.root, addr)

    # deleting the router removes the namespace and its legs' taps
    taps = {names.tap(p.id) for p in admin.network.ports(device_id=router.id)}
    for sub in subs:
        admin.network.remove_interface_from_router(router, subnet=sub.id)
    admin.network.delete_router(router)
    wait_for(lambda: not rns.exists(), "the router namespace removed")
    wait_for(lambda: not taps & {lk.name for lk in links.list_links(where.root)},
             "the router's taps removed")


def _try_get(ns, host, port, path):
    try:
        return http_get(ns, host, port, path)
    except OSError:
        return None
