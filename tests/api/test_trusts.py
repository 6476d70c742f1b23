"""Trusts (``/v3/OS-TRUST/trusts``) and trust-scoped tokens: openstacksdk, the
``openstack`` CLI and httpx."""
from __future__ import annotations

import datetime as dt

import httpx
import sqlalchemy as sa

from tests.api.helpers import assert_fault, db_engine
from tests.waiting import wait_for

TRUST = "/v3/OS-TRUST/trusts"


def _trust_token(api, person, trust_id):
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "id": person.id, "password": person.password}}},
        "scope": {"OS-TRUST:trust": {"id": trust_id}}}
    return api.post("/v3/auth/tokens", json={"auth": auth})


def test_trust_lifecycle_and_scoped_token(cloud, api, make_user, connect, ids):
    trustor, trustee = make_user(), make_user(role=None)
    conn = connect(trustor)
    trust = conn.identity.create_trust(
        trustor_user_id=trustor.id, trustee_user_id=trustee.id,
        project_id=trustor.project_id, impersonation=True, roles=[{"name": "member"}])
    assert trust.trustor_user_id == trustor.id and trust.is_impersonation is True
    assert [r["name"] for r in trust.roles] == ["member"]

    # Only the trustee gets a trust-scoped token; it carries the delegated roles.
    resp = _trust_token(api, trustor, trust.id)
    assert_fault(resp, 403, "Forbidden")
    resp = _trust_token(api, trustee, trust.id)
    assert resp.status_code == 201, resp.text
    token = resp.json()["token"]
    assert token["OS-TRUST:trust"] == {"id": trust.id, "impersonation": True,
                                       "trustee_user": {"id": trustee.id},
                                       "trustor_user": {"id": trustor.id}}
    assert token["user"]["id"] == trustor.id  # impersonation
    assert token["project"]["id"] == trustor.project_id
    assert {r["name"] for r in token["roles"]} == {"member", "reader"}
    trust_token = resp.headers["X-Subject-Token"]
    # The token works against the API (the trustor's project).
    assert api.get(f"/v3/projects/{trustor.project_id}", token=trust_token).status_code == 200
    # ... and cannot be rescoped.
    resp = api.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": trust_token}},
        "scope": {"project": {"id": trustor.project_id}}}})
    assert_fault(resp, 403, "Forbidden")

    # Show, list with filters, roles subresources.
    shown = conn.identity.get_trust(trust.id)
    assert shown.id == trust.id
    listed = api.get(TRUST, conn=conn, params={"trustor_user_id": trustor.id}).json()
    assert [t["id"] for t in listed["trusts"]] == [trust.id]
    listed = api.get(TRUST, conn=connect(trustor),
                     params={"trustee_user_id": trustee.id})
    assert_fault(listed, 403, "Forbidden")
    roles = api.get(f"{TRUST}/{trust.id}/roles", conn=conn).json()["roles"]
    assert [r["id"] for r in roles] == [ids["member"]]
    assert api.get(f"{TRUST}/{trust.id}/roles/{ids['member']}", conn=conn).status_code == 200
    assert_fault(api.get(f"{TRUST}/{trust.id}/roles/{ids['admin']}", conn=conn), 404,
                 "Not Found")

    # Deleting the trust invalidates its tokens.
    conn.identity.delete_trust(trust)
    resp = api.get("/v3/auth/tokens", conn=conn, headers={"X-Subject-Token": trust_token})
    assert_fault(resp, 404, "Not Found")
    assert_fault(api.get(f"{TRUST}/{trust.id}", conn=conn), 404, "Not Found")
    assert_fault(_trust_token(api, trustee, trust.id), 404, "Not Found")


def test_trust_without_impersonation_and_remaining_uses(api, make_user, connect):
    trustor, trustee = make_user(), make_user(role=None)
    conn = connect(trustor)
    resp = api.post(TRUST, conn=conn, json={"trust": {
        "trustor_user_id": trustor.id, "trustee_user_id": trustee.id,
        "project_id": trustor.project_id, "impersonation": False, "remaining_uses": 2,
        "roles": [{"name": "reader"}]}})
    assert resp.status_code == 201, resp.text
    trust = resp.json()["trust"]
    assert trust["remaining_uses"] == 2
    first = _trust_token(api, trustee, trust["id"])
    assert first.status_code == 201
    assert first.json()["token"]["user"]["id"] == trustee.id
    assert [r["name"] for r in first.json()["token"]["roles"]] == ["reader"]
    assert api.get(f"{TRUST}/{trust['id']}", conn=conn).json()["trust"][
        "remaining_uses"] == 1
    assert _trust_token(api, trustee, trust["id"]).status_code == 201
    # Used up: no more tokens, the trust is no longer shown; issued tokens stay valid.
    assert _trust_token(api, trustee, trust["id"]).status_code in (403, 404)
    assert_fault(api.get(f"{TRUST}/{trust['id']}", conn=conn), 404, "Not Found")
    token_id = first.headers["X-Subject-Token"]
    assert api.get("/v3/auth/tokens", token=token_id,
                   headers={"X-Subject-Token": token_id}).status_code == 200


def test_trust_rules(cloud, api, make_user, connect, ids):
    trustor, trustee, other = make_user(), make_user(role=None), make_user()
    conn = connect(trustor)
    base = {"trustor_user_id": trustor.id, "trustee_user_id": trustee.id,
            "project_id": trustor.project_id, "impersonation": False}
    cases = [
        ({**base, "roles": [{"name": "admin"}]}, 403, "Forbidden"),  # not held
        ({**base, "trustor_user_id": other.id}, 403, "Forbidden"),   # not the caller
        ({**base, "trustee_user_id": "0" * 32}, 404, "Not Found"),
        ({**base, "expires_at": "2000-01-01T00:00:00Z"}, 400, "Bad Request"),
        ({**base, "expires_at": "soon"}, 400, "Bad Request"),
        ({**base, "remaining_uses": 0}, 400, "Bad Request"),
        ({k: v for k, v in base.items() if k != "impersonation"}, 400, "Bad Request"),
    ]
    for body, code, title in cases:
        assert_fault(api.post(TRUST, conn=conn, json={"trust": body}), code, title)
    assert api.get(TRUST, conn=conn).json()["trusts"] == []

    # An expired trust gives no token and invalidates the ones it gave.
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
    resp = api.post(TRUST, conn=conn, json={"trust": {**base, "expires_at": later,
                                                      "roles": [{"id": ids["member"]}]}})
    assert resp.status_code == 201, resp.text
    trust = resp.json()["trust"]
    assert trust["expires_at"] == later
    issued = _trust_token(api, trustee, trust["id"])
    assert issued.status_code == 201
    token_id = issued.headers["X-Subject-Token"]
    engine = db_engine(cloud)
    try:  # let it expire (and tell every process: the identity revision moves)
        with engine.begin() as c:
            c.execute(sa.text("UPDATE trust SET expires_at = :t WHERE id = :i"),
                      {"t": dt.datetime(2001, 1, 1), "i": trust["id"]})
            c.execute(sa.text("UPDATE kumo_revision SET value = value + 1 "
                              "WHERE name = 'identity'"))
    finally:
        engine.dispose()
    # the server re-reads the revision within cache_recheck_s (1 s)
    wait_for(lambda: api.get("/v3/auth/tokens", token=token_id, headers={
        "X-Subject-Token": token_id}).status_code == 401, "the expired trust's token to fail")
    resp = api.get("/v3/auth/tokens", token=token_id, headers={"X-Subject-Token": token_id})
    assert_fault(resp, 401, "Unauthorized")
    assert_fault(_trust_token(api, trustee, trust["id"]), 404, "Not Found")


def test_redelegation(api, make_user, connect):
    trustor, middle, last = make_user(), make_user(role=None), make_user(role=None)
    conn = connect(trustor)
    resp = api.post(TRUST, conn=conn, json={"trust": {
        "trustor_user_id": trustor.id, "trustee_user_id": middle.id,
        "project_id": trustor.project_id, "impersonation": False,
        "allow_redelegation": True, "redelegation_count": 1, "roles": [{"name": "member"}]}})
    assert resp.status_code == 201, resp.text
    parent = resp.json()["trust"]
    assert parent["allow_redelegation"] is True and parent["redelegation_count"] == 1
    token = _trust_token(api, middle, parent["id"]).headers["X-Subject-Token"]
    child = {"trustor_user_id": middle.id, "trustee_user_id": last.id,
             "project_id": trustor.project_id, "impersonation": False,
             "allow_redelegation": True, "roles": [{"name": "member"}]}
    assert_fault(api.post(TRUST, token=token, json={"trust": {**child, "impersonation": True}}),
                 403, "Forbidden")
    resp = api.post(TRUST, token=token, json={"trust": child})
    assert resp.status_code == 201, resp.text
    made = resp.json()["trust"]
    assert made["redelegated_trust_id"] == parent["id"]
    assert made["redelegation_count"] == 0 and made["allow_redelegation"] is False
    # Deleting the parent deletes the redelegated trust.
    assert api.delete(f"{TRUST}/{parent['id']}", conn=conn).status_code == 204
    assert_fault(_trust_token(api, last, made["id"]), 404, "Not Found")


def test_trusts_with_the_cli_and_httpx(cloud, ids, make_user, unique):
    trustee = make_user(role=None)
    made = cloud.cli("trust", "create", "--project", ids["admin_project"], "--role",
                     "member", "--impersonate", ids["admin_user"], trustee.id)
    assert made["trustee_user_id"] == trustee.id and made["is_impersonation"] is True
    listed = cloud.cli("trust", "list")
    assert made["id"] in {t["ID"] for t in listed}
    shown = cloud.cli("trust", "show", made["id"])
    assert shown["project_id"] == ids["admin_project"]
    # The trustee authenticates with the trust through httpx.
    resp = httpx.post(f"{cloud.url}/identity/v3/auth/tokens", timeout=60, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": trustee.id, "password": trustee.password}}},
        "scope": {"OS-TRUST:trust": {"id": made["id"]}}}})
    assert resp.status_code == 201, resp.text
    assert resp.json()["token"]["user"]["id"] == ids["admin_user"]
    cloud.cli("trust", "delete", made["id"], parse=False)
    assert made["id"] not in {t["ID"] for t in cloud.cli("trust", "list")}
