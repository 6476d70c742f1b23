"""User messages (Block Storage API v3 "Messages", 3.3; paging, sorting and filters
3.5), issue 13: a volume no backend can take (a type whose extra specs match no
backend's capabilities, Tempest's way of making one) goes to ``error`` and leaves
Cinder's "No valid backend" message with the create's request id; the message is
listed, filtered, sorted, paged, shown and deleted through raw calls, openstacksdk and
the ``openstack volume message`` commands; another project gets 404; admins see every
project's; below 3.3 the routes do not exist (404)."""
from __future__ import annotations

import datetime as dt

import openstack
import openstack.config
import openstack.exceptions
import pytest

from tests.api.volume.conftest import assert_fault, wait_for, wait_gone, wait_status

V = "3.3"
L = "3.71"
NO_BACKEND = "schedule allocate volume:Could not find any available weighted backend."


@pytest.fixture
def bogus_type(cinder, admin, unique):
    """A public type asking for a storage protocol and vendor no backend has (as
    Tempest's test_user_messages does)."""
    resp = cinder.request(admin, "POST", "/types", json={"volume_type": {
        "name": unique("bogus"), "extra_specs": {"storage_protocol": unique("proto"),
                                                 "vendor_name": unique("vendor")}}})
    assert resp.status_code == 200, resp.text
    vtype = resp.json()["volume_type"]
    yield vtype
    cinder.request(admin, "DELETE", f"/types/{vtype['id']}")


@pytest.fixture
def failed(cinder):
    """``failed(conn, vtype)``: a volume of ``vtype`` once it is ``error`` (deleted
    afterwards) and its create's request id."""
    made = []

    def create(conn, vtype):
        resp = cinder.request(conn, "POST", "/volumes", version=L, json={"volume": {
            "size": 1, "volume_type": vtype["id"]}})
        assert resp.status_code == 202, resp.text
        vid = resp.json()["volume"]["id"]
        made.append((conn, vid))
        return wait_status(cinder, conn, "volumes", vid, "error"), \
            resp.headers["x-openstack-request-id"]
    yield create
    for conn, vid in made:
        resp = cinder.request(conn, "DELETE", f"/volumes/{vid}")
        assert resp.status_code == 202, resp.text
        wait_gone(cinder, conn, "volumes", vid)


def message_of(cinder, conn, volume_id: str, version: str = V) -> dict:
    resp = cinder.request(conn, "GET", "/messages", version=version)
    assert resp.status_code == 200, resp.text
    found = [m for m in resp.json()["messages"] if m.get("resource_uuid") == volume_id]
    assert len(found) == 1, resp.json()
    return found[0]


def test_unschedulable_volume_leaves_a_message(cinder, admin, demo, member, failed,
                                               bogus_type):
    vol, request_id = failed(member, bogus_type)
    assert vol["status"] == "error"
    msg = message_of(cinder, member, vol["id"])
    assert msg["event_id"] == "VOLUME_VOLUME_001_003"
    assert msg["user_message"] == NO_BACKEND
    assert msg["resource_type"] == "VOLUME" and msg["message_level"] == "ERROR"
    assert msg["request_id"] == request_id  # the create's, though the worker failed it
    assert set(msg) == {"id", "event_id", "user_message", "message_level", "created_at",
                        "guaranteed_until", "request_id", "links", "resource_type",
                        "resource_uuid"}
    created = dt.datetime.fromisoformat(msg["created_at"])
    until = dt.datetime.fromisoformat(msg["guaranteed_until"])
    assert until - created == dt.timedelta(seconds=2592000)  # Cinder's message_ttl
    assert msg["links"][0]["href"].endswith(f"/v3/messages/{msg['id']}")

    shown = cinder.request(member, "GET", f"/messages/{msg['id']}", version=V)
    assert shown.status_code == 200 and shown.json() == {"message": msg}
    # another project neither sees nor deletes it; admins see every project's
    assert_fault(cinder.request(demo, "GET", f"/messages/{msg['id']}", version=V),
                 404, "itemNotFound") == f"Message {msg['id']} could not be found."
    assert msg["id"] not in {m["id"] for m in cinder.request(
        demo, "GET", "/messages", version=V).json()["messages"]}
    assert_fault(cinder.request(demo, "DELETE", f"/messages/{msg['id']}", version=V),
                 404, "itemNotFound")
    assert message_of(cinder, admin, vol["id"])["id"] == msg["id"]
    admin_view = cinder.request(admin, "GET", f"/messages/{msg['id']}", version=V)
    assert admin_view.json()["message"]["id"] == msg["id"]

    resp = cinder.request(member, "DELETE", f"/messages/{msg['id']}", version=V)
    assert resp.status_code == 204, resp.text
    assert_fault(cinder.request(member, "GET", f"/messages/{msg['id']}", version=V),
                 404, "itemNotFound")
    assert_fault(cinder.request(member, "DELETE", f"/messages/{msg['id']}", version=V),
                 404, "itemNotFound")


def test_below_3_3_there_are_no_messages(cinder, member, failed, bogus_type):
    vol, _ = failed(member, bogus_type)
    msg = message_of(cinder, member, vol["id"])
    for version in ("3.0", "3.2", None):
        for method, path in (("GET", "/messages"), ("GET", f"/messages/{msg['id']}"),
                             ("DELETE", f"/messages/{msg['id']}")):
            assert_fault(cinder.request(member, method, path, version=version), 404,
                         "itemNotFound")
    assert cinder.request(member, "GET", f"/messages/{msg['id']}",
                          version=V).status_code == 200  # nothing was deleted


def test_unknown_backend_name_is_accepted_and_fails_the_volume(cinder, admin, member,
                                                                failed, unique):
    """As Cinder: the type is made; its volumes go to error with the message, count
    in the quota while they exist and can be deleted."""
    resp = cinder.request(admin, "POST", "/types", json={"volume_type": {
        "name": unique("nope"), "extra_specs": {"volume_backend_name": "nope"}}})
    assert resp.status_code == 200, resp.text
    vtype = resp.json()["volume_type"]
    try:
        vol, _ = failed(member, vtype)
        assert message_of(cinder, member, vol["id"])["user_message"] == NO_BACKEND
        usage = cinder.request(admin, "GET", f"/os-quota-sets/{member.project_id_}",
                               params={"usage": "true"}).json()["quota_set"]
        assert usage["volumes"]["in_use"] == 1
        # a retype to it is refused at once (nothing to leave a message on)
        ok = cinder.request(member, "POST", "/volumes", version=L, json={"volume": {
            "size": 1}})
        vid = ok.json()["volume"]["id"]
        wait_status(cinder, member, "volumes", vid, "available")
        assert_fault(cinder.request(member, "POST", f"/volumes/{vid}/action", json={
            "os-retype": {"new_type": vtype["id"], "migration_policy": "on-demand"}}),
            400, "badRequest")
        cinder.request(member, "DELETE", f"/volumes/{vid}")
        wait_gone(cinder, member, "volumes", vid)
    finally:
        cinder.request(admin, "DELETE", f"/types/{vtype['id']}")


def test_list_filters_sorts_and_pages(cinder, member, failed, bogus_type):
    vols = [failed(member, bogus_type)[0] for _ in range(3)]
    ids = {v["id"] for v in vols}

    def listing(params=None, version="3.5"):
        resp = cinder.request(member, "GET", "/messages", version=version, params=params)
        assert resp.status_code == 200, resp.text
        return resp.json()

    every = listing()["messages"]
    assert {m["resource_uuid"] for m in every} == ids
    newest_first = [m["id"] for m in every]
    assert [m["id"] for m in listing({"sort": "created_at:asc,id:asc"})["messages"]] \
        == [m["id"] for m in sorted(every, key=lambda m: (m["created_at"], m["id"]))]
    assert [m["id"] for m in listing({"sort_key": "id", "sort_dir": "asc"})[
        "messages"]] == sorted(newest_first)
    # filters (3.5): by resource, event, level; none matching is an empty list
    one = vols[1]["id"]
    assert [m["resource_uuid"] for m in listing({"resource_uuid": one})["messages"]] \
        == [one]
    assert len(listing({"event_id": "VOLUME_VOLUME_001_003", "message_level": "ERROR",
                        "resource_type": "VOLUME"})["messages"]) == 3
    assert listing({"event_id": "VOLUME_VOLUME_002_021"})["messages"] == []
    # pages of one, following the next links
    seen, params = [], {"limit": "1"}
    while True:
        body = listing(params)
        seen += [m["id"] for m in body["messages"]]
        links = body.get("messages_links")
        if not links:
            break
        assert links[0]["rel"] == "next"
        params = {"limit": "1", "marker": body["messages"][-1]["id"]}
    assert seen == newest_first
    assert listing({"limit": "1", "offset": "1"})["messages"][0]["id"] == newest_first[1]
    # before 3.5 the parameters are not read: every message, no links
    old = listing({"limit": "1", "resource_uuid": one}, version=V)
    assert [m["id"] for m in old["messages"]] == newest_first
    assert "messages_links" not in old
    # bad input is Cinder's 400 / marker 404
    assert_fault(cinder.request(member, "GET", "/messages", version="3.5",
                                params={"sort": "nope:asc"}), 400, "badRequest")
    assert_fault(cinder.request(member, "GET", "/messages", version="3.5",
                                params={"limit": "x"}), 400, "badRequest")
    assert assert_fault(cinder.request(member, "GET", "/messages", version="3.5",
                                       params={"marker": "nope"}), 404,
                        "itemNotFound").startswith("Marker ")


def test_sdk_and_cli(cloud, cinder, admin, member, failed, bogus_type):
    vol, _ = failed(member, bogus_type)
    msg = message_of(cinder, member, vol["id"])
    # the openstack CLI as admin: list (all projects', --project narrows), show, delete
    listed = cloud.cli("volume", "message", "list", "--os-volume-api-version", V)
    assert msg["id"] in {m["ID"] for m in listed}
    narrowed = cloud.cli("volume", "message", "list", "--os-volume-api-version", "3.5",
                         "--project", member.project_id_)
    assert [m["ID"] for m in narrowed] == [msg["id"]]
    # show answers (openstacksdk's Message reads a shown body under "messages", not
    # Cinder's "message", so the command prints empty fields against Cinder too)
    shown = cloud.cli("volume", "message", "show", "--os-volume-api-version", V,
                      msg["id"])
    assert shown["ID"] == msg["id"]
    cloud.cli("volume", "message", "delete", "--os-volume-api-version", V, msg["id"],
              parse=False)
    assert_fault(cinder.request(member, "GET", f"/messages/{msg['id']}", version=V),
                 404, "itemNotFound")
    assert cloud.cli("volume", "message", "show", "--os-volume-api-version", V,
                     msg["id"], check=False).returncode != 0
    # openstacksdk's Message resources, at 3.5
    vol, _ = failed(member, bogus_type)
    config = openstack.config.OpenStackConfig(config_files=[str(cloud.clouds_yaml)])
    sdk = openstack.connection.Connection(config=config.get_one(
        "kumo-admin", block_storage_default_microversion="3.5"))
    try:
        found = list(sdk.block_storage.messages(project_id=member.project_id_))
        assert [m.resource_uuid for m in found] == [vol["id"]]
        assert found[0].event_id == "VOLUME_VOLUME_001_003"
        assert found[0].user_message == NO_BACKEND
        sdk.block_storage.delete_message(found[0].id, ignore_missing=False)
        with pytest.raises(openstack.exceptions.NotFoundException):
            sdk.block_storage.get_message(found[0].id)
        with pytest.raises(openstack.exceptions.NotFoundException):
            sdk.block_storage.delete_message(found[0].id, ignore_missing=False)
    finally:
        sdk.close()


def _messages_about(cinder, conn, resource_id: str) -> list[dict]:
    resp = cinder.request(conn, "GET", "/messages", version="3.5",
                          params={"resource_uuid": resource_id})
    assert resp.status_code == 200, resp.text
    return resp.json()["messages"]


def test_failed_steps_leave_messages(cloud, cinder, admin, member, make):
    """A volume whose data is gone (its file removed behind Kumo's back): a snapshot,
    an extend, a backup and an upload to an image each fail in the worker and each
    leaves Cinder's message for it, with the request's id."""
    vol = make(member, "volumes", {"size": 1})
    path = cloud.state_dir / "volumes" / "file-1" / f"volume-{vol['id']}"
    path.unlink()

    resp = cinder.request(member, "POST", "/snapshots", version=L,
                          json={"snapshot": {"volume_id": vol["id"]}})
    assert resp.status_code == 202, resp.text
    snap = resp.json()["snapshot"]
    wait_status(cinder, member, "snapshots", snap["id"], "error")
    [msg] = _messages_about(cinder, member, snap["id"])
    assert (msg["event_id"], msg["resource_type"], msg["user_message"]) == (
        "VOLUME_VOLUME_SNAPSHOT_009_013", "VOLUME_SNAPSHOT",
        "create snapshot:Snapshot failed to create.")
    assert msg["request_id"] == resp.headers["x-openstack-request-id"]
    assert cinder.request(member, "DELETE", f"/snapshots/{snap['id']}").status_code == 202
    wait_gone(cinder, member, "snapshots", snap["id"])

    resp = cinder.request(member, "POST", f"/volumes/{vol['id']}/action", version=L,
                          json={"os-extend": {"new_size": 2}})
    assert resp.status_code == 202, resp.text
    wait_status(cinder, member, "volumes", vol["id"], "error_extending")
    [msg] = _messages_about(cinder, member, vol["id"])
    assert (msg["event_id"], msg["user_message"]) == (
        "VOLUME_VOLUME_007_010", "extend volume:Volume Driver failed to extend volume.")
    resp = cinder.request(admin, "POST", f"/volumes/{vol['id']}/action",
                          json={"os-reset_status": {"status": "available"}})
    assert resp.status_code == 202, resp.text

    resp = cinder.request(member, "POST", "/backups", version=L,
                          json={"backup": {"volume_id": vol["id"]}})
    assert resp.status_code == 202, resp.text
    backup = resp.json()["backup"]
    wait_status(cinder, member, "backups", backup["id"], "error")
    [msg] = _messages_about(cinder, member, backup["id"])
    assert (msg["event_id"], msg["resource_type"], msg["user_message"]) == (
        "VOLUME_VOLUME_BACKUP_013_020", "VOLUME_BACKUP",
        "create backup:Backup driver failed to create backup.")
    assert cinder.request(member, "DELETE", f"/backups/{backup['id']}").status_code == 202
    wait_gone(cinder, member, "backups", backup["id"])

    resp = cinder.request(member, "POST", f"/volumes/{vol['id']}/action", version=L,
                          json={"os-volume_upload_image": {"image_name": "gone"}})
    assert resp.status_code == 202, resp.text
    image_id = resp.json()["os-volume_upload_image"]["image_id"]
    found = wait_for(lambda: [m for m in _messages_about(cinder, member, vol["id"])
                              if m["event_id"] == "VOLUME_VOLUME_003_004"])
    assert found and found[0]["user_message"] == \
        "copy volume to image:Failed to upload volume to image at backend."
    wait_status(cinder, member, "volumes", vol["id"], "available")
    assert wait_for(lambda: member.image.find_image(image_id) is None)


def test_image_that_cannot_be_copied(cloud, cinder, admin, member, unique):
    """An image claiming a root filesystem tarball that is not one: the volume made
    from it ends in error with Cinder's copy-image-to-volume message."""
    glance = cloud.url + "/image/v2"
    image = admin.session.post(glance + "/images", json={
        "name": unique("notatar"), "disk_format": "raw", "container_format": "bare",
        "visibility": "public", "kumo_rootfs": "tar"}).json()
    try:
        admin.session.put(glance + f"/images/{image['id']}/file", data=b"not a tar" * 99,
                          headers={"Content-Type": "application/octet-stream"})
        resp = cinder.request(member, "POST", "/volumes", version=L, json={"volume": {
            "size": 1, "imageRef": image["id"]}})
        assert resp.status_code == 202, resp.text
        vid = resp.json()["volume"]["id"]
        wait_status(cinder, member, "volumes", vid, "error")
        [msg] = _messages_about(cinder, member, vid)
        assert (msg["event_id"], msg["user_message"]) == (
            "VOLUME_VOLUME_005_001", "copy image to volume:An unknown error occurred.")
        assert msg["request_id"] == resp.headers["x-openstack-request-id"]
        assert cinder.request(member, "DELETE", f"/volumes/{vid}").status_code == 202
        wait_gone(cinder, member, "volumes", vid)
    finally:
        admin.session.delete(glance + f"/images/{image['id']}")


def test_type_asking_for_what_a_pool_reports_is_placed_there(cinder, admin, member,
                                                             make, unique):
    """The pools' capabilities are what types' extra specs are matched against."""
    pools = cinder.request(admin, "GET", "/scheduler-stats/get_pools",
                           params={"detail": "true"}).json()["pools"]
    caps = next(p["capabilities"] for p in pools
                if p["capabilities"]["volume_backend_name"] == "file-2")
    resp = cinder.request(admin, "POST", "/types", json={"volume_type": {
        "name": unique("placed"), "extra_specs": {
            "storage_protocol": caps["storage_protocol"],
            "vendor_name": caps["vendor_name"],
            "capabilities:volume_backend_name": "file-2",
            "thin_provisioning_support": "<is> True",
            "driver_version": f">= {caps['driver_version']}"}}})
    assert resp.status_code == 200, resp.text
    vtype, vol = resp.json()["volume_type"], None
    try:
        vol = make(member, "volumes", {"size": 1, "volume_type": vtype["id"]})
        shown = cinder.request(admin, "GET", f"/volumes/{vol['id']}").json()["volume"]
        assert shown["os-vol-host-attr:host"].endswith("@file-2#file-2")
        assert _messages_about(cinder, member, vol["id"]) == []
    finally:
        if vol is not None:
            cinder.request(admin, "DELETE", f"/volumes/{vol['id']}")
            wait_gone(cinder, admin, "volumes", vol["id"])
        cinder.request(admin, "DELETE", f"/types/{vtype['id']}")
