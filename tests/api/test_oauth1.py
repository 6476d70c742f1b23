"""OAuth1 delegation (``/v3/OS-OAUTH1``): a consumer, a request token, the user's
authorization, an access token and ``oauth1`` tokens, with the ``openstack`` CLI,
keystoneauth's OAuth1 plugin and httpx with oauthlib signing."""
from __future__ import annotations

import httpx
import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.extras import oauth1 as ks_oauth1
from oauthlib import oauth1

from tests.api.helpers import assert_fault


def _oauth1_token(cloud, consumer, access):
    plugin = ks_oauth1.V3OAuth1(auth_url=cloud.url + "/identity/v3",
                                consumer_key=consumer["id"],
                                consumer_secret=consumer["secret"],
                                access_key=access["key"], access_secret=access["secret"])
    sess = ks_session.Session(auth=plugin)
    token = sess.get_token()
    return token, plugin.get_access(sess)


def test_oauth1_delegation_with_the_cli(cloud, api, admin, ids, make_user, unique):
    person = make_user("manager")  # manager implies member and reader
    consumer = cloud.cli("consumer", "create", "--description", "app")
    assert consumer["secret"]

    request = cloud.cli("request", "token", "create", "--consumer-key", consumer["id"],
                        "--consumer-secret", consumer["secret"],
                        "--project", person.project_id)
    assert request["key"] and request["secret"] and request["expires"]

    # The user authorizes it for "member" (held through "manager"), not "admin".
    # (The CLI's authorize looks roles up by name, which only admins may; the user
    # calls the API.)
    user_token, _ = api.token(person.name, person.password,
                              {"project": {"id": person.project_id}})
    path = f"/v3/OS-OAUTH1/authorize/{request['key']}"
    assert_fault(api.put(path, token=user_token, json={"roles": [{"name": "admin"}]}),
                 401, "Unauthorized")
    assert_fault(api.put(path, token=user_token, json={"roles": []}), 400, "Bad Request")
    resp = api.put(path, token=user_token, json={"roles": [{"name": "member"}]})
    assert resp.status_code == 200, resp.text
    verifier = resp.json()["token"]["oauth_verifier"]
    # once only
    assert_fault(api.put(path, token=user_token, json={"roles": [{"id": ids["reader"]}]}),
                 401, "Unauthorized")

    # A wrong verifier or secret trades nothing.
    for args in (("--verifier", "00000000", "--request-secret", request["secret"]),
                 ("--verifier", verifier, "--request-secret", "wrong")):
        proc = cloud.cli("access", "token", "create", "--consumer-key", consumer["id"],
                         "--consumer-secret", consumer["secret"], "--request-key",
                         request["key"], *args, check=False)
        assert proc.returncode != 0 and "401" in proc.stderr, proc.stderr
    access = cloud.cli("access", "token", "create", "--consumer-key", consumer["id"],
                       "--consumer-secret", consumer["secret"], "--request-key",
                       request["key"], "--request-secret", request["secret"],
                       "--verifier", verifier)
    # the request token is used up
    proc = cloud.cli("access", "token", "create", "--consumer-key", consumer["id"],
                     "--consumer-secret", consumer["secret"], "--request-key",
                     request["key"], "--request-secret", request["secret"],
                     "--verifier", verifier, check=False)
    assert proc.returncode != 0

    token_id, access_info = _oauth1_token(cloud, consumer, access)
    body = api.get("/v3/auth/tokens", conn=admin,
                   headers={"X-Subject-Token": token_id}).json()["token"]
    assert body["methods"] == ["oauth1"]
    assert body["user"]["id"] == person.id
    assert body["project"]["id"] == person.project_id
    assert {r["name"] for r in body["roles"]} == {"member", "reader"}
    assert body["OS-OAUTH1"] == {"access_token_id": access["key"],
                                 "consumer_id": consumer["id"]}

    # an OAuth token cannot make other tokens
    resp = api.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": token_id}}}})
    assert_fault(resp, 403, "Forbidden")

    # the user's access tokens
    base = f"/v3/users/{person.id}/OS-OAUTH1/access_tokens"
    listed = api.get(base, token=user_token).json()["access_tokens"]
    assert [t["id"] for t in listed] == [access["key"]]
    assert listed[0]["consumer_id"] == consumer["id"]
    roles = api.get(f"{base}/{access['key']}/roles", token=user_token).json()["roles"]
    assert [r["name"] for r in roles] == ["member"]
    assert api.get(f"{base}/{access['key']}/roles/{ids['member']}",
                   token=user_token).json()["role"]["id"] == ids["member"]
    other = make_user()
    other_token, _ = api.token(other.name, other.password,
                               {"project": {"id": other.project_id}})
    assert_fault(api.get(base, token=other_token), 403, "Forbidden")

    # deleting the access token invalidates the tokens made with it
    assert api.delete(f"{base}/{access['key']}", token=user_token).status_code == 204
    resp = api.get("/v3/auth/tokens", conn=admin, headers={"X-Subject-Token": token_id})
    assert_fault(resp, 404, "Not Found")
    with pytest.raises(Exception):
        _oauth1_token(cloud, consumer, access)
    cloud.cli("consumer", "delete", consumer["id"], parse=False)


def test_oauth1_signatures_are_checked(cloud, api, admin, make_user):
    """Hand-signed requests: a wrong consumer secret, a tampered URL, a replayed nonce
    and a missing project are refused; nothing is created."""
    person = make_user()
    consumer = api.post("/v3/OS-OAUTH1/consumers", conn=admin,
                        json={"consumer": {}}).json()["consumer"]
    url = cloud.url + "/identity/v3/OS-OAUTH1/request_token"

    def signed(secret, target=url, project=person.project_id, **kw):
        client = oauth1.Client(consumer["id"], client_secret=secret, callback_uri="oob",
                               signature_method=oauth1.SIGNATURE_HMAC, **kw)
        headers = {"Requested-Project-Id": project} if project else {}
        return client.sign(target, http_method="POST", headers=headers)[1]

    resp = httpx.post(url, headers=signed("wrong"), timeout=30)
    assert_fault(resp, 401, "Unauthorized")
    resp = httpx.post(url, headers=signed(consumer["secret"], target=url + "x"),
                      timeout=30)
    assert_fault(resp, 401, "Unauthorized")
    resp = httpx.post(url, headers=signed(consumer["secret"], project=None), timeout=30)
    assert_fault(resp, 400, "Bad Request")
    good = signed(consumer["secret"])
    resp = httpx.post(url, headers=good, timeout=30)
    assert resp.status_code == 201, resp.text
    assert resp.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert "oauth_token=" in resp.text and "oauth_token_secret=" in resp.text
    # the same signed request again: the nonce was used
    assert_fault(httpx.post(url, headers=good, timeout=30), 401, "Unauthorized")
    # an unsigned oauth1 authentication is refused
    resp = httpx.post(cloud.url + "/identity/v3/auth/tokens", timeout=30, json={
        "auth": {"identity": {"methods": ["oauth1"], "oauth1": {}}}})
    assert_fault(resp, 401, "Unauthorized")
    # deleting the consumer takes its request tokens
    assert api.delete(f"/v3/OS-OAUTH1/consumers/{consumer['id']}",
                      conn=admin).status_code == 204
