"""The metadata proxy answers an instance with its own data only, whatever it sends.

A simulated host (a namespace with a private run dir) runs the real L3 driver (and the
DHCP driver's isolated-metadata step) with a real :class:`MetadataProxy`, fed with
snapshots made here; the controller is a fake on the machine's loopback answering the
port lookups and ``/metadata/...`` (it echoes the identity headers it was given, so the
tests see whom the proxy vouched for). Instances are namespaces whose ``eth0`` sits on
a bridge of the host with the router's (or DHCP port's) tap, as the L2 driver would
plug them; an "external client" sits on ``br-ex`` with the router's gateway leg.

Topology: router R with ``qr-`` legs on net-1 (10.66.1.0/24) and net-2 (10.66.2.0/24)
and a ``qg-`` leg 172.24.4.10 on ``br-ex`` (172.24.4.0/24). On net-1: vmA (proj-1,
10.66.1.5) and vmB (proj-2: another project's instance on a shared network,
10.66.1.6); on net-2: vmC (proj-1, 10.66.2.5); net-3, not on the router, has an
instance Z holding 10.66.1.5 too (overlapping addresses). net-4 has no router: its
DHCP namespace serves vmD (10.66.4.5).

The last test is end to end: a whole ``kumo up`` in a simulated machine (the quick
start's fixture), two projects' cirros instances on a shared network without a router.

Everything the tests make is inside the host's namespaces; the ``hosts`` fixture
removes them (and so every link), pass or fail, after the proxy's sockets are closed.
"""
from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.parse
import uuid

import pytest

from kumo.agent.client import ControllerClient
from kumo.agent.dataplane import links, names, netns, nft
from kumo.agent.dhcp import DhcpDriver, ns_device
from kumo.agent.l3 import FAMILY, TABLE, L3Driver
from kumo.agent.metadata import MetadataProxy, sign
from tests import waiting
from tests.dataplane import probes
from tests.dataplane.machines import started

SECRET = "s3cret"
MD = "169.254.169.254"
GW = "172.24.4.10"
WAIT_S = 30.0


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout)


def _pid() -> str:
    return str(uuid.uuid4())


def _mac(n: int) -> str:
    return f"fa:16:3e:00:{n // 256:02x}:{n % 256:02x}"


# -- the fake controller ------------------------------------------------------------------

class FakeController(http.server.BaseHTTPRequestHandler):
    """Port lookups (``network_id``, ``fixed_ips=ip_address=``, ``device_id`` +
    ``device_owner`` filters) and ``/metadata/...``, which answers with the identity
    headers it got and records every request's headers."""

    ports: list[dict] = []
    seen: list[dict] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/networking/v2.0/ports":
            out = list(self.ports)
            if "network_id" in query:
                out = [p for p in out if p["network_id"] == query["network_id"][0]]
            if "fixed_ips" in query:
                ip = query["fixed_ips"][0].split("=", 1)[1]
                out = [p for p in out if ip in [f["ip_address"] for f in p["fixed_ips"]]]
            for key in ("device_id", "device_owner"):
                if key in query:
                    out = [p for p in out if p[key] == query[key][0]]
            body = {"ports": out}
        elif url.path.startswith("/metadata/"):
            headers = {k.lower(): v for k, v in self.headers.items()}
            self.seen.append({"path": url.path, "headers": headers})
            body = {"path": url.path, "instance": headers.get("x-instance-id"),
                    "tenant": headers.get("x-tenant-id"),
                    "for": headers.get("x-forwarded-for"),
                    "signed": headers.get("x-instance-id-signature") == sign(
                        SECRET, headers.get("x-instance-id") or "")}
        else:
            body = {"error": "unexpected"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def compute_port(net: str, device: str, project: str, ip: str) -> dict:
    return {"id": _pid(), "network_id": net, "device_id": device,
            "device_owner": "compute:nova", "project_id": project,
            "fixed_ips": [{"ip_address": ip}]}


@pytest.fixture
def controller():
    """``(base URL, client)`` of a fresh fake controller; stopped at teardown."""
    FakeController.ports = [
        compute_port("net-1", "inst-A", "proj-1", "10.66.1.5"),
        compute_port("net-1", "inst-B", "proj-2", "10.66.1.6"),
        compute_port("net-2", "inst-C", "proj-1", "10.66.2.5"),
        compute_port("net-3", "inst-Z", "proj-3", "10.66.1.5"),
        compute_port("net-4", "inst-D", "proj-1", "10.66.4.5"),
        {"id": _pid(), "network_id": "net-1", "device_id": "not-an-instance",
         "device_owner": "network:foo", "project_id": "proj-1",
         "fixed_ips": [{"ip_address": "10.66.1.7"}]}]
    FakeController.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeController)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield base, ControllerClient.from_token(
            base + "/networking", "token", endpoints={"compute": base + "/compute/v2.1"})
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy(controller):
    """A real proxy against the fake controller; every socket closed at teardown (so
    before the ``hosts`` fixture deletes the namespaces)."""
    p = MetadataProxy(controller[1], secret=SECRET)
    try:
        yield p
    finally:
        p.stop()


# -- instances and requests ---------------------------------------------------------------

def vm(host: netns.Host, name: str, bridge: str, cidr: str, via: str,
       routes: dict[str, str] | None = None) -> netns.Netns:
    """An instance namespace whose ``eth0`` (``cidr``, default route ``via``) pairs
    with ``v<name>`` on ``bridge`` of the host."""
    ns = netns.ensure_netns(host, name)
    peer = f"v{name}"
    links.ensure_veth(host.root, peer, "eth0", ns)
    links.set_master(host.root, peer, bridge)
    links.ensure_address(ns, "eth0", cidr)
    links.ensure_default_route(ns, via)
    for dst, hop in (routes or {}).items():
        links.ensure_route(ns, dst, gateway=hop)
    return ns


def get(ns: netns.Netns, path: str = "/openstack/latest/user_data", *,
        host: str = MD, port: int = 80, headers: dict | None = None) -> tuple[int, bytes]:
    """An HTTP/1.0 GET from inside ``ns``: ``(status, body)``; ``(0, b"")`` when the
    connection is refused or times out."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())

    def go():
        try:
            sock = socket.create_connection((host, port), timeout=3)
        except OSError:
            return 0, b""
        try:
            sock.settimeout(10)
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n{extra}\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        except OSError:
            return 0, b""
        finally:
            sock.close()
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body
    return netns.call(ns, go)


def identity(ns: netns.Netns, **kw) -> dict | None:
    """Whom the proxy vouched for (the fake's echo), or None if it did not answer
    200."""
    status, body = get(ns, **kw)
    return json.loads(body) if status == 200 else None


FORGED = {
    "X-Instance-ID": "inst-B", "X-Tenant-ID": "proj-2",
    "X-Instance-ID-Signature": sign(SECRET, "inst-B"),
    "X-Neutron-Router-ID": "other-router", "X-Neutron-Network-ID": "net-2",
    "X-Forwarded-Host": "10.66.1.6"}


# -- the routed case ----------------------------------------------------------------------

def router_state(rid: str, hostname: str, ports: dict, interfaces=("1", "2")) -> dict:
    ifaces = [{"port_id": ports[i], "network_id": f"net-{i}", "mac_address": _mac(int(i)),
               "fixed_ips": [{"ip_address": f"10.66.{i}.1", "cidr": f"10.66.{i}.0/24"}]}
              for i in interfaces]
    gw = {"port_id": ports["gw"], "network_id": "ext", "mac_address": _mac(99),
          "fixed_ips": [{"ip_address": GW, "cidr": "172.24.4.0/24",
                         "gateway_ip": "172.24.4.1"}]}
    router = {"id": rid, "host": hostname, "admin_state_up": True, "interfaces": ifaces,
              "gateway": gw, "enable_snat": True, "routes": []}
    return {"routers": [router], "floatingips": [],
            "networks": [{"id": n, "mtu": 1500} for n in ("net-1", "net-2", "ext")]}


def reconcile(l3: L3Driver, rid: str, state: dict) -> None:
    obj = next((r for r in state["routers"] if r["id"] == rid), None)
    l3.reconcile({"kind": "routers", "id": rid, "state": state, "object": obj}, 1)


@pytest.fixture
def routed(hosts, proxy):
    """The router topology on a simulated host: a namespace per instance, the router
    realized by the L3 driver. Yields a dict of the pieces."""
    where = hosts("h")
    hostname = f"mdsec-{uuid.uuid4().hex[:6]}"
    l3 = L3Driver(hostname, where=where, metadata_proxy=proxy)
    rid = str(uuid.uuid4())
    ports = {"1": _pid(), "2": _pid(), "gw": _pid()}
    state = router_state(rid, hostname, ports)
    reconcile(l3, rid, state)
    for key, bridge in (("1", "brq-net1"), ("2", "brq-net2"), ("gw", "br-ex")):
        links.ensure_bridge(where.root, bridge)
        links.set_master(where.root, names.tap(ports[key]), bridge)
    t = {"where": where, "l3": l3, "rid": rid, "ports": ports, "state": state,
         "rns": where.ns(names.router_ns(rid)), "hostname": hostname,
         "A": vm(where, "a", "brq-net1", "10.66.1.5/24", "10.66.1.1"),
         "B": vm(where, "b", "brq-net1", "10.66.1.6/24", "10.66.1.1"),
         "C": vm(where, "c", "brq-net2", "10.66.2.5/24", "10.66.2.1"),
         "N": vm(where, "n", "brq-net1", "10.66.1.99/24", "10.66.1.1"),
         "S": vm(where, "s", "brq-net1", "10.66.1.7/24", "10.66.1.1"),
         "X": vm(where, "x", "br-ex", "172.24.4.50/24", "172.24.4.1", {f"{MD}/32": GW})}
    wait_for(lambda: probes.pings(t["A"], "10.66.1.1", count=1), "vmA reaches its router")
    yield t
    proxy.stop()


def test_each_instance_gets_its_own_data(routed):
    for name, inst, project, ip in (("A", "inst-A", "proj-1", "10.66.1.5"),
                                    ("B", "inst-B", "proj-2", "10.66.1.6"),
                                    ("C", "inst-C", "proj-1", "10.66.2.5")):
        got = wait_for(lambda: identity(routed[name]), f"metadata for vm{name}")
        assert got == {"path": "/metadata/openstack/latest/user_data", "instance": inst,
                       "tenant": project, "for": ip, "signed": True}
    # the query string is kept; the 10.66.1.5 of net-3 (not on the router) is not A
    assert identity(routed["A"], path="/latest/meta-data/?x=1")["instance"] == "inst-A"
    # an address nobody's instance holds, or a non-instance port's: 404, nothing asked
    before = len(FakeController.seen)
    assert get(routed["N"])[0] == 404
    assert get(routed["S"])[0] == 404
    assert len(FakeController.seen) == before


@pytest.mark.parametrize("forged_for", [
    "10.66.1.6",             # same network, another project (a shared network)
    "10.66.2.5",             # another network on the same router
    "10.66.4.5",             # a network of another router / DHCP namespace
    "10.66.1.6, 10.66.1.5",  # a list
])
def test_forged_x_forwarded_for_is_ignored(routed, forged_for):
    headers = dict(FORGED, **{"X-Forwarded-For": forged_for})
    got = wait_for(lambda: identity(routed["A"], headers=headers), "metadata for vmA")
    assert got["instance"] == "inst-A" and got["for"] == "10.66.1.5" and got["signed"]
    sent = FakeController.seen[-1]["headers"]
    assert sent["x-instance-id-signature"] == sign(SECRET, "inst-A")
    assert sent["x-tenant-id"] == "proj-1" and sent["x-forwarded-for"] == "10.66.1.5"
    assert not [k for k in sent if k.startswith(("x-neutron", "x-forwarded-host"))]
    # an address without an instance forging A's address gets nothing
    assert get(routed["N"], headers={"X-Forwarded-For": "10.66.1.5"})[0] == 404


def test_nothing_else_listens(routed):
    """Only 169.254.169.254:80 from a qr- leg: not the legs' own addresses, not the
    gateway leg, not 9697, and not from the external network."""
    a, x = routed["A"], routed["X"]
    wait_for(lambda: identity(a), "metadata for vmA")
    for host in ("10.66.1.1", "10.66.2.1", GW):
        for port in (80, 9697):
            assert not probes.connects(a, host, port), (host, port)
            assert not probes.connects(x, host, port), (host, port)
    # the external client routes 169.254.169.254 through the router's gateway address
    assert probes.pings(x, GW, count=1)
    assert not probes.connects(x, MD, 80)
    assert get(x)[0] == 0
    # vmA cannot reach 9697 on the metadata address either
    assert not probes.connects(a, MD, 9697)
    # defence in depth: the router drops the metadata address off the qr- legs
    table = nft.list_table(routed["rns"], FAMILY, TABLE)
    rule = next(o["rule"] for o in table if o.get("rule", {}).get("comment") == "metadata")
    assert rule["chain"] == "input" and "drop" in json.dumps(rule["expr"])
    assert "redirect" not in json.dumps(table)


def test_listeners_follow_the_router(routed):
    proxy, l3, rns = routed["l3"].proxy, routed["l3"], routed["rns"]
    p = routed["ports"]
    assert proxy.listeners(rns) == {names.router_interface(p["1"]): "net-1",
                                    names.router_interface(p["2"]): "net-2"}
    assert f"{MD}/32" in links.list_addresses(rns, "lo", 4)
    reconcile(l3, routed["rid"], routed["state"])  # idempotent: the same sockets
    assert proxy.listeners(rns) == {names.router_interface(p["1"]): "net-1",
                                    names.router_interface(p["2"]): "net-2"}
    wait_for(lambda: identity(routed["C"]), "metadata for vmC")
    # net-2's interface removed: its listener goes, net-1's stays
    state = router_state(routed["rid"], routed["hostname"], p, interfaces=("1",))
    reconcile(l3, routed["rid"], state)
    assert proxy.listeners(rns) == {names.router_interface(p["1"]): "net-1"}
    assert get(routed["C"])[0] == 0
    assert identity(routed["A"])["instance"] == "inst-A"
    # the router gone: the namespace goes, no socket kept
    reconcile(l3, routed["rid"], {"routers": [], "floatingips": [], "networks": []})
    assert not rns.exists()
    assert proxy.serving() == []


# -- a network without a router: the DHCP namespace ---------------------------------------

def test_routerless_network_through_dhcp(hosts, proxy, controller, tmp_path):
    where = hosts("d")
    net = "net-4"
    dhcp = DhcpDriver("mdsec-d", client=controller[1], where=where,
                      state_dir=str(tmp_path), metadata=proxy)
    port = {"id": _pid(), "fixed_ips": [{"subnet_id": "sub-4", "ip_address": "10.66.4.2"}]}
    subnets = [{"id": "sub-4", "ip_version": 4, "cidr": "10.66.4.0/24",
                "gateway_ip": "10.66.4.1"}]
    # the namespace and leg as DhcpDriver._ensure_namespace makes them
    ns = netns.ensure_netns(where, names.dhcp_ns(net))
    dev = ns_device(port["id"])
    links.ensure_veth(where.root, names.tap(port["id"]), dev, ns)
    links.ensure_address(ns, dev, "10.66.4.2/24")
    links.ensure_bridge(where.root, "brq-net4")
    links.set_master(where.root, names.tap(port["id"]), "brq-net4")
    # the instance routes the metadata address via the DHCP port (option 121)
    d = vm(where, "d", "brq-net4", "10.66.4.5/24", "10.66.4.1", {f"{MD}/32": "10.66.4.2"})
    other = vm(where, "e", "brq-net4", "10.66.4.9/24", "10.66.4.1",
               {f"{MD}/32": "10.66.4.2"})
    via = dhcp._metadata(ns, dev, net, port, subnets, isolated=True)
    assert via == {"sub-4": "10.66.4.2"}
    dhcp._metadata(ns, dev, net, port, subnets, isolated=True)  # idempotent
    assert proxy.listeners(ns) == {dev: net}
    got = wait_for(lambda: identity(d), "metadata for vmD through qdhcp")
    assert got == {"path": "/metadata/openstack/latest/user_data", "instance": "inst-D",
                   "tenant": "proj-1", "for": "10.66.4.5", "signed": True}
    # forged headers change nothing; a neighbour without an instance gets a 404
    assert identity(d, headers=dict(FORGED, **{"X-Forwarded-For": "10.66.1.5"})) == got
    assert get(other, headers={"X-Forwarded-For": "10.66.4.5"})[0] == 404
    for port_ in (80, 9697):
        assert not probes.connects(d, "10.66.4.2", port_)
    assert not probes.connects(d, MD, 9697)
    # a router interface appears: the DHCP namespace stops serving metadata
    dhcp._metadata(ns, dev, net, port, subnets, isolated=False)
    assert proxy.serving() == []
    assert f"{MD}/32" not in links.list_addresses(ns, dev, 4)
    assert get(d)[0] == 0


# -- end to end: a real kumo up, real instances, a shared network without a router ---------

READ = ("import sys, urllib.request\n"
        "req = urllib.request.Request('http://169.254.169.254/openstack/latest/user_data',"
        " headers={'X-Forwarded-For': sys.argv[1], 'X-Instance-ID': sys.argv[2]})\n"
        "print(urllib.request.urlopen(req, timeout=10).read().decode(), end='')\n")


@pytest.fixture
def machine(tmp_path, tag):
    with started(tmp_path, f"{tag}-md", "mdhost") as m:
        yield m


def test_shared_routerless_network_end_to_end(machine):
    """Two projects' cirros instances on a shared network without a router get their
    own user data through the DHCP namespace; each asking with the other's address in
    X-Forwarded-For (and its id in X-Instance-ID) still gets its own."""
    m = machine
    m.openstack("network", "create", "--share", "md-shared", admin=True)
    m.openstack("subnet", "create", "md-sub", "--network", "md-shared",
                "--subnet-range", "192.168.60.0/24", admin=True)
    vms = {}
    for name, admin in (("mdvm1", False), ("mdvm2", True)):
        data = m.tmp / f"{name}.sh"
        data.write_text(f"#!/bin/sh\necho secret of {name}\n")
        m.openstack("server", "create", "--image", "cirros", "--flavor", "m1.tiny",
                    "--network", "md-shared", "--user-data", str(data), "--wait", name,
                    admin=admin)
        shown = m.json("server", "show", name, admin=admin)
        full = m.json("server", "show", shown["id"], admin=True)
        vms[name] = {"id": shown["id"], "ip": shown["addresses"]["md-shared"][0],
                     "ns": full["OS-EXT-SRV-ATTR:instance_name"], "admin": admin}
    assert m.json("server", "show", "mdvm1")["project_id"] != \
        m.json("server", "show", "mdvm2", admin=True)["project_id"]
    for name, vm_ in vms.items():
        wait_for(lambda: f"secret of {name}" in m.openstack(
            "console", "log", "show", name, admin=vm_["admin"]).stdout,
            f"{name}'s user data on its console", timeout=120)
    for name, other in (("mdvm1", "mdvm2"), ("mdvm2", "mdvm1")):
        got = m.run("ip", "netns", "exec", vms[name]["ns"], "python3", "-c", READ,
                    vms[other]["ip"], vms[other]["id"]).stdout
        assert got == f"#!/bin/sh\necho secret of {name}\n", got
