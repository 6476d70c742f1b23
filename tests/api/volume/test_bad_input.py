"""Bad input to the Block Storage API: Cinder's 400/404/409/413 fault bodies, and
nothing made or changed (no row, no file on the backend)."""
from __future__ import annotations

import pytest

from tests.api.volume.conftest import assert_fault, wait_status


def _state(cinder, conn, cloud):
    vols = cinder.request(conn, "GET", "/volumes").json()["volumes"]
    files = sorted(p.name for p in (cloud.state_dir / "volumes").rglob("volume-*"))
    return sorted(v["id"] for v in vols), files


@pytest.mark.parametrize("body", [
    {"size": 0}, {"size": -1}, {"size": "abc"}, {"size": 1.5}, {"size": 2 ** 31},
    {"size": None}, {}, {"size": 1, "name": "x" * 256},
    {"size": 1, "metadata": {"k": 1}}, {"size": 1, "volume_type": "no-such-type"},
    {"size": 1, "availability_zone": "elsewhere"},
    {"size": 1, "snapshot_id": "00000000-0000-0000-0000-000000000000"},
    {"size": 1, "source_volid": "00000000-0000-0000-0000-000000000000"},
    {"size": 1, "imageRef": "00000000-0000-0000-0000-000000000000"},
])
def test_create_refused_changes_nothing(member, cinder, cloud, body):
    before = _state(cinder, member, cloud)
    resp = cinder.request(member, "POST", "/volumes", json={"volume": body})
    status = 404 if body.get("volume_type") or body.get("snapshot_id") or \
        body.get("source_volid") else 400
    assert_fault(resp, status, "badRequest" if status == 400 else "itemNotFound")
    assert _state(cinder, member, cloud) == before


def test_malformed_bodies(member, cinder):
    for raw in (b"{", b"[]", b'{"volume": 3}', b'"x"'):
        assert_fault(cinder.request(member, "POST", "/volumes", raw=raw), 400,
                     "badRequest")


def test_image_smaller_than_min_disk(member, cinder, image_id, admin):
    image = admin.image.get_image(image_id)
    admin.image.update_image(image, min_disk=2)
    try:
        msg = assert_fault(cinder.request(member, "POST", "/volumes", json={
            "volume": {"size": 1, "imageRef": image_id}}), 400, "badRequest")
        assert "minDisk" in msg
    finally:
        admin.image.update_image(image, min_disk=1)


def test_quota_and_capacity(member, admin, cinder, cloud):
    project = member.project_id_
    resp = cinder.request(admin, "PUT", f"/os-quota-sets/{project}",
                          json={"quota_set": {"volumes": 1, "gigabytes": 3}})
    assert resp.status_code == 200, resp.text
    before = _state(cinder, member, cloud)
    msg = assert_fault(cinder.request(member, "POST", "/volumes", json={
        "volume": {"size": 4}}), 413, "overLimit")
    assert "gigabytes" in msg
    assert _state(cinder, member, cloud) == before
    ok = cinder.request(member, "POST", "/volumes", json={"volume": {"size": 1}})
    assert ok.status_code == 202
    vid = ok.json()["volume"]["id"]
    msg = assert_fault(cinder.request(member, "POST", "/volumes", json={
        "volume": {"size": 1}}), 413, "overLimit")
    assert "Maximum number of volumes allowed (1)" in msg
    # lowering a quota under what is used is a 400
    assert_fault(cinder.request(admin, "PUT", f"/os-quota-sets/{project}",
                                json={"quota_set": {"volumes": 0}}), 400, "badRequest")
    assert_fault(cinder.request(admin, "PUT", f"/os-quota-sets/{project}",
                                json={"quota_set": {"bogus": 1}}), 400, "badRequest")
    # past the backend's capacity (1000 GiB by default): 400, nothing allocated
    cinder.request(admin, "PUT", f"/os-quota-sets/{project}",
                   json={"quota_set": {"volumes": -1, "gigabytes": -1}})
    before = _state(cinder, member, cloud)
    msg = assert_fault(cinder.request(member, "POST", "/volumes", json={
        "volume": {"size": 5000}}), 400, "badRequest")
    assert "No valid backend" in msg
    assert _state(cinder, member, cloud) == before
    wait_status(cinder, member, "volumes", vid, "available")
    # extend: not larger (400), past quota (413); the volume is unchanged
    cinder.request(admin, "PUT", f"/os-quota-sets/{project}",
                   json={"quota_set": {"gigabytes": 2}})
    act = f"/volumes/{vid}/action"
    assert_fault(cinder.request(member, "POST", act, json={"os-extend": {"new_size": 1}}),
                 400, "badRequest")
    assert_fault(cinder.request(member, "POST", act, json={"os-extend": {"new_size": 3}}),
                 413, "overLimit")
    assert_fault(cinder.request(member, "POST", act, json={"os-extend": {"new_size": 0}}),
                 400, "badRequest")
    body = cinder.request(member, "GET", f"/volumes/{vid}").json()["volume"]
    assert body["size"] == 1 and body["status"] == "available"
    # limits show the quotas and usage
    limits = cinder.request(member, "GET", "/limits").json()["limits"]["absolute"]
    assert limits["maxTotalVolumeGigabytes"] == 2 and limits["totalGigabytesUsed"] == 1
    assert limits["totalVolumesUsed"] == 1
    usage = cinder.request(member, "GET", f"/os-quota-sets/{project}",
                           params={"usage": "true"}).json()["quota_set"]
    assert usage["volumes"]["in_use"] == 1 and usage["gigabytes"]["limit"] == 2
    cinder.request(member, "DELETE", f"/volumes/{vid}")


def test_in_use_volume_cannot_be_deleted(member, admin, cinder, make):
    vol = make(member, "volumes", {"size": 1})
    cinder.request(admin, "POST", f"/volumes/{vol['id']}/action", json={
        "os-reset_status": {"status": "in-use"}})
    msg = assert_fault(cinder.request(member, "DELETE", f"/volumes/{vol['id']}"), 400,
                       "badRequest")
    assert msg.startswith("Invalid volume: Volume status must be available")
    assert cinder.request(member, "GET", f"/volumes/{vol['id']}").json()["volume"][
        "status"] == "in-use"
    # a snapshot of an in-use volume needs force
    assert_fault(cinder.request(member, "POST", "/snapshots", json={
        "snapshot": {"volume_id": vol["id"]}}), 400, "badRequest")
    # a backup of it too
    assert_fault(cinder.request(member, "POST", "/backups", json={
        "backup": {"volume_id": vol["id"]}}), 400, "badRequest")


def test_not_found_everywhere(member, cinder):
    missing = "00000000-0000-0000-0000-000000000000"
    for method, path in (("GET", f"/volumes/{missing}"), ("PUT", f"/volumes/{missing}"),
                         ("DELETE", f"/volumes/{missing}"),
                         ("GET", f"/snapshots/{missing}"), ("GET", f"/backups/{missing}"),
                         ("GET", f"/types/{missing}"),
                         ("POST", f"/volumes/{missing}/action")):
        body = {"volume": {"name": "x"}} if method == "PUT" else (
            {"os-extend": {"new_size": 2}} if method == "POST" else None)
        assert_fault(cinder.request(member, method, path, json=body), 404, "itemNotFound")


def test_quota_classes_and_cli_quota(cloud, cinder, admin, member, demo):
    shown = cinder.request(admin, "GET", "/os-quota-class-sets/default").json()
    assert shown["quota_class_set"]["volumes"] == 10
    resp = cinder.request(admin, "PUT", "/os-quota-class-sets/default",
                          json={"quota_class_set": {"backups": 12}})
    assert resp.status_code == 200 and resp.json()["quota_class_set"]["backups"] == 12
    try:
        defaults = cinder.request(member, "GET",
                                  f"/os-quota-sets/{member.project_id_}/defaults").json()
        assert defaults["quota_set"]["backups"] == 12
        limits = cinder.request(member, "GET", "/limits").json()["limits"]["absolute"]
        assert limits["maxTotalBackups"] == 12
    finally:
        cinder.request(admin, "PUT", "/os-quota-class-sets/default",
                       json={"quota_class_set": {"backups": 10}})
    assert_fault(cinder.request(demo, "PUT", "/os-quota-class-sets/default",
                                json={"quota_class_set": {"backups": 1}}), 403,
                 "forbidden")
    assert_fault(cinder.request(admin, "PUT", "/os-quota-class-sets/default",
                                json={"quota_class_set": {"backups": -2}}), 400,
                 "badRequest")
    # the openstack CLI's volume quota view
    cloud.cli("quota", "set", "--volumes", "7", member.project_id_, parse=False)
    shown = cloud.cli("quota", "show", "--volume", member.project_id_)
    got = {row["Resource"]: row["Limit"] for row in shown} if isinstance(shown, list) \
        else shown
    assert got.get("volumes") == 7, shown
