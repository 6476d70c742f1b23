"""Attachment robustness (issue 13): a v3 API attachment waits for ``os-complete``
even when the server's agent maps it (only Nova's flow completes on the agent's
report), and Nova's swap (``PUT os-volume_attachments/{volume}``, admins) copies the
old volume's data into the new one before switching. The servers run on the fake
compute hosts (their agents report what the feed gives them); volumes are files of the
``file`` backends, so the copied bytes are read back from the new volume's file."""
from __future__ import annotations

import os

from tests.api.volume.conftest import assert_fault, wait_for, wait_status
from tests.api.volume.test_server_volumes import nova, server  # noqa: F401 (fixtures)

MARKER = b"kumo-swap-marker-13"


def volume_file(cloud, cinder, admin, vid: str):
    """The backend file of volume ``vid`` (its ``os-vol-host-attr:host`` names the
    backend: ``host@backend#pool``)."""
    body = cinder.request(admin, "GET", f"/volumes/{vid}").json()["volume"]
    backend = body["os-vol-host-attr:host"].partition("@")[2].partition("#")[0]
    return cloud.state_dir / "volumes" / backend / f"volume-{vid}"


def test_v3_attachment_waits_for_os_complete(nova, cinder, demo, server, make):  # noqa: F811
    sid = server()
    api_vol = make(demo, "volumes", {"size": 1})
    nova_vol = make(demo, "volumes", {"size": 1})
    resp = cinder.request(demo, "POST", "/attachments", json={"attachment": {
        "volume_id": api_vol["id"], "instance_uuid": sid,
        "connector": {"host": "fake-0", "mountpoint": "/dev/vdc"}}}, version="3.44")
    assert resp.status_code == 200, resp.text
    att = resp.json()["attachment"]
    assert att["status"] == "attaching"
    # Nova's attach of another volume completes on the agent's report ...
    resp = nova.request(demo, "POST", f"/servers/{sid}/os-volume_attachments",
                        json={"volumeAttachment": {"volumeId": nova_vol["id"],
                                                   "device": "/dev/vdb"}})
    assert resp.status_code == 200, resp.text
    wait_status(cinder, demo, "volumes", nova_vol["id"], "in-use")
    # ... which came after the v3 attachment was in the feed: it is still attaching
    shown = cinder.request(demo, "GET", f"/attachments/{att['id']}",
                           version="3.44").json()["attachment"]
    assert shown["status"] == "attaching", shown
    assert cinder.request(demo, "GET", f"/volumes/{api_vol['id']}").json()["volume"][
        "status"] == "attaching"
    assert cinder.request(demo, "POST", f"/attachments/{att['id']}/action",
                          json={"os-complete": None}, version="3.44").status_code == 204
    wait_status(cinder, demo, "volumes", api_vol["id"], "in-use")
    assert cinder.request(demo, "DELETE", f"/attachments/{att['id']}",
                          version="3.44").status_code == 200
    wait_status(cinder, demo, "volumes", api_vol["id"], "available")
    nova.request(demo, "DELETE", f"/servers/{sid}/os-volume_attachments/{nova_vol['id']}")
    wait_status(cinder, demo, "volumes", nova_vol["id"], "available")


def test_swap_copies_the_data(cloud, nova, cinder, admin, demo, server, make):  # noqa: F811
    sid = server()
    old = make(demo, "volumes", {"size": 1})
    new = make(demo, "volumes", {"size": 2, "volume_type": "file-2"})
    base = f"/servers/{sid}/os-volume_attachments"
    resp = nova.request(demo, "POST", base, json={"volumeAttachment": {
        "volumeId": old["id"], "delete_on_termination": False}}, version="2.79")
    assert resp.status_code == 200, resp.text
    wait_status(cinder, demo, "volumes", old["id"], "in-use")
    old_file = volume_file(cloud, cinder, admin, old["id"])
    with old_file.open("r+b") as f:  # data at the start and past a hole
        f.write(MARKER)
        f.seek(700 << 20)
        f.write(MARKER)

    # not for members; a volume in use or missing is refused, nothing changes
    assert nova.request(demo, "PUT", f"{base}/{old['id']}", json={"volumeAttachment": {
        "volumeId": new["id"]}}).status_code == 403
    assert_fault(nova.request(admin, "PUT", f"{base}/{old['id']}", json={
        "volumeAttachment": {"volumeId": old["id"]}}), 400, "badRequest")
    assert_fault(nova.request(admin, "PUT", f"{base}/{old['id']}", json={
        "volumeAttachment": {"volumeId": "00000000-0000-0000-0000-000000000000"}}),
        404, "itemNotFound")
    # smaller than the old volume: 400 (the copy could not fit)
    smaller = make(demo, "volumes", {"size": 1})
    cinder.request(demo, "POST", f"/volumes/{old['id']}/action",
                   json={"os-extend": {"new_size": 2}}, version="3.42")
    wait_for(lambda: cinder.request(demo, "GET", f"/volumes/{old['id']}").json()[
        "volume"]["size"] == 2)
    wait_status(cinder, demo, "volumes", old["id"], "in-use")
    msg = assert_fault(nova.request(admin, "PUT", f"{base}/{old['id']}", json={
        "volumeAttachment": {"volumeId": smaller["id"]}}), 400, "badRequest")
    assert "smaller" in msg, msg
    assert cinder.request(demo, "GET", f"/volumes/{smaller['id']}").json()["volume"][
        "status"] == "available"

    resp = nova.request(admin, "PUT", f"{base}/{old['id']}", json={"volumeAttachment": {
        "volumeId": new["id"]}})
    assert resp.status_code == 202, resp.text
    wait_status(cinder, demo, "volumes", new["id"], "in-use")
    wait_status(cinder, demo, "volumes", old["id"], "available")
    listed = nova.request(demo, "GET", base).json()["volumeAttachments"]
    assert [(a["volumeId"], a["device"]) for a in listed] == [(new["id"], "/dev/vdb")]
    new_file = volume_file(cloud, cinder, admin, new["id"])
    assert new_file.parent.name == "file-2"
    assert new_file.stat().st_size == 2 << 30  # the new volume keeps its size
    with new_file.open("rb") as f:
        assert f.read(len(MARKER)) == MARKER
        f.seek(700 << 20)
        assert f.read(len(MARKER)) == MARKER
    # the copy kept the hole a hole (sparse)
    assert new_file.stat().st_blocks * 512 < (64 << 20)
    assert os.path.exists(old_file)  # the old volume keeps its data
    nova.request(demo, "DELETE", f"{base}/{new['id']}")
    wait_status(cinder, demo, "volumes", new["id"], "available")
