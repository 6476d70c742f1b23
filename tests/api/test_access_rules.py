"""Application credential access rules (Identity API v3): created with a credential
(openstacksdk, the ``openstack`` CLI, httpx), reused by id or by equal fields, listed,
shown and deleted under ``/v3/users/{id}/access_rules``, carried in the token body and
enforced by every service (401 for a request no rule permits)."""
from __future__ import annotations

import json

import httpx
import pytest

from kumo.identity.access_rules import path_matches, permits
from tests.api.helpers import app_cred_connection, assert_fault

LIST_SERVERS = {"service": "compute", "method": "GET", "path": "/v2.1/servers"}


@pytest.fixture
def owner(make_user, connect):
    person = make_user()
    return person, connect(person)


def _token(cloud, cred) -> str:
    """A token issued with the credential (httpx: the raw Keystone call)."""
    resp = httpx.post(cloud.url + "/identity/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": cred["id"], "secret": cred["secret"]}}}},
        timeout=60)
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"]


def _create(api, conn, person, unique, rules, status=201):
    resp = api.post(f"/v3/users/{person.id}/application_credentials", conn=conn, json={
        "application_credential": {"name": unique("cred"), "access_rules": rules}})
    assert resp.status_code == status, resp.text
    return resp.json()["application_credential"] if status == 201 else resp


def test_credential_limited_to_listing_servers(cloud, api, admin, owner, unique):
    person, conn = owner
    cred = conn.identity.create_application_credential(person.id, unique("cred"),
                                                       access_rules=[LIST_SERVERS])
    assert len(cred.access_rules) == 1
    rule = cred.access_rules[0]
    assert rule["id"] and {k: rule[k] for k in LIST_SERVERS} == LIST_SERVERS
    assert set(rule) == {"id", "service", "method", "path"}
    token = _token(cloud, {"id": cred.id, "secret": cred.secret})

    # The token body carries the rules.
    body = api.get("/v3/auth/tokens", conn=admin,
                   headers={"X-Subject-Token": token}).json()["token"]
    assert body["application_credential"]["access_rules"] == [rule]

    with httpx.Client(base_url=cloud.url, headers={"X-Auth-Token": token},
                      timeout=60) as http:
        resp = http.get("/compute/v2.1/servers")
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"servers": []}
        # Another path, method or service: 401 in each service's own fault format.
        resp = http.get("/compute/v2.1/servers/detail")
        assert resp.status_code == 401, resp.text
        resp = http.post("/compute/v2.1/servers", json={"server": {"name": "x"}})
        assert resp.status_code == 401, resp.text
        resp = http.get("/networking/v2.0/networks")
        assert resp.status_code == 401, resp.text
        assert set(resp.json()) == {"NeutronError"}
        assert http.get("/image/v2/images").status_code == 401
        assert http.get("/volume/v3/volumes").status_code == 401
        resp = http.get(f"/identity/v3/projects/{person.project_id}")
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == 401
        # Version documents stay public: the token is ignored there.
        assert http.get("/compute/").status_code in (200, 300)
    # Nothing was created by the refused POST.
    assert list(conn.compute.servers()) == []

    # openstacksdk with the credential: discovery and the server list work.
    limited = app_cred_connection(cloud, application_credential_id=cred.id,
                                  application_credential_secret=cred.secret)
    try:
        assert list(limited.compute.servers(details=False)) == []
    finally:
        limited.close()

    # The same user's unrestricted token is not affected.
    assert conn.network.find_network("nothing-" + unique()) is None


def test_wildcards_and_reuse(cloud, api, owner, unique):
    person, conn = owner
    rules = [{"service": "compute", "method": "GET", "path": "/v2.1/servers/*/ips"},
             {"service": "network", "method": "GET", "path": "/v2.0/**"}]
    first = _create(api, conn, person, unique, rules)
    ids = [r["id"] for r in first["access_rules"]]
    assert [{k: r[k] for k in ("service", "method", "path")}
            for r in first["access_rules"]] == rules

    # Reuse by id, and by equal fields: no new rule.
    second = _create(api, conn, person, unique, [{"id": ids[0]}, dict(rules[1])])
    assert [r["id"] for r in second["access_rules"]] == ids
    listed = api.get(f"/v3/users/{person.id}/access_rules", conn=conn).json()
    assert sorted(r["id"] for r in listed["access_rules"]) == sorted(ids)
    shown = api.get(f"/v3/users/{person.id}/access_rules/{ids[1]}", conn=conn).json()
    assert shown["access_rule"]["path"] == "/v2.0/**"
    assert shown["access_rule"]["links"]["self"].endswith(
        f"/v3/users/{person.id}/access_rules/{ids[1]}")
    filtered = api.get(f"/v3/users/{person.id}/access_rules", conn=conn,
                       params={"service": "network"}).json()["access_rules"]
    assert [r["id"] for r in filtered] == [ids[1]]

    token = _token(cloud, second)
    with httpx.Client(base_url=cloud.url, headers={"X-Auth-Token": token},
                      timeout=60) as http:
        assert http.get("/networking/v2.0/networks").status_code == 200
        assert http.get("/networking/v2.0/ports").status_code == 200
        assert http.post("/networking/v2.0/networks",
                         json={"network": {"name": "x"}}).status_code == 401
        assert http.get("/compute/v2.1/servers/abc/ips").status_code == 404  # allowed
        assert http.get("/compute/v2.1/servers").status_code == 401

    # An unknown id, or another user's rule, is 404; bad input 400; nothing created.
    _create(api, conn, person, unique, [{"id": "0" * 32}], status=404)
    bad = [{"service": "compute", "method": "FETCH", "path": "/v2.1"},
           {"service": "compute", "method": "GET", "path": "no-slash"},
           {"service": "compute", "method": "GET"},
           {"service": "compute", "method": "GET", "path": "/v2.1", "extra": 1}]
    for rule in bad:
        resp = _create(api, conn, person, unique, [rule], status=400)
        assert_fault(resp, 400, "Bad Request")
    assert len(list(conn.identity.application_credentials(person.id))) == 2
    listed = api.get(f"/v3/users/{person.id}/access_rules", conn=conn).json()
    assert len(listed["access_rules"]) == 2


def test_delete_in_use_and_other_users(cloud, api, admin, owner, make_user, connect,
                                       unique):
    person, conn = owner
    cred = _create(api, conn, person, unique, [LIST_SERVERS])
    rule_id = cred["access_rules"][0]["id"]
    # In use: 403 (Keystone's AccessRuleInUseError, as Tempest expects).
    resp = api.delete(f"/v3/users/{person.id}/access_rules/{rule_id}", conn=conn)
    assert_fault(resp, 403, "Forbidden")

    # Another member neither sees nor deletes it, nor can reuse it by id.
    stranger = make_user()
    other = connect(stranger)
    assert_fault(api.get(f"/v3/users/{person.id}/access_rules", conn=other), 403,
                 "Forbidden")
    assert_fault(api.delete(f"/v3/users/{person.id}/access_rules/{rule_id}", conn=other),
                 403, "Forbidden")
    _create(api, other, stranger, unique, [{"id": rule_id}], status=404)
    assert_fault(api.get(f"/v3/users/{stranger.id}/access_rules/{rule_id}", conn=other),
                 404, "Not Found")

    conn.identity.delete_application_credential(person.id, cred["id"])
    resp = api.delete(f"/v3/users/{person.id}/access_rules/{rule_id}", conn=conn)
    assert resp.status_code == 204, resp.text
    assert api.get(f"/v3/users/{person.id}/access_rules", conn=conn).json()[
        "access_rules"] == []
    assert_fault(api.get(f"/v3/users/{person.id}/access_rules/{rule_id}", conn=conn), 404,
                 "Not Found")

    # Deleting the user deletes its credentials and rules (no foreign key in the way).
    _create(api, conn, person, unique, [LIST_SERVERS])
    admin.identity.delete_user(person.id)
    assert api.get(f"/v3/users/{person.id}/access_rules", conn=admin).json()[
        "access_rules"] == []


def test_cli_creates_a_credential_with_access_rules(cloud, admin, ids, unique):
    path = "/v2.1/servers/" + unique("srv")
    rules = [{"service": "compute", "method": "GET", "path": path}]
    name = unique("cli-cred")
    created = cloud.cli("application", "credential", "create", name,
                        "--access-rules", json.dumps(rules), cloud="kumo")
    shown = created["Access Rules"]
    assert [{k: r[k] for k in ("service", "method", "path")} for r in shown] == rules
    user = ids["demo_user"]
    listed = admin.identity.get(f"/users/{user}/access_rules").json()["access_rules"]
    assert path in {r["path"] for r in listed}
    cloud.cli("application", "credential", "delete", name, cloud="kumo", parse=False)
    # The CLI's own access rule commands see and delete the rule.
    rule_id = shown[0]["id"]
    assert rule_id in {r["ID"] for r in cloud.cli("access", "rule", "list", cloud="kumo")}
    cloud.cli("access", "rule", "delete", rule_id, cloud="kumo", parse=False)
    assert admin.identity.get(f"/users/{user}/access_rules/{rule_id}").status_code == 404


@pytest.mark.parametrize("pattern,path,ok", [
    ("/v2.1/servers", "/v2.1/servers", True),
    ("/v2.1/servers", "/v2.1/servers/", True),
    ("/v2.1/servers", "/v2.1/servers/detail", False),
    ("/v2.1/servers/*/ips", "/v2.1/servers/abc/ips", True),
    ("/v2.1/servers/*/ips", "/v2.1/servers/abc/def/ips", False),
    ("/v2.1/servers/**", "/v2.1/servers/abc/ips", True),
    ("/v2.1/**/ips", "/v2.1/servers/abc/ips", True),
    ("/v2.1/**/ips", "/v2.1/servers/abc/ips2", False),
    ("/v2.0/net*", "/v2.0/networks", True),
    ("/v2.0/[x]", "/v2.0/x", False),
])
def test_path_patterns(pattern, path, ok):
    assert path_matches(pattern, path) is ok


def test_permits_needs_service_and_method():
    rules = [LIST_SERVERS]
    assert permits(rules, ("compute",), "GET", "/v2.1/servers")
    assert not permits(rules, ("compute",), "POST", "/v2.1/servers")
    assert not permits(rules, ("network",), "GET", "/v2.1/servers")
    assert not permits(rules, (), "GET", "/v2.1/servers")
