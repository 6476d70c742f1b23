"""Nova's ``os-assisted-volume-snapshots`` (Compute API "Assisted Volume Snapshots"):
the 200 body and the 204, Nova's 400s (schema, a volume attached to no server, to
several, a server with no host, ``delete_info``), the policy (admin or service; a
member is 403), Tempest's path (a random snapshot id: nothing changes, a warning is
logged) and a real Block Storage snapshot in ``creating``/``deleting`` taken through
the volume's backend."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.api.compute.conftest import assert_fault, wait_for, wait_status
from tests.api.volume.conftest import Cinder, make  # noqa: F401  (fixture)
from tests.api.volume.conftest import wait_gone, wait_status as cinder_status

BASE = "/os-assisted-volume-snapshots"


@pytest.fixture(scope="session")
def cinder(cloud) -> Cinder:
    return Cinder(cloud.url + "/volume/v3")


@pytest.fixture(scope="module")
def service(cloud):
    """A connection as Kumo's service user (role ``service`` only, no admin)."""
    conn = cloud.connect("kumo-agent")
    yield conn
    conn.close()


def create_body(volume_id: str, snapshot_id: str, **extra) -> dict:
    return {"snapshot": {"volume_id": volume_id, "create_info": {
        "snapshot_id": snapshot_id, "type": "qcow2", "new_file": "new_file", **extra}}}


def delete(nova, conn, snapshot_id: str, volume_id: str | None = None, version=None,
           **params):
    if volume_id is not None:
        params["delete_info"] = json.dumps({"volume_id": volume_id})
    return nova.request(conn, "DELETE", f"{BASE}/{snapshot_id}", params=params,
                        version=version)


def attached(nova, cinder, demo, make, sid: str, **volume) -> dict:  # noqa: F811
    vol = make(demo, "volumes", {"size": 1, **volume})
    resp = nova.request(demo, "POST", f"/servers/{sid}/os-volume_attachments",
                        json={"volumeAttachment": {"volumeId": vol["id"]}})
    assert resp.status_code == 200, resp.text
    return cinder_status(cinder, demo, "volumes", vol["id"], "in-use")


def test_tempest_path_shapes_policy_and_errors(cloud, nova, cinder, admin, demo, service,
                                               boot, make):  # noqa: F811
    """Tempest's test_volume_assisted_snapshot_create_delete (a random snapshot id),
    then what else Nova answers."""
    sid = boot("avs-1")["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    vol = attached(nova, cinder, demo, make, sid)
    vid, random_id = vol["id"], str(uuid.uuid4())
    for conn in (service, admin):
        resp = nova.request(conn, "POST", BASE, json=create_body(vid, random_id))
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"snapshot": {"id": None, "volumeId": vid}}
    resp = nova.request(service, "POST", BASE, json=create_body(vid, random_id, id="x1"))
    assert resp.json() == {"snapshot": {"id": "x1", "volumeId": vid}}
    for conn in (service, admin):  # Tempest deletes the reply's id: None
        resp = delete(nova, conn, "None", vid)
        assert resp.status_code == 204, resp.text
        assert resp.content == b""
    # no such Block Storage snapshot: nothing changed, a warning says so
    assert random_id in cloud.log.read_text()
    assert cinder.request(admin, "GET", f"/volumes/{vid}").json()["volume"][
        "status"] == "in-use"
    # a member (of the volume's own project) may not call it
    assert_fault(nova.request(demo, "POST", BASE, json=create_body(vid, random_id)),
                 403, "forbidden")
    assert_fault(delete(nova, demo, random_id, vid), 403, "forbidden")

    # Nova's schema
    for bad in ({}, {"snapshot": {"volume_id": vid}},
                {"snapshot": {"volume_id": vid, "create_info": {}}},
                create_body(vid, random_id, type="raw"),
                create_body(vid, ""), create_body("", random_id),
                create_body(vid, random_id, extra="x"),
                {**create_body(vid, random_id), "x": 1}):
        assert_fault(nova.request(service, "POST", BASE, json=bad), 400, "badRequest")
    # a volume attached to no server: Nova's VolumeBDMNotFound words
    free = make(demo, "volumes", {"size": 1})["id"]
    msg = assert_fault(nova.request(service, "POST", BASE,
                                    json=create_body(free, random_id)), 400, "badRequest")
    assert msg == f"No volume Block Device Mapping with id {free}."
    msg = assert_fault(delete(nova, service, random_id, free), 400, "badRequest")
    assert msg == f"No volume Block Device Mapping with id {free}."
    # delete_info: missing, not JSON, without volume_id
    assert "delete_info" in assert_fault(delete(nova, service, random_id), 400,
                                         "badRequest")
    for info in ("{not json", "[]", json.dumps({"id": vid}), json.dumps({"volume_id": 1})):
        assert_fault(delete(nova, service, random_id, delete_info=info), 400,
                     "badRequest")
    # another query parameter: ignored before 2.75, a 400 from 2.75
    assert delete(nova, service, random_id, vid, "2.74", foo="1").status_code == 204
    msg = assert_fault(delete(nova, service, random_id, vid, "2.75", foo="1"), 400,
                       "badRequest")
    assert msg == "Additional properties are not allowed ('foo' was unexpected)"

    # a multiattach volume attached to two servers
    other = boot("avs-2")["id"]
    wait_status(nova, demo, other, "ACTIVE")
    multi = make(demo, "volumes", {"size": 1, "multiattach": True})["id"]
    for server_id in (sid, other):
        resp = nova.request(demo, "POST", f"/servers/{server_id}/os-volume_attachments",
                            json={"volumeAttachment": {"volumeId": multi}})
        assert resp.status_code == 200, resp.text
    msg = assert_fault(nova.request(service, "POST", BASE,
                                    json=create_body(multi, random_id)), 400, "badRequest")
    assert msg == (f"Block Device Mapping {multi} is a multi-attach volume and is not "
                   "valid for this operation.")


def test_server_without_host_is_400(nova, cinder, demo, service, boot, make):  # noqa: F811
    sid = boot("avs-shelved")["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    demo.compute.shelve_server(sid)
    wait_status(nova, demo, sid, "SHELVED_OFFLOADED")
    vol = attached(nova, cinder, demo, make, sid)  # at once: the server has no host
    msg = assert_fault(nova.request(service, "POST", BASE,
                                    json=create_body(vol["id"], str(uuid.uuid4()))),
                       400, "badRequest")
    assert msg == f"Instance {sid} is not ready"
    assert_fault(delete(nova, service, "x", vol["id"]), 400, "badRequest")


def _backend_dir(cloud, admin, cinder, vid: str) -> Path:
    host = cinder.request(admin, "GET", f"/volumes/{vid}").json()["volume"][
        "os-vol-host-attr:host"]
    return cloud.state_dir / "volumes" / host.partition("@")[2].partition("#")[0]


def _reset(cinder, admin, snap_id: str, status: str) -> None:
    resp = cinder.request(admin, "POST", f"/snapshots/{snap_id}/action",
                          json={"os-reset_status": {"status": status}})
    assert resp.status_code == 202, resp.text


def test_creating_snapshot_is_taken_then_deleted(cloud, nova, cinder, admin, demo,
                                                 service, boot, make):  # noqa: F811
    """A Block Storage snapshot in ``creating`` (as a remotefs driver leaves it while
    it waits for Nova) is copied by the volume's backend and becomes ``available``;
    one in ``deleting`` is removed with its data; a failed copy is ``error``."""
    sid = boot("avs-real")["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    vid = attached(nova, cinder, demo, make, sid)["id"]
    backend = _backend_dir(cloud, admin, cinder, vid)
    snap = make(demo, "snapshots", {"volume_id": vid, "force": True})
    data = backend / f"snapshot-{snap['id']}"
    assert data.exists()
    _reset(cinder, admin, snap["id"], "creating")
    data.unlink()
    resp = nova.request(service, "POST", BASE, json=create_body(vid, snap["id"],
                                                                id=snap["id"]))
    assert resp.json() == {"snapshot": {"id": snap["id"], "volumeId": vid}}
    body = cinder_status(cinder, demo, "snapshots", snap["id"], "available")
    assert body["os-extended-snapshot-attributes:progress"] == "100%"
    assert data.exists()  # the backend copied the volume again

    # another volume's id in delete_info: the snapshot is not that volume's
    _reset(cinder, admin, snap["id"], "deleting")
    other = attached(nova, cinder, demo, make, sid)["id"]
    assert delete(nova, service, snap["id"], other).status_code == 204
    assert cinder.request(demo, "GET", f"/snapshots/{snap['id']}").json()[
        "snapshot"]["status"] == "deleting"
    assert delete(nova, service, snap["id"], vid).status_code == 204
    wait_gone(cinder, demo, "snapshots", snap["id"])
    assert not data.exists()

    # the backend cannot copy (the volume's data is away): error
    snap = make(demo, "snapshots", {"volume_id": vid, "force": True})
    _reset(cinder, admin, snap["id"], "creating")
    volume_file = backend / f"volume-{vid}"
    away = volume_file.with_name(volume_file.name + ".away")
    volume_file.rename(away)
    try:
        assert nova.request(service, "POST", BASE, json=create_body(
            vid, snap["id"])).status_code == 200
        cinder_status(cinder, demo, "snapshots", snap["id"], "error")
    finally:
        away.rename(volume_file)
    assert wait_for(lambda: [m for m in cinder.request(
        demo, "GET", "/messages", version="3.3").json()["messages"]
        if m["resource_uuid"] == snap["id"]])  # the user sees why
