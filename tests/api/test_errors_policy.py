"""Refusals and faults: policy (403), authentication (401), bad input (400), duplicates
(409), unknown ids (404), and that a refused request changes nothing."""
from __future__ import annotations

import pytest
from openstack import exceptions as sdk_exc

from tests.api.helpers import PASSWORD, assert_fault, project_scope

UNKNOWN = "0" * 32


def test_member_denied_admin_operations(api, demo, admin, ids, unique):
    attempts = [
        ("POST", "/v3/projects", {"project": {"name": unique("p")}}),
        ("POST", "/v3/users", {"user": {"name": unique("u")}}),
        ("POST", "/v3/roles", {"role": {"name": unique("r")}}),
        ("POST", "/v3/domains", {"domain": {"name": unique("d")}}),
        ("GET", "/v3/users", None),
        ("GET", "/v3/projects", None),
        ("GET", "/v3/role_assignments", None),
        ("PATCH", f"/v3/projects/{ids['demo_project']}", {"project": {"description": "x"}}),
        ("DELETE", f"/v3/projects/{ids['admin_project']}", None),
        ("PUT", f"/v3/projects/{ids['demo_project']}/users/{ids['demo_user']}/roles/"
                f"{ids['admin']}", None),
    ]
    for method, path, body in attempts:
        resp = api.request(method, path, conn=demo, json=body)
        message = assert_fault(resp, 403, "Forbidden")
        assert "not authorized" in message.lower(), (method, path, message)
        assert resp.headers["x-openstack-request-id"].startswith("req-")
    # The sdk maps it to its Forbidden exception.
    with pytest.raises(sdk_exc.ForbiddenException):
        demo.identity.create_project(name=unique("p"))
    # Nothing was created or changed by the refused calls.
    assert api.get(f"/v3/projects/{ids['demo_project']}", conn=demo).json()[
        "project"]["description"] != "x"
    resp = api.get(f"/v3/projects/{ids['demo_project']}/users/{ids['demo_user']}/roles",
                   conn=admin)
    assert [r["name"] for r in resp.json()["roles"]] == ["member"]


def test_member_cannot_see_another_project(api, demo, ids):
    own = api.get(f"/v3/projects/{ids['demo_project']}", conn=demo)
    assert own.status_code == 200 and own.json()["project"]["name"] == "demo"
    assert_fault(api.get(f"/v3/projects/{ids['admin_project']}", conn=demo), 403, "Forbidden")
    assert_fault(api.get(f"/v3/projects/{ids['admin_project']}/tags", conn=demo), 403,
                 "Forbidden")
    with pytest.raises(sdk_exc.ForbiddenException):
        demo.identity.get_project(ids["admin_project"])
    # Nor another user.
    assert api.get(f"/v3/users/{ids['demo_user']}", conn=demo).status_code == 200
    assert_fault(api.get(f"/v3/users/{ids['admin_user']}", conn=demo), 403, "Forbidden")


def test_wrong_password_is_401_whether_or_not_user_exists(api):
    wrong = api.login("demo", "not-the-password")
    unknown = api.login("no-such-user-anywhere", "not-the-password")
    wrong_domain = api.login("demo", "secret", domain=UNKNOWN)
    by_id = api.login("", "nope", user_id=UNKNOWN)
    messages = {assert_fault(r, 401, "Unauthorized")
                for r in (wrong, unknown, wrong_domain, by_id)}
    assert len(messages) == 1, messages
    assert "X-Subject-Token" not in wrong.headers
    assert wrong.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_long_password(api, admin, unique):
    """Passwords past bcrypt's 72 bytes work and never make the server fail."""
    password = "p" * 100
    user = admin.identity.create_user(name=unique("long"), password=password,
                                      domain_id="default")
    api.token(user.name, password)
    assert_fault(api.login(user.name, "q" * 100), 401, "Unauthorized")


def test_missing_or_bad_token_is_401(api):
    for headers in ({}, {"X-Auth-Token": "garbage"}, {"X-Auth-Token": "gAAAAA" + "x" * 150}):
        resp = api.get("/v3/projects", headers=headers)
        assert_fault(resp, 401, "Unauthorized")
        assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_revoked_token_is_refused(api, admin, ids):
    token, _ = api.token("demo", "secret", project_scope(ids["demo_project"]))
    assert api.get(f"/v3/projects/{ids['demo_project']}", token=token).status_code == 200
    admin.identity.revoke_token(token)
    assert_fault(api.get(f"/v3/projects/{ids['demo_project']}", token=token), 401,
                 "Unauthorized")
    # Nor can it be used to get another token: 404 as Keystone's TokenNotFound (Tempest's
    # test_user_update_own_password expects it).
    resp = api.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": token}}}})
    assert_fault(resp, 404, "Not Found")


def test_disabled_user_is_refused(api, admin, make_user, connect):
    person = make_user()
    token = connect(person).session.get_token()
    assert api.get(f"/v3/projects/{person.project_id}", token=token).status_code == 200

    admin.identity.update_user(person.id, is_enabled=False)

    assert_fault(api.get(f"/v3/projects/{person.project_id}", token=token), 401,
                 "Unauthorized")
    disabled = api.login(person.name, person.password, project_scope(person.project_id))
    wrong = api.login(person.name, "wrong", project_scope(person.project_id))
    assert assert_fault(disabled, 401, "Unauthorized") == assert_fault(wrong, 401,
                                                                        "Unauthorized")
    # Enabled again: new logins work, the old token stays dead.
    admin.identity.update_user(person.id, is_enabled=True)
    api.token(person.name, person.password, project_scope(person.project_id))
    assert api.get(f"/v3/projects/{person.project_id}", token=token).status_code == 401


def test_disabled_project_and_domain_are_refused(api, admin, ids, unique):
    domain = admin.identity.create_domain(name=unique("dom"))
    project = admin.identity.create_project(name=unique("proj"), domain_id=domain.id)
    user = admin.identity.create_user(name=unique("user"), password=PASSWORD,
                                      domain_id=domain.id)
    admin.identity.assign_project_role_to_user(project, user, ids["member"])
    scope = project_scope(project.id)
    token, _ = api.token(user.name, PASSWORD, scope, domain=domain.id)

    admin.identity.update_project(project, is_enabled=False)
    assert_fault(api.get(f"/v3/projects/{project.id}", token=token), 401, "Unauthorized")
    assert_fault(api.login(user.name, PASSWORD, scope, domain=domain.id), 401, "Unauthorized")
    admin.identity.update_project(project, is_enabled=True)

    unscoped, _ = api.token(user.name, PASSWORD, domain=domain.id)
    admin.identity.update_domain(domain, is_enabled=False)
    assert_fault(api.get("/v3/auth/projects", token=unscoped), 401, "Unauthorized")
    assert_fault(api.login(user.name, PASSWORD, domain=domain.id), 401, "Unauthorized")


def test_malformed_json_is_400(api, admin, ids):
    for method, path in (("POST", "/v3/projects"), ("POST", "/v3/auth/tokens"),
                         ("PATCH", f"/v3/users/{ids['demo_user']}"),
                         ("PUT", f"/v3/projects/{ids['demo_project']}/tags")):
        resp = api.request(method, path, conn=admin, data=b'{"project": {"name": ')
        assert_fault(resp, 400, "Bad Request")
    resp = api.post("/v3/projects", conn=admin, data=b"\xff\xfe not utf-8")
    assert_fault(resp, 400, "Bad Request")


def test_schema_violations_are_400_and_create_nothing(api, admin, unique):
    name = unique("schema")
    bad_bodies = [
        ("/v3/projects", {"project": {"name": 12345}}),
        ("/v3/projects", {"project": {"description": "no name"}}),
        ("/v3/projects", {"project": {"name": name, "enabled": "yes"}}),
        ("/v3/projects", {"project": {"name": "x" * 65}}),
        ("/v3/projects", {"project": {"name": name, "tags": "not-a-list"}}),
        ("/v3/projects", {"project": {"name": ""}}),
        ("/v3/projects", {"project": [name]}),
        ("/v3/projects", [{"project": {"name": name}}]),
        ("/v3/projects", {"name": name}),
        ("/v3/domains", {"domain": {"name": name, "surprise": True}}),
        ("/v3/users", {"user": {"name": name, "enabled": 1}}),
        ("/v3/users", {"user": {"name": None}}),
        ("/v3/groups", {"group": {"name": ["g"]}}),
        ("/v3/roles", {"role": {"name": {"n": 1}}}),
        ("/v3/regions", {"region": {"id": name, "description": 5}}),
        ("/v3/services", {"service": {"name": name}}),
        ("/v3/auth/tokens", {"auth": {"identity": {"methods": "password"}}}),
        ("/v3/auth/tokens", {"auth": {}}),
    ]
    for path, body in bad_bodies:
        resp = api.post(path, conn=admin, json=body)
        assert_fault(resp, 400, "Bad Request")
    message = assert_fault(api.post("/v3/projects", conn=admin,
                                    json={"project": {"name": 12345}}), 400, "Bad Request")
    assert "name" in message
    for kind in ("projects", "users", "groups", "roles", "domains"):
        resp = api.get(f"/v3/{kind}", conn=admin, params={"name": name})
        assert resp.json()[kind] == [], kind
    assert_fault(api.get(f"/v3/regions/{name}", conn=admin), 404, "Not Found")


def test_duplicates_are_409_and_change_nothing(api, admin, unique):
    name = unique("dup")
    creates = [
        ("projects", {"project": {"name": name, "domain_id": "default"}}),
        ("users", {"user": {"name": name, "domain_id": "default"}}),
        ("groups", {"group": {"name": name, "domain_id": "default"}}),
        ("roles", {"role": {"name": name}}),
        ("domains", {"domain": {"name": name}}),
    ]
    for kind, body in creates:
        first = api.post(f"/v3/{kind}", conn=admin, json=body)
        assert first.status_code == 201, first.text
        key = kind[:-1]
        original = first.json()[key]
        second = api.post(f"/v3/{kind}", conn=admin, json={key: {**body[key],
                                                                 "description": "dup"}})
        message = assert_fault(second, 409, "Conflict")
        assert name in message
        listed = api.get(f"/v3/{kind}", conn=admin, params={"name": name}).json()[kind]
        assert [item["id"] for item in listed] == [original["id"]], kind
        assert listed[0].get("description", "") == original.get("description", "")

    resp = api.put("/v3/regions/" + name, conn=admin, json={"region": {}})
    assert resp.status_code == 201
    assert_fault(api.post("/v3/regions", conn=admin, json={"region": {"id": name}}), 409,
                 "Conflict")


def test_rename_to_taken_name_is_409_and_keeps_both(api, admin, unique):
    first = admin.identity.create_project(name=unique("a"), domain_id="default")
    second = admin.identity.create_project(name=unique("b"), domain_id="default")
    resp = api.patch(f"/v3/projects/{second.id}", conn=admin, json={"project": {
        "name": first.name, "description": "should not stick"}})
    assert_fault(resp, 409, "Conflict")
    kept = admin.identity.get_project(second.id)
    assert kept.name == second.name and kept.description == ""
    # A bad field in an update rejects the whole update.
    resp = api.patch(f"/v3/projects/{second.id}", conn=admin, json={"project": {
        "description": "nor this", "enabled": "no"}})
    assert_fault(resp, 400, "Bad Request")
    assert admin.identity.get_project(second.id).description == ""


def test_failed_create_with_unknown_reference_creates_nothing(api, admin, unique):
    name = unique("ref")
    resp = api.post("/v3/users", conn=admin, json={"user": {
        "name": name, "default_project_id": UNKNOWN}})
    assert_fault(resp, 404, "Not Found")
    resp = api.post("/v3/projects", conn=admin, json={"project": {
        "name": name, "domain_id": UNKNOWN}})
    assert_fault(resp, 404, "Not Found")
    resp = api.post("/v3/groups", conn=admin, json={"group": {
        "name": name, "domain_id": UNKNOWN}})
    assert_fault(resp, 404, "Not Found")
    for kind in ("users", "projects", "groups"):
        assert api.get(f"/v3/{kind}", conn=admin, params={"name": name}).json()[kind] == []


@pytest.mark.parametrize("kind", ["projects", "users", "groups", "roles", "domains",
                                  "regions", "services", "endpoints"])
def test_unknown_ids_are_404(api, admin, kind):
    path = f"/v3/{kind}/{UNKNOWN}"
    message = assert_fault(api.get(path, conn=admin), 404, "Not Found")
    assert UNKNOWN in message
    assert_fault(api.delete(path, conn=admin), 404, "Not Found")
    assert_fault(api.patch(path, conn=admin, json={kind[:-1]: {"description": "x"}}), 404,
                 "Not Found")


def test_unknown_path_and_method(api, admin, ids):
    assert_fault(api.get("/v3/no-such-collection", conn=admin), 404, "Not Found")
    resp = api.post(f"/v3/projects/{ids['demo_project']}", conn=admin, json={})
    assert_fault(resp, 405, "Method Not Allowed")
    # HEAD is GET without the body.
    resp = api.head("/v3/projects", conn=admin)
    assert resp.status_code == 200 and resp.content == b""
    assert api.head(f"/v3/projects/{UNKNOWN}", conn=admin).status_code == 404


def test_oversized_body_is_413(api, admin):
    resp = api.post("/v3/projects", conn=admin,
                    json={"project": {"name": "big", "description": "x" * (2 << 20)}})
    assert_fault(resp, 413, "Request Entity Too Large")
    assert list(admin.identity.projects(name="big")) == []
