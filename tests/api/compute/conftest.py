"""Fixtures of the Compute API tests: raw Nova calls through a connection's own
keystoneauth session (``nova``), fault checks, a demo network per test (``net``),
server creation and waiting helpers. The cloud runs two in-process fake compute hosts
(``fake-0``, ``fake-1``; tests/conftest.py) whose agents boot servers for real through
the compute contract."""
from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from tests.api.helpers import project_member


@dataclass
class Nova:
    """Raw calls below ``<server>/compute/v2.1`` with ``conn``'s token."""

    base: str

    def request(self, conn, method: str, path: str, json=None, version: str | None = None,
                headers: dict | None = None, params=None):
        headers = dict(headers or {})
        if version is not None:
            headers["OpenStack-API-Version"] = f"compute {version}"
        return conn.session.request(self.base + path, method, json=json, headers=headers,
                                    params=params, raise_exc=False)

    def agent(self, conn, method: str, path: str, json=None, params=None):
        """Calls below ``/compute/kumo/v1`` (the agents' routes)."""
        root = self.base.rsplit("/v2.1", 1)[0]
        return conn.session.request(root + "/kumo/v1" + path, method, json=json,
                                    params=params, raise_exc=False)


def assert_fault(resp, status: int, name: str) -> str:
    """Assert a Nova fault ``{name: {"code": status, "message": ...}}``; returns the
    message."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text}"
    body = resp.json()
    assert list(body) == [name], body
    assert body[name]["code"] == status
    return body[name]["message"]


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):
    """Poll ``predicate()`` until it returns a true value (returned) or time runs out
    (returns the last value)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def wait_status(nova, conn, server_id: str, status: str, timeout: float = 30.0,
                version: str = "2.1") -> dict:
    """The server's body once its status is ``status`` (asserts it gets there)."""
    last = {}

    def check():
        nonlocal last
        resp = nova.request(conn, "GET", f"/servers/{server_id}", version=version)
        last = resp.json().get("server", resp.json())
        return last.get("status") == status
    assert wait_for(check, timeout), f"server {server_id} never reached {status}: {last}"
    return last


@pytest.fixture(scope="session")
def nova(cloud) -> Nova:
    return Nova(cloud.url + "/compute/v2.1")


@pytest.fixture(scope="session")
def image_id(admin) -> str:
    return next(iter(admin.image.images(name="cirros"))).id


@pytest.fixture
def net(demo, unique):
    """A demo network with a /28 subnet; removed with its ports at the end."""
    network = demo.network.create_network(name=unique("net"))
    subnet = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                        cidr="10.77.0.0/28", name=unique("sub"))
    yield network, subnet
    for server in demo.compute.servers():
        if any(network.name == n for n in (server.addresses or {})):
            demo.compute.delete_server(server, ignore_missing=True)
    for port in demo.network.ports(network_id=network.id):
        if port.device_owner != "network:dhcp":
            demo.network.delete_port(port, ignore_missing=True)
    demo.network.delete_network(network, ignore_missing=True)


@pytest.fixture
def boot(nova, demo, image_id, net):
    """``boot(name, conn=demo, version="2.1", **server_attrs)`` -> the create response
    body's ``server`` (202 asserted); every server made is deleted at the end."""
    made = []

    def create(name, conn=None, version="2.1", expect=202, **attrs):
        conn = conn or demo
        body = {"name": name, "imageRef": image_id, "flavorRef": "42",
                "networks": [{"uuid": net[0].id}], **attrs}
        body = {k: v for k, v in body.items() if v is not None}
        hints = body.pop("hints", None)
        payload = {"server": body}
        if hints:
            payload["os:scheduler_hints"] = hints
        resp = nova.request(conn, "POST", "/servers", json=payload, version=version)
        assert resp.status_code == expect, resp.text
        out = resp.json()
        if "server" in out:
            made.append((conn, out["server"]["id"]))
        return out.get("server", out)

    yield create
    for conn, sid in made:
        nova.request(conn, "DELETE", f"/servers/{sid}")


@pytest.fixture
def member(cloud, admin):
    """A connection as a member of a fresh project (for quota tests)."""
    conn = project_member(cloud, admin, "c")
    yield conn
    conn.close()
