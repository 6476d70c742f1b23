"""Fixtures of the Image API tests: raw Glance calls through a connection's own
keystoneauth session (``glance``), a second project with a member (``other``), and
Glance fault checks."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from tests.api.helpers import project_member



@dataclass
class Glance:
    """Raw calls below ``<server>/image`` with ``conn``'s token."""

    base: str

    def request(self, conn, method: str, path: str, json=None, data=None, headers=None,
                params=None, **kw):
        return conn.session.request(self.base + path, method, json=json, data=data,
                                    headers=headers or {}, params=params,
                                    raise_exc=False, **kw)

    def create(self, conn, **attrs) -> dict:
        attrs.setdefault("name", f"img-{uuid.uuid4().hex[:8]}")
        attrs.setdefault("disk_format", "raw")
        attrs.setdefault("container_format", "bare")
        resp = self.request(conn, "POST", "/v2/images", json=attrs)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def upload(self, conn, image_id: str, data: bytes, **headers):
        return self.request(conn, "PUT", f"/v2/images/{image_id}/file", data=data,
                            headers={"Content-Type": "application/octet-stream",
                                     **headers})

    def patch(self, conn, image_id: str, ops: list,
              media_type="application/openstack-images-v2.1-json-patch"):
        return self.request(conn, "PATCH", f"/v2/images/{image_id}", json=ops,
                            headers={"Content-Type": media_type})


def assert_fault(resp, status: int, title: str) -> str:
    """Assert Glance's fault ``{"message", "code": "<status> <title>", "title"}``;
    returns the message."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text}"
    body = resp.json()
    assert body["code"] == f"{status} {title}", body
    assert body["title"] == title
    assert body["message"]
    return body["message"]


@pytest.fixture(scope="session")
def glance(cloud) -> Glance:
    return Glance(cloud.url + "/image")


@pytest.fixture(scope="session")
def other(cloud, admin):
    """A connection as a member of a second project; ``other.project_id_`` is its id."""
    conn = project_member(cloud, admin, "img-b")
    yield conn
    conn.close()


@pytest.fixture
def image(glance, demo):
    """A queued demo image (raw/bare), deleted at the end of the test."""
    body = glance.create(demo)
    yield body
    glance.request(demo, "PATCH", f"/v2/images/{body['id']}", json=[
        {"op": "replace", "path": "/protected", "value": False}],
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    glance.request(demo, "DELETE", f"/v2/images/{body['id']}")
