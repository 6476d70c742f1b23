"""The metadata proxy's request logic without a namespace: whom it vouches for, what it
forwards, which paths it refuses. The controller's port lookups are a stub; the
metadata service is a local HTTP server on the loopback that echoes what it got."""
from __future__ import annotations

import http.server
import json
import threading

import pytest

from kumo.agent.metadata import PASSED_HEADERS, MetadataProxy, safe_path, sign

SECRET = "k3y"
PORTS = [
    {"id": "p1", "network_id": "net-1", "device_id": "inst-1", "device_owner": "compute:nova",
     "project_id": "proj-1", "fixed_ips": [{"ip_address": "10.0.0.5"}]},
    {"id": "p2", "network_id": "net-2", "device_id": "inst-2", "device_owner": "compute:az1",
     "project_id": "proj-2", "fixed_ips": [{"ip_address": "10.0.0.5"}]},
    {"id": "p3", "network_id": "net-1", "device_id": "router-1",
     "device_owner": "network:router_interface", "project_id": "proj-1",
     "fixed_ips": [{"ip_address": "10.0.0.1"}]},
    {"id": "p4", "network_id": "net-1", "device_id": "", "device_owner": "compute:nova",
     "project_id": "proj-1", "fixed_ips": [{"ip_address": "10.0.0.8"}]},
]


class StubClient:
    """``list_ports`` as the ControllerClient's; ``honour_filters=False`` plays a server that
    ignores the query (the proxy must still match the right port)."""

    def __init__(self, honour_filters: bool = True):
        self.honour = honour_filters
        self.calls: list[dict] = []

    def list_ports(self, **params):
        self.calls.append(dict(params))
        out = list(PORTS)
        if self.honour:
            ip = params["fixed_ips"].split("=", 1)[1]
            out = [p for p in out if p["network_id"] == params["network_id"]
                   and ip in [f["ip_address"] for f in p["fixed_ips"]]]
        return out


class Echo(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = json.dumps({"path": self.path, "method": self.command,
                           "body": self.rfile.read(n).decode() if n else None,
                           "headers": {k.lower(): v for k, v in self.headers.items()}}
                          ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _any


@pytest.fixture
def metadata_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metadata"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("honour", [True, False])
def test_the_instance_is_the_networks_port_holding_the_source(metadata_url, honour):
    proxy = MetadataProxy(StubClient(honour), secret=SECRET, metadata_url=metadata_url)
    for net, inst, proj in (("net-1", "inst-1", "proj-1"), ("net-2", "inst-2", "proj-2")):
        status, ctype, body = proxy.handle("GET", "/openstack/latest/user_data",
                                           "10.0.0.5", {}, None, network_id=net)
        assert (status, ctype) == (200, "application/json")
        got = json.loads(body)
        assert got["path"] == "/metadata/openstack/latest/user_data"
        h = got["headers"]
        assert (h["x-instance-id"], h["x-tenant-id"], h["x-forwarded-for"]) == (
            inst, proj, "10.0.0.5")
        assert h["x-instance-id-signature"] == sign(SECRET, inst)
    assert proxy.client.calls[0] == {"network_id": "net-1",
                                     "fixed_ips": "ip_address=10.0.0.5"}
    # a router's address, a port without a device, an unknown network or address: 404
    for addr, net in (("10.0.0.1", "net-1"), ("10.0.0.8", "net-1"), ("10.0.0.5", "net-9"),
                      ("10.0.0.6", "net-1")):
        assert proxy.handle("GET", "/", addr, {}, None, network_id=net)[0] == 404


def test_only_passed_headers_are_forwarded(metadata_url):
    proxy = MetadataProxy(StubClient(), secret=SECRET, metadata_url=metadata_url)
    given = {"Content-Type": "text/plain", "Accept": "application/json",
             "X-Instance-ID": "inst-2", "X-Tenant-ID": "proj-2",
             "X-Instance-ID-Signature": sign(SECRET, "inst-2"),
             "X-Forwarded-For": "10.9.9.9", "X-Neutron-Network-ID": "net-2"}
    status, _, body = proxy.handle("POST", "/openstack/latest/password?x=1", "10.0.0.5",
                                   given, b"secret", network_id="net-1")
    assert status == 200
    got = json.loads(body)
    assert got["method"] == "POST" and got["body"] == "secret"
    assert got["path"] == "/metadata/openstack/latest/password?x=1"
    h = got["headers"]
    assert h["x-instance-id"] == "inst-1" and h["x-forwarded-for"] == "10.0.0.5"
    assert h["content-type"] == "text/plain" and h["accept"] == "application/json"
    assert not [k for k in h if k.startswith("x-neutron")]
    assert set(PASSED_HEADERS) == {"Content-Type", "Accept"}


@pytest.mark.parametrize("path,want", [
    ("/", ""), ("/openstack/latest/meta_data.json", "openstack/latest/meta_data.json"),
    ("/latest/meta-data/?a=b", "latest/meta-data/?a=b"),
    ("/../identity/v3", None), ("/openstack/%2e%2e/x", None), ("/a/./b", None),
    ("http://evil/x", None), ("//evil/x", None), ("*", None), ("/a\\b", None)])
def test_safe_path(path, want):
    assert safe_path(path) == want


def test_bad_paths_are_not_forwarded(metadata_url):
    client = StubClient()
    proxy = MetadataProxy(client, secret=SECRET, metadata_url=metadata_url)
    assert proxy.handle("GET", "/../identity/v3/users", "10.0.0.5", {}, None,
                        network_id="net-1")[0] == 404
    assert client.calls == []


def test_ensure_needs_one_owner():
    proxy = MetadataProxy(StubClient(), secret=SECRET)
    with pytest.raises(ValueError):
        proxy.ensure(None, router_id="r", network_id="n")


def test_a_slow_client_loses_its_slot(monkeypatch):
    """A client sending its request a byte now and then (each read within
    CLIENT_TIMEOUT_S) is cut at REQUEST_DEADLINE_S and its slot freed."""
    import socket
    import time

    from kumo.agent import metadata
    from kumo.agent.metadata import _Listener

    monkeypatch.setattr(metadata, "REQUEST_DEADLINE_S", 0.5)
    client = StubClient()
    proxy = MetadataProxy(client, secret=SECRET, metadata_url="http://127.0.0.1:9")
    ours, guest = socket.socketpair()
    lst = _Listener("ns", "qr-x", 1, "net-1", None)
    assert proxy._clients.acquire(blocking=False)
    t = threading.Thread(target=proxy._serve, args=(ours, ("10.0.0.5", 1), lst))
    t.start()
    start = time.monotonic()
    guest.sendall(b"GET /latest HTTP/1.0\r\n")
    while t.is_alive() and time.monotonic() - start < 5:
        try:
            guest.sendall(b"X")
        except OSError:
            break
        time.sleep(0.1)
    t.join(5)
    assert not t.is_alive() and time.monotonic() - start < 3
    assert client.calls == []
    for _ in range(metadata.MAX_CLIENTS):  # every slot is free again
        assert proxy._clients.acquire(blocking=False)
    guest.close()
