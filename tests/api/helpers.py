"""Helpers for the Identity API tests: raw HTTP calls through keystoneauth (the session
openstacksdk itself uses), password logins and Keystone fault checks.

``api`` sends requests below ``<server>/identity`` either anonymously, with an explicit
``X-Auth-Token`` (``token=``), or with a connection's own session (``conn=``). An explicit
token is never re-authenticated behind the test's back, so a 401 stays a 401.
"""
from __future__ import annotations

from dataclasses import dataclass

import openstack

PASSWORD = "s3cret-pass"


@dataclass
class Api:
    base: str
    session: object  # keystoneauth1.session.Session

    def request(self, method: str, path: str, *, token: str | None = None, conn=None,
                json=None, data=None, headers: dict | None = None, params=None):
        headers = dict(headers or {})
        session, authenticated = self.session, False
        if token is not None:
            headers["X-Auth-Token"] = token
        elif conn is not None:
            session, authenticated = conn.session, True
        kwargs = {}
        if data is not None:
            kwargs["data"] = data
            headers.setdefault("Content-Type", "application/json")
        if params is not None:
            kwargs["params"] = params
        return session.request(self.base + path, method, json=json, headers=headers,
                               authenticated=authenticated, raise_exc=False, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def login(self, name: str, password: str, scope=None, domain: str = "default",
              user_id: str | None = None):
        """``POST /v3/auth/tokens`` with the password method; returns the response."""
        user = {"id": user_id} if user_id else {"name": name, "domain": {"id": domain}}
        user["password"] = password
        auth = {"identity": {"methods": ["password"], "password": {"user": user}}}
        if scope is not None:
            auth["scope"] = scope
        return self.post("/v3/auth/tokens", json={"auth": auth})

    def token(self, name: str, password: str, scope=None, **kw) -> tuple[str, dict]:
        """A token id and its body; fails the test unless the login succeeds."""
        resp = self.login(name, password, scope, **kw)
        assert resp.status_code == 201, resp.text
        return resp.headers["X-Subject-Token"], resp.json()["token"]


def assert_fault(resp, code: int, title: str) -> str:
    """Assert a Keystone fault ``{"error": {"code", "title", "message"}}``; returns the
    message."""
    assert resp.status_code == code, f"expected {code}, got {resp.status_code}: {resp.text}"
    error = resp.json()["error"]
    assert error["code"] == code
    assert error["title"] == title
    assert isinstance(error["message"], str) and error["message"]
    return error["message"]


def project_scope(project_id: str) -> dict:
    return {"project": {"id": project_id}}


@dataclass
class Person:
    """A user made by the ``make_user`` fixture, with a role on ``project_id``."""

    id: str
    name: str
    password: str
    project_id: str | None


def app_cred_connection(cloud, **auth) -> openstack.connection.Connection:
    """An openstacksdk connection authenticating with an application credential."""
    return openstack.connection.Connection(
        auth_type="v3applicationcredential",
        auth={"auth_url": cloud.url + "/identity", **auth},
        identity_api_version="3", region_name="RegionOne")


def project_member(cloud, admin, prefix: str = "p", role: str = "member"):
    """A connection as a new user holding ``role`` on a new project (both made with the
    ``admin`` connection). ``conn.project_id_`` and ``conn.user_name_`` name them; the
    caller closes the connection."""
    import uuid

    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    project = admin.identity.create_project(name=name, domain_id="default")
    user = admin.identity.create_user(name=name, password=PASSWORD, domain_id="default")
    role_id = next(iter(admin.identity.roles(name=role))).id
    admin.identity.assign_project_role_to_user(project, user, role_id)
    conn = cloud.connect(username=name, password=PASSWORD, user_domain_id="default",
                         project_id=project.id, project_domain_id="default")
    conn.project_id_ = project.id
    conn.user_name_ = name
    return conn


def db_engine(cloud):
    """A SQLAlchemy engine on the test server's database (SQLite file or the
    PostgreSQL ``--db`` it was started with); the caller disposes of it."""
    import sqlalchemy as sa

    args = list(cloud.process.args)
    if "--db" in args:
        url = args[args.index("--db") + 1]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
    else:
        url = f"sqlite:///{cloud.state_dir / 'kumo.db'}"
    return sa.create_engine(url)
