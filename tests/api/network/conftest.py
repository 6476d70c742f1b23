"""Fixtures of the Networking API tests: raw Neutron calls through a connection's own
keystoneauth session (``neutron``), a second project with a member (``other``), and a
demo network with a small subnet per test (``net``)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

PASSWORD = "s3cret-pass"


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
    name = f"b-{uuid.uuid4().hex[:8]}"
    project = admin.identity.create_project(name=name, domain_id="default")
    user = admin.identity.create_user(name=name, password=PASSWORD, domain_id="default")
    member = next(iter(admin.identity.roles(name="member")))
    admin.identity.assign_project_role_to_user(project, user, member)
    conn = cloud.connect(username=name, password=PASSWORD, user_domain_id="default",
                         project_id=project.id, project_domain_id="default")
    conn.project_id_ = project.id
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
        project = admin.identity.create_project(name=f"p-{uuid.uuid4().hex[:8]}",
                                                domain_id="default")
        user = admin.identity.create_user(name=f"u-{uuid.uuid4().hex[:8]}",
                                          password=PASSWORD, domain_id="default")
        role_id = next(iter(admin.identity.roles(name=role))).id
        admin.identity.assign_project_role_to_user(project, user, role_id)
        conn = cloud.connect(username=user.name, password=PASSWORD,
                             user_domain_id="default", project_id=project.id,
                             project_domain_id="default")
        conns.append(conn)
        return conn
    yield make
    for c in conns:
        c.close()
