"""Tokens: issue, validate, check, revoke; unscoped, project, domain and system scope;
rescoping with the token method; /v3/auth/{catalog,projects,domains,system}; version
discovery."""
from __future__ import annotations

import datetime as dt

import pytest
from keystoneauth1 import exceptions as ks_exc

from tests.api.helpers import assert_fault, project_scope


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def demo_token(api, ids):
    """A fresh project-scoped token of demo (password login) and its body."""
    return api.token("demo", "secret", project_scope(ids["demo_project"]))


def test_version_discovery(cloud, api):
    resp = api.get("")
    assert resp.status_code == 300
    assert resp.headers["Content-Type"].startswith("application/json")
    values = resp.json()["versions"]["values"]
    assert [v["id"][:3] for v in values] == ["v3."]
    assert values[0]["status"] == "stable"
    assert values[0]["links"][0]["href"].rstrip("/") == cloud.url + "/identity/v3"

    resp = api.get("/v3")
    assert resp.status_code == 200
    version = resp.json()["version"]
    assert version["id"] == values[0]["id"]
    assert version["status"] == "stable"
    assert {"base": "application/json",
            "type": "application/vnd.openstack.identity-v3+json"} in version["media-types"]
    assert version["links"][0]["rel"] == "self"


def test_issue_project_scoped_token(cloud, api, ids):
    resp = api.login("demo", "secret", project_scope(ids["demo_project"]))
    assert resp.status_code == 201, resp.text
    token_id = resp.headers["X-Subject-Token"]
    assert token_id and token_id not in resp.text
    token = resp.json()["token"]
    assert token["methods"] == ["password"]
    assert token["user"]["id"] == ids["demo_user"]
    assert token["user"]["name"] == "demo"
    assert token["user"]["domain"] == {"id": "default", "name": "Default"}
    assert token["project"] == {"id": ids["demo_project"], "name": "demo",
                                "domain": {"id": "default", "name": "Default"}}
    assert token["is_domain"] is False
    # member is granted, reader is implied by member; admin is not held.
    assert {r["name"] for r in token["roles"]} == {"member", "reader"}
    assert {r["id"] for r in token["roles"]} == {ids["member"], ids["reader"]}
    assert len(token["audit_ids"]) == 1 and len(token["audit_ids"][0]) == 22
    issued, expires = _time(token["issued_at"]), _time(token["expires_at"])
    assert issued <= dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)
    assert dt.timedelta(minutes=50) < expires - issued <= dt.timedelta(hours=1)
    identity = [s for s in token["catalog"] if s["type"] == "identity"]
    assert len(identity) == 1
    endpoints = identity[0]["endpoints"]
    assert {e["interface"] for e in endpoints} == {"public", "internal", "admin"}
    public = next(e for e in endpoints if e["interface"] == "public")
    assert public["url"] == cloud.url + "/identity"
    assert public["region_id"] == "RegionOne"


def test_validate_check_and_revoke(api, admin, demo_token, ids):
    token_id, issued = demo_token
    # Admin validates someone else's token: same token back, catalog included.
    resp = api.get("/v3/auth/tokens", conn=admin, headers={"X-Subject-Token": token_id})
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Subject-Token"] == token_id
    body = resp.json()["token"]
    assert body["audit_ids"] == issued["audit_ids"]
    assert body["expires_at"] == issued["expires_at"]
    assert body["user"]["id"] == ids["demo_user"]
    assert body["project"]["id"] == ids["demo_project"]
    assert "catalog" in body
    # nocatalog, through openstacksdk's own token API.
    sdk_token = admin.identity.validate_token(token_id, nocatalog=True)
    assert sdk_token.audit_ids == issued["audit_ids"]
    assert not sdk_token.catalog
    # The owner validates their own token.
    resp = api.get("/v3/auth/tokens", token=token_id, headers={"X-Subject-Token": token_id})
    assert resp.status_code == 200
    # HEAD: 200 and no body.
    resp = api.head("/v3/auth/tokens", conn=admin, headers={"X-Subject-Token": token_id})
    assert resp.status_code == 200
    assert resp.content == b""
    assert admin.identity.check_token(token_id) is True

    admin.identity.revoke_token(token_id)
    resp = api.delete("/v3/auth/tokens", conn=admin, headers={"X-Subject-Token": token_id})
    assert_fault(resp, 404, "Not Found")

    resp = api.get("/v3/auth/tokens", conn=admin, headers={"X-Subject-Token": token_id})
    assert_fault(resp, 404, "Not Found")
    assert admin.identity.check_token(token_id) is False
    resp = api.get("/v3/auth/projects", token=token_id)
    assert_fault(resp, 401, "Unauthorized")
    assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")
    # A new login still works: only that one token was revoked.
    fresh, _ = api.token("demo", "secret", project_scope(ids["demo_project"]))
    assert api.get("/v3/auth/projects", token=fresh).status_code == 200


def test_user_revokes_own_token(api, demo_token):
    token_id, _ = demo_token
    resp = api.delete("/v3/auth/tokens", token=token_id, headers={"X-Subject-Token": token_id})
    assert resp.status_code == 204
    assert api.get("/v3/auth/projects", token=token_id).status_code == 401


def test_member_cannot_validate_another_users_token(api, demo, admin):
    admin_token = admin.session.get_token()
    resp = api.get("/v3/auth/tokens", conn=demo, headers={"X-Subject-Token": admin_token})
    assert_fault(resp, 403, "Forbidden")
    resp = api.delete("/v3/auth/tokens", conn=demo, headers={"X-Subject-Token": admin_token})
    assert_fault(resp, 403, "Forbidden")
    # Not revoked by the refused attempt.
    assert api.get("/v3/auth/projects", token=admin_token).status_code == 200


def test_validate_without_subject_or_garbage_is_404(api, admin):
    assert_fault(api.get("/v3/auth/tokens", conn=admin), 404, "Not Found")
    resp = api.get("/v3/auth/tokens", conn=admin, headers={"X-Subject-Token": "garbage"})
    assert_fault(resp, 404, "Not Found")


def test_unscoped_token_then_rescope_to_project(api, ids):
    unscoped_id, unscoped = api.token("demo", "secret")
    for key in ("project", "domain", "system", "roles", "catalog"):
        assert key not in unscoped
    assert unscoped["user"]["id"] == ids["demo_user"]
    # Explicitly unscoped gives the same shape.
    _, explicit = api.token("demo", "secret", "unscoped")
    assert "project" not in explicit and "roles" not in explicit

    # An unscoped token lists the projects it may scope to, but gets no catalog.
    resp = api.get("/v3/auth/projects", token=unscoped_id)
    assert resp.status_code == 200
    assert [p["id"] for p in resp.json()["projects"]] == [ids["demo_project"]]
    assert_fault(api.get("/v3/auth/catalog", token=unscoped_id), 403, "Forbidden")

    resp = api.post("/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": unscoped_id}},
        "scope": project_scope(ids["demo_project"])}})
    assert resp.status_code == 201, resp.text
    scoped_id = resp.headers["X-Subject-Token"]
    scoped = resp.json()["token"]
    assert scoped_id != unscoped_id
    assert set(scoped["methods"]) == {"token", "password"}
    assert scoped["project"]["id"] == ids["demo_project"]
    assert {r["name"] for r in scoped["roles"]} == {"member", "reader"}
    assert "catalog" in scoped
    # Rescoping keeps the expiry and chains the audit ids.
    assert scoped["expires_at"] == unscoped["expires_at"]
    assert scoped["audit_ids"][1] == unscoped["audit_ids"][0]
    assert scoped["audit_ids"][0] != unscoped["audit_ids"][0]
    # The rescoped token can do what demo may do in its project.
    resp = api.get(f"/v3/projects/{ids['demo_project']}", token=scoped_id)
    assert resp.status_code == 200


def test_rescope_to_project_without_role_is_401(api, ids):
    unscoped_id, _ = api.token("demo", "secret")
    resp = api.post("/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": unscoped_id}},
        "scope": project_scope(ids["admin_project"])}})
    assert_fault(resp, 401, "Unauthorized")
    resp = api.post("/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": "not-a-token"}}}})
    assert_fault(resp, 401, "Unauthorized")


def test_scope_by_project_name_login_by_user_id_and_nocatalog(api, ids):
    _, token = api.token("demo", "secret", {"project": {
        "name": "demo", "domain": {"name": "Default"}}})
    assert token["project"]["id"] == ids["demo_project"]
    assert token["catalog"]

    resp = api.post("/v3/auth/tokens", params={"nocatalog": ""}, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": ids["demo_user"], "password": "secret"}}},
        "scope": project_scope(ids["demo_project"])}})
    assert resp.status_code == 201
    token = resp.json()["token"]
    assert token["user"]["name"] == "demo"
    assert token["project"]["id"] == ids["demo_project"]
    assert "catalog" not in token


def test_bad_scopes(api, ids):
    # Keystone: exactly one of project, domain and system (400 otherwise).
    for scope in ({"project": {"id": ids["demo_project"]}, "domain": {"id": "default"}},
                  {"project": {"id": ids["demo_project"]}, "system": {"all": True}},
                  {}, {"system": {"all": "yes"}}, ["project"]):
        assert_fault(api.login("demo", "secret", scope), 400, "Bad Request")
    # An unknown project or domain is 401, as a project without a role is.
    for scope in (project_scope("0" * 32), {"domain": {"name": "no-such-domain"}},
                  project_scope(ids["admin_project"])):
        assert_fault(api.login("demo", "secret", scope), 401, "Unauthorized")
    # Unsupported methods are 401; a method without its data is 400.
    resp = api.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["totp"], "totp": {"user": {"id": ids["demo_user"], "passcode": "1"}}}}})
    assert_fault(resp, 401, "Unauthorized")
    resp = api.post("/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"]}}})
    assert_fault(resp, 400, "Bad Request")


def test_rescope_project_token_and_system_token(api, ids):
    project_token, _ = api.token("admin", "secret", project_scope(ids["admin_project"]))
    resp = api.post("/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": project_token}},
        "scope": {"system": {"all": True}}}})
    assert resp.status_code == 201
    system_token = resp.headers["X-Subject-Token"]
    assert resp.json()["token"]["system"] == {"all": True}
    # As in Keystone, a system-scoped token cannot become a project or domain token.
    for scope in (project_scope(ids["admin_project"]), {"domain": {"id": "default"}}):
        resp = api.post("/v3/auth/tokens", json={"auth": {
            "identity": {"methods": ["token"], "token": {"id": system_token}},
            "scope": scope}})
        assert_fault(resp, 403, "Forbidden")


def test_domain_scoped_token(api, admin, make_user, ids):
    person = make_user(role=None)
    resp = api.login(person.name, person.password, {"domain": {"id": "default"}})
    assert_fault(resp, 401, "Unauthorized")

    admin.identity.assign_domain_role_to_user("default", person.id, ids["member"])
    token_id, token = api.token(person.name, person.password, {"domain": {"id": "default"}})
    assert token["domain"] == {"id": "default", "name": "Default"}
    assert "project" not in token and "system" not in token
    assert {r["name"] for r in token["roles"]} == {"member", "reader"}
    assert "catalog" in token

    resp = api.get("/v3/auth/domains", token=token_id)
    assert resp.status_code == 200
    assert [d["id"] for d in resp.json()["domains"]] == ["default"]
    # The domain-scoped token may read its domain.
    assert api.get("/v3/domains/default", token=token_id).status_code == 200
    resp = api.get("/v3/auth/catalog", token=token_id)
    assert resp.status_code == 200
    assert any(s["type"] == "identity" for s in resp.json()["catalog"])


def test_system_scoped_token(api, ids):
    token_id, token = api.token("admin", "secret", {"system": {"all": True}})
    assert token["system"] == {"all": True}
    assert "project" not in token and "domain" not in token
    assert {r["name"] for r in token["roles"]} == {"admin", "manager", "member", "reader"}
    resp = api.get("/v3/auth/system", token=token_id)
    assert resp.status_code == 200
    assert resp.json()["system"] == [{"all": True}]
    # demo holds no system role.
    resp = api.login("demo", "secret", {"system": {"all": True}})
    assert_fault(resp, 401, "Unauthorized")


def test_auth_catalog(cloud, api, demo):
    resp = api.get("/v3/auth/catalog", conn=demo)
    assert resp.status_code == 200
    catalog = resp.json()["catalog"]
    identity = next(s for s in catalog if s["type"] == "identity")
    assert identity["name"] == "keystone"
    urls = {e["interface"]: e["url"] for e in identity["endpoints"]}
    assert urls["public"] == cloud.url + "/identity"


def test_auth_projects_and_domains_for_member(api, demo, ids):
    resp = api.get("/v3/auth/projects", conn=demo)
    assert resp.status_code == 200
    projects = resp.json()["projects"]
    assert [p["id"] for p in projects] == [ids["demo_project"]]
    assert projects[0]["name"] == "demo"
    resp = api.get("/v3/auth/domains", conn=demo)
    assert resp.status_code == 200
    assert resp.json()["domains"] == []


def test_auth_projects_lists_only_enabled_assigned(api, admin, make_user, connect, unique):
    person = make_user()
    other = admin.identity.create_project(name=unique("proj"), domain_id="default")
    admin.identity.assign_project_role_to_user(other.id, person.id,
                                               admin.identity.find_role("reader").id)
    token_id, _ = api.token(person.name, person.password)
    listed = {p["id"] for p in api.get("/v3/auth/projects", token=token_id).json()["projects"]}
    assert listed == {person.project_id, other.id}
    admin.identity.update_project(other, is_enabled=False)
    listed = {p["id"] for p in api.get("/v3/auth/projects", token=token_id).json()["projects"]}
    assert listed == {person.project_id}


def test_sdk_connection_gets_token(cloud, ids):
    conn = cloud.connect("kumo")
    try:
        access = conn.session.auth.get_access(conn.session)
        assert access.project_id == ids["demo_project"]
        assert access.user_id == ids["demo_user"]
        assert set(access.role_names) == {"member", "reader"}
        assert conn.session.get_endpoint(service_type="identity", interface="public") \
            .startswith(cloud.url + "/identity")
    finally:
        conn.close()


def test_bad_credentials_through_sdk_are_401(cloud):
    conn = cloud.connect(username="demo", password="wrong", project_name="demo",
                         user_domain_id="default", project_domain_id="default")
    try:
        with pytest.raises(ks_exc.Unauthorized) as info:
            conn.session.get_token()
        assert info.value.http_status == 401
    finally:
        conn.close()
