"""Application credentials: create, log in with them through openstacksdk's
``v3applicationcredential`` plugin, restrictions, roles, deletion."""
from __future__ import annotations

import datetime as dt

import pytest
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as sdk_exc

from tests.api.helpers import app_cred_connection, assert_fault


@pytest.fixture
def owner(make_user, connect):
    """A member of a fresh project and an openstacksdk connection as them."""
    person = make_user()
    return person, connect(person)


@pytest.fixture
def app_conns():
    conns = []

    def make(cloud, **auth):
        conn = app_cred_connection(cloud, **auth)
        conns.append(conn)
        return conn
    yield make
    for conn in conns:
        conn.close()


def test_login_with_application_credential(cloud, api, owner, app_conns, unique):
    person, conn = owner
    name = unique("cred")
    cred = conn.identity.create_application_credential(person.id, name, description="ci")
    assert cred.secret and cred.name == name
    assert cred.project_id == person.project_id
    assert cred.unrestricted is False
    assert {r["name"] for r in cred.roles} == {"member", "reader"}

    # The secret is shown once: not when reading the credential back.
    resp = api.get(f"/v3/users/{person.id}/application_credentials/{cred.id}", conn=conn)
    assert resp.status_code == 200
    assert "secret" not in resp.json()["application_credential"]
    listed = list(conn.identity.application_credentials(person.id))
    assert [c.id for c in listed] == [cred.id]

    by_id = app_conns(cloud, application_credential_id=cred.id,
                      application_credential_secret=cred.secret)
    project = by_id.identity.get_project(person.project_id)
    assert project.id == person.project_id
    token_id = by_id.session.get_token()
    resp = api.get("/v3/auth/tokens", token=token_id, headers={"X-Subject-Token": token_id})
    body = resp.json()["token"]
    assert body["methods"] == ["application_credential"]
    assert body["application_credential"] == {"id": cred.id, "name": name,
                                              "restricted": True}
    assert body["user"]["id"] == person.id
    assert body["project"]["id"] == person.project_id
    assert {r["name"] for r in body["roles"]} == {"member", "reader"}

    # By name and user id, too.
    by_name = app_conns(cloud, application_credential_name=name, user_id=person.id,
                        application_credential_secret=cred.secret)
    assert by_name.identity.get_project(person.project_id).id == person.project_id


def test_wrong_secret_and_unknown_credential_are_401(cloud, api, owner, unique):
    person, conn = owner
    cred = conn.identity.create_application_credential(person.id, unique("cred"))
    for ref in ({"id": cred.id, "secret": "wrong"}, {"id": "0" * 32, "secret": "x"}):
        resp = api.post("/v3/auth/tokens", json={"auth": {"identity": {
            "methods": ["application_credential"], "application_credential": ref}}})
        assert_fault(resp, 401, "Unauthorized")


def test_restricted_credential_cannot_create_another(cloud, owner, app_conns, unique, api):
    person, conn = owner
    cred = conn.identity.create_application_credential(person.id, unique("cred"))
    restricted = app_conns(cloud, application_credential_id=cred.id,
                           application_credential_secret=cred.secret)
    with pytest.raises(sdk_exc.ForbiddenException):
        restricted.identity.create_application_credential(person.id, unique("child"))
    resp = api.post(f"/v3/users/{person.id}/application_credentials", conn=restricted,
                    json={"application_credential": {"name": unique("child")}})
    assert_fault(resp, 403, "Forbidden")
    assert len(list(conn.identity.application_credentials(person.id))) == 1
    # Nor can its token be exchanged for another one.
    resp = api.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": restricted.session.get_token()}}}})
    assert_fault(resp, 403, "Forbidden")

    # An unrestricted one may.
    free = conn.identity.create_application_credential(person.id, unique("cred"),
                                                       unrestricted=True)
    unrestricted = app_conns(cloud, application_credential_id=free.id,
                             application_credential_secret=free.secret)
    child = unrestricted.identity.create_application_credential(person.id, unique("child"))
    assert child.secret
    assert len(list(conn.identity.application_credentials(person.id))) == 3


def test_deleted_credential_no_longer_logs_in(cloud, api, owner, app_conns, unique):
    person, conn = owner
    cred = conn.identity.create_application_credential(person.id, unique("cred"))
    before = app_conns(cloud, application_credential_id=cred.id,
                       application_credential_secret=cred.secret)
    token_id = before.session.get_token()

    conn.identity.delete_application_credential(person.id, cred.id)

    after = app_conns(cloud, application_credential_id=cred.id,
                      application_credential_secret=cred.secret)
    with pytest.raises(ks_exc.Unauthorized):
        after.session.get_token()
    # Tokens it issued are revoked as well.
    assert_fault(api.get(f"/v3/projects/{person.project_id}", token=token_id), 401,
                 "Unauthorized")
    with pytest.raises(sdk_exc.NotFoundException):
        conn.identity.get_application_credential(person.id, cred.id)


def test_credential_roles_are_a_subset(cloud, api, owner, app_conns, unique, ids):
    person, conn = owner
    cred = conn.identity.create_application_credential(person.id, unique("cred"),
                                                       roles=[{"name": "reader"}])
    assert [r["id"] for r in cred.roles] == [ids["reader"]]
    reader = app_conns(cloud, application_credential_id=cred.id,
                       application_credential_secret=cred.secret)
    access = reader.session.auth.get_access(reader.session)
    assert access.role_names == ["reader"]

    # A role the user does not hold cannot be delegated (Keystone: 404), nor can a
    # credential expire in the past (400); neither creates anything.
    resp = api.post(f"/v3/users/{person.id}/application_credentials", conn=conn, json={
        "application_credential": {"name": unique("cred"), "roles": [{"name": "admin"}]}})
    assert_fault(resp, 404, "Not Found")
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).isoformat()
    resp = api.post(f"/v3/users/{person.id}/application_credentials", conn=conn, json={
        "application_credential": {"name": unique("cred"), "expires_at": past}})
    assert_fault(resp, 400, "Bad Request")
    assert [c.id for c in conn.identity.application_credentials(person.id)] == [cred.id]


def test_duplicate_name_and_other_users(cloud, api, owner, make_user, connect, unique):
    person, conn = owner
    name = unique("cred")
    conn.identity.create_application_credential(person.id, name)
    resp = api.post(f"/v3/users/{person.id}/application_credentials", conn=conn,
                    json={"application_credential": {"name": name}})
    assert_fault(resp, 409, "Conflict")
    assert len(list(conn.identity.application_credentials(person.id))) == 1

    # Another member may neither list nor create credentials for this user.
    other = connect(make_user())
    assert_fault(api.get(f"/v3/users/{person.id}/application_credentials", conn=other), 403,
                 "Forbidden")
    resp = api.post(f"/v3/users/{person.id}/application_credentials", conn=other,
                    json={"application_credential": {"name": unique("cred")}})
    assert_fault(resp, 403, "Forbidden")


def test_credential_stops_working_when_role_is_removed(cloud, admin, owner, app_conns,
                                                       unique, ids):
    person, conn = owner
    cred = conn.identity.create_application_credential(person.id, unique("cred"))
    admin.identity.unassign_project_role_from_user(person.project_id, person.id, ids["member"])
    gone = app_conns(cloud, application_credential_id=cred.id,
                     application_credential_secret=cred.secret)
    with pytest.raises(ks_exc.Unauthorized):
        gone.session.get_token()


def test_expires_at_comes_back_as_sent(api, owner, unique):
    """Keystone answers expires_at in the isoformat a client (Tempest's
    test_create_application_credential_expires) sends: no zone suffix, microseconds."""
    person, conn = owner
    when = (dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            + dt.timedelta(hours=1, microseconds=123))
    resp = api.post(f"/v3/users/{person.id}/application_credentials", conn=conn, json={
        "application_credential": {"name": unique("cred"), "expires_at": when.isoformat()}})
    assert resp.status_code == 201, resp.text
    cred = resp.json()["application_credential"]
    assert cred["expires_at"] == when.isoformat()
    shown = api.get(f"/v3/users/{person.id}/application_credentials/{cred['id']}",
                    conn=conn).json()["application_credential"]
    assert shown["expires_at"] == when.isoformat()
    sdk = conn.identity.get_application_credential(person.id, cred["id"])
    assert sdk.expires_at == when.isoformat()
