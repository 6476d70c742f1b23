"""Volume type encryption (Block Storage API v3 "Volume type encryption"), issue 13:
admins create, show, update and delete a type's spec with raw calls, openstacksdk and
the CLI; Cinder's validation (``provider`` required, ``control_location``
front-end|back-end, ``key_size``), 404 for an unknown type, 403 for members, 400 for
a type in use. Kumo encrypts nothing, so a volume of an encrypted type is refused
with a 400 that says so, and nothing is made."""
from __future__ import annotations

import pytest

from tests.api.volume.conftest import assert_fault

NO_TYPE = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def vtype(cinder, admin, unique):
    t = cinder.request(admin, "POST", "/types", json={"volume_type": {
        "name": unique("enc"), "extra_specs": {"volume_backend_name": "file-1"}}}
    ).json()["volume_type"]
    yield t
    cinder.request(admin, "DELETE", f"/types/{t['id']}")


def test_encryption_raw(cinder, admin, demo, vtype):
    base = f"/types/{vtype['id']}/encryption"
    assert cinder.request(admin, "GET", base).json() == {}
    assert_fault(cinder.request(admin, "GET", f"/types/{NO_TYPE}/encryption"), 404,
                 "itemNotFound")
    good = {"provider": "luks", "control_location": "front-end",
            "cipher": "aes-xts-plain64", "key_size": 256}
    for bad in ({"control_location": "front-end"}, {"provider": "luks"},
                {**good, "control_location": "middle"},
                {**good, "key_size": -1}, {**good, "key_size": "big"},
                {**good, "bogus": 1}):
        assert_fault(cinder.request(admin, "POST", base, json={"encryption": bad}), 400,
                     "badRequest")
    assert_fault(cinder.request(admin, "POST", f"/types/{NO_TYPE}/encryption", json={
        "encryption": good}), 404, "itemNotFound")
    assert cinder.request(demo, "POST", base, json={"encryption": good}).status_code \
        == 403
    assert cinder.request(admin, "GET", base).json() == {}  # nothing changed

    resp = cinder.request(admin, "POST", base, json={"encryption": good})
    assert resp.status_code == 200, resp.text
    shown = cinder.request(admin, "GET", base).json()
    assert {k: shown[k] for k in good} == good
    assert shown["volume_type_id"] == vtype["id"] and shown["encryption_id"]
    # the create answer is the body given plus the two ids (Tempest's schema)
    assert resp.json() == {"encryption": {**good, "volume_type_id": vtype["id"],
                                          "encryption_id": shown["encryption_id"]}}
    assert cinder.request(demo, "GET", base).status_code == 403
    assert cinder.request(admin, "GET", f"{base}/cipher").json() == {
        "cipher": "aes-xts-plain64"}
    assert_fault(cinder.request(admin, "GET", f"{base}/bogus"), 404, "itemNotFound")
    assert_fault(cinder.request(admin, "POST", base, json={"encryption": good}), 400,
                 "badRequest")  # exists already

    # no volume of an encrypted type: Kumo does not encrypt, and says so
    before = {v["id"] for v in cinder.request(admin, "GET", "/volumes").json()["volumes"]}
    msg = assert_fault(cinder.request(admin, "POST", "/volumes", json={"volume": {
        "size": 1, "volume_type": vtype["id"]}}), 400, "badRequest")
    assert "does not encrypt" in msg
    assert {v["id"] for v in cinder.request(admin, "GET", "/volumes").json()[
        "volumes"]} == before

    eid = shown["encryption_id"]
    resp = cinder.request(admin, "PUT", f"{base}/{eid}", json={"encryption": {
        "key_size": 512, "control_location": "back-end"}})
    assert resp.status_code == 200, resp.text
    shown = cinder.request(admin, "GET", base).json()
    assert (shown["key_size"], shown["control_location"], shown["provider"]) == (
        512, "back-end", "luks")
    assert_fault(cinder.request(admin, "PUT", f"{base}/{eid}", json={"encryption": {
        "control_location": "nowhere"}}), 400, "badRequest")
    assert_fault(cinder.request(admin, "PUT", f"{base}/{eid}", json={"encryption": {
        "bogus": 1}}), 400, "badRequest")
    assert cinder.request(admin, "PUT", f"{base}/{eid}", json={"encryption": {}}
                          ).status_code == 200  # nothing to change, as Cinder
    assert cinder.request(admin, "GET", base).json()["key_size"] == 512
    assert cinder.request(demo, "DELETE", f"{base}/{eid}").status_code == 403
    assert cinder.request(admin, "DELETE", f"{base}/{eid}").status_code == 202
    assert cinder.request(admin, "GET", base).json() == {}
    assert_fault(cinder.request(admin, "DELETE", f"{base}/{eid}"), 404, "itemNotFound")
    assert_fault(cinder.request(admin, "PUT", f"{base}/{eid}", json={"encryption": {
        "key_size": 128}}), 404, "itemNotFound")


def test_encryption_of_a_type_in_use(cinder, admin, make, vtype):
    vol = make(admin, "volumes", {"size": 1, "volume_type": vtype["id"]})
    assert vol["encrypted"] is False
    base = f"/types/{vtype['id']}/encryption"
    spec = {"provider": "luks", "control_location": "front-end"}
    for method, path, body in (("POST", base, {"encryption": spec}),
                               ("PUT", f"{base}/x", {"encryption": spec}),
                               ("DELETE", f"{base}/x", None)):
        msg = assert_fault(cinder.request(admin, method, path, json=body), 400,
                           "badRequest")
        assert "in use" in msg
    assert cinder.request(admin, "GET", base).json() == {}


def test_encryption_sdk_and_cli(cloud, cinder, admin, unique):
    bs = admin.block_storage
    t = bs.create_type(name=unique("enc"))
    try:
        enc = bs.create_type_encryption(t, provider="luks", cipher=None, key_size=None,
                                        control_location="front-end")
        assert enc.provider == "luks"
        got = bs.get_type_encryption(t.id)
        assert got.provider == "luks" and got.control_location == "front-end"
        assert got.encryption_id
        bs.update_type_encryption(volume_type=t, cipher="aes-xts-plain64")
        assert bs.get_type_encryption(t.id).cipher == "aes-xts-plain64"
        bs.delete_type_encryption(volume_type=t)
        assert cinder.request(admin, "GET", f"/types/{t.id}/encryption").json() == {}
    finally:
        bs.delete_type(t)

    name = unique("enc")
    made = cloud.cli("volume", "type", "create", "--encryption-provider", "luks",
                     "--encryption-control-location", "front-end",
                     "--encryption-key-size", "256", name)
    try:
        assert "luks" in str(made["encryption"])
        shown = cloud.cli("volume", "type", "show", "--encryption-type", name)
        assert "luks" in str(shown["encryption"]) and "256" in str(shown["encryption"])
        cloud.cli("volume", "type", "set", "--encryption-cipher", "aes-xts-plain64",
                  name, parse=False)
        shown = cloud.cli("volume", "type", "show", "--encryption-type", name)
        assert "aes-xts-plain64" in str(shown["encryption"])
        # the CLI's volume create of an encrypted type fails with Kumo's reason
        out = cloud.cli("volume", "create", "--size", "1", "--type", name, "v",
                        check=False, parse=False)
        assert out.returncode != 0 and "does not encrypt" in out.stderr + out.stdout
        cloud.cli("volume", "type", "unset", "--encryption-type", name, parse=False)
        shown = cloud.cli("volume", "type", "show", "--encryption-type", name)
        assert not shown.get("encryption")
    finally:
        cloud.cli("volume", "type", "delete", name, parse=False)
