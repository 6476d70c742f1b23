"""Fixtures of the Identity API tests (helpers live in :mod:`tests.api.helpers`)."""
from __future__ import annotations

import pytest

from tests.api.helpers import PASSWORD, Api, Person


@pytest.fixture(scope="session")
def api(cloud, admin) -> Api:
    return Api(cloud.url + "/identity", admin.session)


@pytest.fixture(scope="session")
def ids(admin):
    """Ids of the bootstrap objects: projects, users and roles."""
    def one(items):
        items = list(items)
        assert len(items) == 1, items
        return items[0].id
    return {
        "admin_project": one(admin.identity.projects(name="admin")),
        "demo_project": one(admin.identity.projects(name="demo")),
        "admin_user": one(admin.identity.users(name="admin")),
        "demo_user": one(admin.identity.users(name="demo")),
        "admin": one(admin.identity.roles(name="admin")),
        "manager": one(admin.identity.roles(name="manager")),
        "member": one(admin.identity.roles(name="member")),
        "reader": one(admin.identity.roles(name="reader")),
    }


@pytest.fixture
def make_user(admin, ids, unique):
    """``make_user(role="member", project_id=None)``: a new user with ``role`` on a new
    project (or on ``project_id``); ``role=None`` grants nothing."""
    def make(role: str | None = "member", project_id: str | None = None,
             **attrs) -> Person:
        if project_id is None and role is not None:
            project_id = admin.identity.create_project(name=unique("proj"),
                                                       domain_id="default").id
        user = admin.identity.create_user(name=unique("user"), password=PASSWORD,
                                          domain_id="default", **attrs)
        if role is not None:
            admin.identity.assign_project_role_to_user(project_id, user.id, ids[role])
        return Person(user.id, user.name, PASSWORD, project_id)
    return make


@pytest.fixture
def connect(cloud):
    """``connect(person)``: an openstacksdk connection scoped to the person's project;
    closed at the end of the test."""
    conns = []

    def make(person: Person, **scope):
        if not scope:
            scope = {"project_id": person.project_id}
        conn = cloud.connect(username=person.name, password=person.password,
                             user_domain_id="default", **scope)
        conns.append(conn)
        return conn
    yield make
    for conn in conns:
        conn.close()
