"""Fixtures of the Networking API tests: raw Neutron calls through a connection's own
keystoneauth session (``neutron``), a second project with a member (``other``), and a
demo network with a small subnet per test (``net``)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.api.helpers import project_member



@dataclass
class Neutron:
    """Raw calls below ``<server>/networking`` with ``conn``'s token."""

    base: str

    def request(self, conn, method: str, path: str, json=None, headers=None, params=None):
        return conn.session.request(self.base + path, method, json=json,
                                    headers=headers or {}, params=params, raise_exc=False)


def assert_fault(resp, status: int, kind: str) -> str:
    """Assert a Neutron fault ``{"NeutronError": {"type", "message", "detail"}}``."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text}"
    error = resp.json()["NeutronError"]
    assert error["type"] == kind, error
    return error["message"]


@pytest.fixture(scope="session")
def neutron(cloud) -> Neutron:
    return Neutron(cloud.url + "/networking")


@pytest.fixture(scope="session")
def other(cloud, admin):
    """A connection as a member of a second project (project B)."""
    conn = project_member(cloud, admin, "b")
    yield conn
    conn.close()


@pytest.fixture
def net(demo, unique):
    """A demo network with a /28 IPv4 subnet (gateway .1, 13 free addresses); removed
    with its ports at the end of the test."""
    network = demo.network.create_network(name=unique("net"))
    subnet = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                        cidr="10.9.0.0/28", name=unique("sub"))
    yield network, subnet
    for port in demo.network.ports(network_id=network.id):
        demo.network.delete_port(port, ignore_missing=True)
    demo.network.delete_network(network, ignore_missing=True)


@pytest.fixture
def member(cloud, admin):
    """A connection as a member of a fresh project; closed after the test."""
    conns = []

    def make(role: str = "member"):
        conn = project_member(cloud, admin, "p", role)
        conns.append(conn)
        return conn
    yield make
    for c in conns:
        c.close()
