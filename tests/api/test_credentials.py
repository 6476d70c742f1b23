"""Credentials (``/v3/credentials``), EC2 credentials (``OS-EC2``) and
``/v3/ec2tokens``: openstacksdk, the ``openstack`` CLI and httpx; blobs encrypted at rest
under the credential keys (not the token keys)."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from urllib.parse import quote

import httpx
import sqlalchemy as sa

from tests.api.helpers import assert_fault, db_engine


def test_credential_crud_with_sdk_and_filters(cloud, admin, make_user, connect, api):
    person = make_user()
    conn = connect(person)
    cred = conn.identity.create_credential(type="totp", blob="secret-seed",
                                           user_id=person.id)
    assert cred.blob == "secret-seed" and cred.type == "totp" and cred.user_id == person.id
    other = admin.identity.create_credential(type="cert", blob="pem", user_id=person.id,
                                             project_id=person.project_id)
    assert other.project_id == person.project_id
    mine = {c.id for c in conn.identity.credentials()}
    assert mine == {cred.id, other.id}
    assert {c.id for c in admin.identity.credentials(user_id=person.id, type="cert")} \
        == {other.id}
    assert admin.identity.get_credential(cred.id).blob == "secret-seed"
    updated = conn.identity.update_credential(cred, blob="new-seed")
    assert updated.blob == "new-seed"
    conn.identity.delete_credential(cred)
    resp = api.get(f"/v3/credentials/{cred.id}", conn=admin)
    assert_fault(resp, 404, "Not Found")


def test_credential_blob_is_encrypted_with_its_own_keys(cloud, admin, ids):
    cred = admin.identity.create_credential(type="cert", blob="plain-text-marker",
                                            user_id=ids["admin_user"])
    engine = db_engine(cloud)
    try:
        with engine.connect() as c:
            row = c.execute(sa.text("SELECT encrypted_blob, key_hash FROM credential "
                                    "WHERE id = :i"), {"i": cred.id}).one()
            cred_keys = [k for (k,) in c.execute(sa.text(
                "SELECT key FROM identity_credential_key"))]
            token_keys = {k for (k,) in c.execute(sa.text(
                "SELECT key FROM identity_fernet_key"))}
    finally:
        engine.dispose()
    assert "plain-text-marker" not in row.encrypted_blob
    assert len(cred_keys) >= 2 and not set(cred_keys) & token_keys
    assert row.key_hash in {hashlib.sha1(k.encode()).hexdigest() for k in cred_keys}
    admin.identity.delete_credential(cred)


def test_other_users_credentials_are_hidden_and_forbidden(admin, make_user, connect, api):
    alice, bob = make_user(), make_user()
    cred = admin.identity.create_credential(type="x", blob="b", user_id=alice.id)
    bob_conn = connect(bob)
    assert cred.id not in {c.id for c in bob_conn.identity.credentials()}
    assert_fault(api.get(f"/v3/credentials/{cred.id}", conn=bob_conn), 403, "Forbidden")
    resp = api.post("/v3/credentials", conn=bob_conn, json={"credential": {
        "type": "x", "blob": "b", "user_id": alice.id}})
    assert_fault(resp, 403, "Forbidden")


def test_bad_credentials_are_400_and_change_nothing(admin, ids, api):
    before = len(list(admin.identity.credentials()))
    user = ids["admin_user"]
    for body in ({"credential": {"type": "x", "user_id": user}},
                 {"credential": {"type": "ec2", "blob": "not json", "user_id": user,
                                 "project_id": ids["admin_project"]}},
                 {"credential": {"type": "ec2", "blob": json.dumps({"secret": "s"}),
                                 "user_id": user, "project_id": ids["admin_project"]}},
                 {"credential": {"type": "ec2", "blob": json.dumps({"access": "a"}),
                                 "user_id": user}}):
        assert_fault(api.post("/v3/credentials", conn=admin, json=body), 400, "Bad Request")
    resp = api.post("/v3/credentials", conn=admin, json={"credential": {
        "type": "x", "blob": "b", "user_id": "0" * 32}})
    assert_fault(resp, 404, "Not Found")
    assert len(list(admin.identity.credentials())) == before


def test_ec2_credential_id_is_sha256_of_access(admin, ids, api):
    blob = json.dumps({"access": "my-access-key", "secret": "s"})
    resp = api.post("/v3/credentials", conn=admin, json={"credential": {
        "type": "ec2", "blob": blob, "user_id": ids["admin_user"],
        "project_id": ids["admin_project"]}})
    assert resp.status_code == 201, resp.text
    cred = resp.json()["credential"]
    assert cred["id"] == hashlib.sha256(b"my-access-key").hexdigest()
    resp = api.post("/v3/credentials", conn=admin, json={"credential": {
        "type": "ec2", "blob": blob, "user_id": ids["admin_user"],
        "project_id": ids["admin_project"]}})
    assert_fault(resp, 409, "Conflict")
    # Keystone lets the blob's access key change (Tempest's
    # test_credentials_create_get_update_delete); the id stays
    new_blob = json.dumps({"access": "other-access", "secret": "s2"})
    resp = api.patch(f"/v3/credentials/{cred['id']}", conn=admin,
                     json={"credential": {"blob": new_blob}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["credential"]["id"] == cred["id"]
    assert json.loads(resp.json()["credential"]["blob"])["access"] == "other-access"
    # ... but not its scope (trust_id, app_cred_id, access_token_id, access_id)
    resp = api.patch(f"/v3/credentials/{cred['id']}", conn=admin, json={"credential": {
        "blob": json.dumps({"access": "other-access", "secret": "s2", "trust_id": "t"})}})
    assert_fault(resp, 400, "Bad Request")
    # the old access key no longer signs in (the row's blob names another key)
    resp = api.post("/v3/ec2tokens", json={"credentials": {
        "access": "my-access-key", "signature": "x", "host": "h", "verb": "GET",
        "path": "/", "params": {"SignatureVersion": "2", "SignatureMethod": "HmacSHA256",
                                "AWSAccessKeyId": "my-access-key"}}})
    assert_fault(resp, 401, "Unauthorized")
    assert api.delete(f"/v3/credentials/{cred['id']}", conn=admin).status_code == 204


def test_credentials_with_the_cli(cloud, ids, unique):
    user = ids["admin_user"]
    made = cloud.cli("credential", "create", "--type", "cert", user, "cli-blob")
    assert made["blob"] == "cli-blob" and made["type"] == "cert"
    listed = cloud.cli("credential", "list", "--user", user, "--type", "cert")
    assert made["id"] in {c["ID"] for c in listed}
    shown = cloud.cli("credential", "show", made["id"])
    assert shown["blob"] == "cli-blob"
    cloud.cli("credential", "delete", made["id"], parse=False)
    ec2 = cloud.cli("ec2", "credentials", "create", "--project", ids["demo_project"])
    assert ec2["access"] and ec2["secret"]
    listed = cloud.cli("ec2", "credentials", "list")
    assert ec2["access"] in {c["Access"] for c in listed}
    cloud.cli("ec2", "credentials", "delete", ec2["access"], parse=False)
    listed = cloud.cli("ec2", "credentials", "list")
    assert ec2["access"] not in {c["Access"] for c in listed}


# -- EC2 signatures (the documented HMAC signing, written out here independently) --
def _sign_v2(secret, verb, host, path, params):
    pairs = "&".join(quote(k, safe="") + "=" + quote(str(params[k]), safe="-_~")
                     for k in sorted(params))
    text = f"{verb}\n{host}\n{path}\n{pairs}"
    return base64.b64encode(hmac.new(secret.encode(), text.encode(),
                                     hashlib.sha256).digest()).decode()


def _sign_v4(secret, verb, host, path, body_hash, when):
    date = when.strftime("%Y%m%d")
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{date}/RegionOne/ec2/aws4_request"
    headers = {"Host": host, "X-Amz-Date": stamp}
    canonical = "\n".join([verb, path, "", f"host:{host}\nx-amz-date:{stamp}\n",
                           "host;x-amz-date", body_hash])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (date, "RegionOne", "ec2", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential=AKID/{scope}, "
                                f"SignedHeaders=host;x-amz-date, Signature={sig}")
    return sig, headers


def test_ec2_credentials_and_ec2tokens(cloud, make_user, connect):
    person = make_user()
    conn = connect(person)
    token = conn.session.get_token()
    base = f"{cloud.url}/identity/v3"
    with httpx.Client(timeout=60, headers={"X-Auth-Token": token}) as http:
        resp = http.post(f"{base}/users/{person.id}/credentials/OS-EC2",
                         json={"tenant_id": person.project_id})
        assert resp.status_code == 201, resp.text
        cred = resp.json()["credential"]
        assert cred["user_id"] == person.id and cred["tenant_id"] == person.project_id
        assert cred["trust_id"] is None and cred["access"] and cred["secret"]
        resp = http.get(f"{base}/users/{person.id}/credentials/OS-EC2")
        assert [c["access"] for c in resp.json()["credentials"]] == [cred["access"]]
        resp = http.get(f"{base}/users/{person.id}/credentials/OS-EC2/{cred['access']}")
        assert resp.json()["credential"]["secret"] == cred["secret"]
        # Also listed as a plain credential of type ec2.
        resp = http.get(f"{base}/credentials", params={"type": "ec2"})
        assert [json.loads(c["blob"])["access"] for c in resp.json()["credentials"]] \
            == [cred["access"]]

        # v2 signature
        params = {"Action": "DescribeInstances", "SignatureVersion": "2",
                  "SignatureMethod": "HmacSHA256", "AWSAccessKeyId": cred["access"],
                  "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        signed = {"access": cred["access"], "host": "ec2.example:8773", "verb": "GET",
                  "path": "/", "params": params,
                  "signature": _sign_v2(cred["secret"], "GET", "ec2.example:8773", "/",
                                        params)}
        resp = httpx.post(f"{base}/ec2tokens", json={"credentials": signed}, timeout=60)
        assert resp.status_code == 200, resp.text
        body = resp.json()["token"]
        assert body["methods"] == ["ec2credential"]
        assert body["user"]["id"] == person.id
        assert body["project"]["id"] == person.project_id
        ec2_token = resp.headers["X-Subject-Token"]
        assert http.get(f"{base}/auth/tokens",
                        headers={"X-Subject-Token": ec2_token}).status_code == 200

        # A wrong signature, an unknown access key: 401, Keystone's fault.
        bad = {**signed, "signature": "AAAA"}
        resp = httpx.post(f"{base}/ec2tokens", json={"credentials": bad}, timeout=60)
        assert_fault(resp, 401, "Unauthorized")
        resp = httpx.post(f"{base}/ec2tokens", json={"credentials": {
            **signed, "access": "nope"}}, timeout=60)
        assert_fault(resp, 401, "Unauthorized")
        resp = httpx.post(f"{base}/ec2tokens", json={"nothing": 1}, timeout=60)
        assert_fault(resp, 400, "Bad Request")

        # v4 signature (Authorization header form)
        body_hash = hashlib.sha256(b"").hexdigest()
        sig, headers = _sign_v4(cred["secret"], "GET", "ec2.example", "/", body_hash,
                                dt.datetime.now(dt.UTC))
        v4 = {"access": cred["access"], "host": "ec2.example", "verb": "GET", "path": "/",
              "params": {}, "headers": headers, "body_hash": body_hash, "signature": sig}
        resp = httpx.post(f"{base}/ec2tokens", json={"ec2Credentials": v4}, timeout=60)
        assert resp.status_code == 200, resp.text
        resp = httpx.post(f"{base}/ec2tokens", json={"credentials": {
            **v4, "signature": "0" * 64}}, timeout=60)
        assert_fault(resp, 401, "Unauthorized")

        resp = http.delete(f"{base}/users/{person.id}/credentials/OS-EC2/{cred['access']}")
        assert resp.status_code == 204
        resp = http.get(f"{base}/users/{person.id}/credentials/OS-EC2/{cred['access']}")
        assert_fault(resp, 404, "Not Found")
        resp = httpx.post(f"{base}/ec2tokens", json={"credentials": signed}, timeout=60)
        assert_fault(resp, 401, "Unauthorized")
