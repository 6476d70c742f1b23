"""Fixtures of the Block Storage API tests: raw Cinder calls through a connection's
own keystoneauth session (``cinder``), Cinder fault checks, waiting for statuses, a
member of a fresh project (``member``) and cleanup of what a test made. The test
server has two ``file`` backends, ``file-1`` (the default type's) and ``file-2``."""
from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from tests.api.helpers import project_member


@dataclass
class Cinder:
    """Raw calls below ``<server>/volume/v3`` with ``conn``'s token."""

    base: str

    def request(self, conn, method: str, path: str, json=None, version: str | None = None,
                headers: dict | None = None, params=None, raw: bytes | None = None):
        headers = dict(headers or {})
        if version is not None:
            headers["OpenStack-API-Version"] = f"volume {version}"
        kwargs = {"json": json} if raw is None else {"data": raw}
        if raw is not None:
            headers.setdefault("Content-Type", "application/json")
        return conn.session.request(self.base + path, method, headers=headers,
                                    params=params, raise_exc=False, **kwargs)


def assert_fault(resp, status: int, name: str) -> str:
    """Assert a Cinder fault ``{name: {"code": status, "message": ...}}``; returns the
    message."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text}"
    body = resp.json()
    assert list(body) == [name], body
    assert body[name]["code"] == status
    return body[name]["message"]


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1):
    """Poll ``predicate()`` until it returns a true value (returned) or time runs out
    (returns the last value)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def wait_status(cinder, conn, kind: str, rid: str, status: str, timeout: float = 60.0
                ) -> dict:
    """The resource's body (``kind``: volumes, snapshots, backups) once its status is
    ``status``; asserts it gets there (and not to an error status)."""
    last = {}

    def check():
        nonlocal last
        resp = cinder.request(conn, "GET", f"/{kind}/{rid}", version="3.71")
        body = resp.json()
        last = next(iter(body.values())) if resp.status_code == 200 else body
        return last.get("status") == status
    assert wait_for(check, timeout), f"{kind} {rid} never reached {status}: {last}"
    return last


def wait_gone(cinder, conn, kind: str, rid: str, timeout: float = 60.0) -> None:
    assert wait_for(lambda: cinder.request(conn, "GET", f"/{kind}/{rid}").status_code
                    == 404, timeout), f"{kind} {rid} was not deleted"


@pytest.fixture(scope="session")
def cinder(cloud) -> Cinder:
    return Cinder(cloud.url + "/volume/v3")


@pytest.fixture(scope="session")
def image_id(admin) -> str:
    return next(iter(admin.image.images(name="cirros"))).id


@pytest.fixture
def member(cloud, admin):
    """A connection as a member of a fresh project (quotas and listings of its own)."""
    conn = project_member(cloud, admin, "v")
    yield conn
    conn.close()


@pytest.fixture
def make(cinder):
    """``make(conn, kind, body, version="3.71")``: POST a ``kind`` (volumes,
    snapshots, backups) and wait for it to be available; returns its body. Everything
    made is deleted at the end (backups first, then snapshots, then volumes)."""
    made = []

    def create(conn, kind: str, body: dict, version: str = "3.71", wait: bool = True):
        key = kind[:-1]
        resp = cinder.request(conn, "POST", f"/{kind}", json={key: body}, version=version)
        assert resp.status_code == 202, resp.text
        out = resp.json()[key]
        made.append((conn, kind, out["id"]))
        if wait:
            return wait_status(cinder, conn, kind, out["id"], "available")
        return out

    yield create
    order = {"backups": 0, "snapshots": 1, "volumes": 2}
    for conn, kind, rid in sorted(reversed(made), key=lambda m: order[m[1]]):
        if kind == "volumes":
            cinder.request(conn, "POST", f"/volumes/{rid}/action",
                           json={"os-reset_status": {"status": "available",
                                                     "attach_status": "detached"}})
            resp = cinder.request(conn, "DELETE", f"/volumes/{rid}",
                                  params={"cascade": "true"})
        else:
            resp = cinder.request(conn, "DELETE", f"/{kind}/{rid}")
        if resp.status_code == 202:
            wait_gone(cinder, conn, kind, rid)
