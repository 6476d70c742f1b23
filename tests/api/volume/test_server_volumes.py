"""The compute side: ``os-volume_attachments`` on servers (attach, list, show, detach,
swap), ``os-extended-volumes:volumes_attached`` in server show, the volume's status
following, ``delete_on_termination`` when the server goes, and the v3 attachments
API. The servers run on the fake compute hosts: the attachment is bookkeeping, no
block device appears in a guest."""
from __future__ import annotations

import pytest

from tests.api.compute.conftest import Nova, wait_status as server_status
from tests.api.volume.conftest import assert_fault, wait_gone, wait_status


@pytest.fixture(scope="session")
def nova(cloud) -> Nova:
    return Nova(cloud.url + "/compute/v2.1")


@pytest.fixture
def server(nova, demo, image_id, unique):
    network = demo.network.create_network(name=unique("net"))
    demo.network.create_subnet(network_id=network.id, ip_version=4,
                               cidr="10.78.0.0/28", name=unique("sub"))
    made = []

    def boot():
        resp = nova.request(demo, "POST", "/servers", json={"server": {
            "name": unique("srv"), "imageRef": image_id, "flavorRef": "42",
            "networks": [{"uuid": network.id}]}})
        assert resp.status_code == 202, resp.text
        sid = resp.json()["server"]["id"]
        made.append(sid)
        server_status(nova, demo, sid, "ACTIVE")
        return sid
    yield boot
    for sid in made:
        nova.request(demo, "DELETE", f"/servers/{sid}")
    for port in demo.network.ports(network_id=network.id):
        if port.device_owner != "network:dhcp":
            demo.network.delete_port(port, ignore_missing=True)
    demo.network.delete_network(network, ignore_missing=True)


def test_attach_list_show_detach(nova, cinder, demo, server, make):
    sid = server()
    vol = make(demo, "volumes", {"size": 1})
    base = f"/servers/{sid}/os-volume_attachments"
    resp = nova.request(demo, "POST", base, json={"volumeAttachment": {
        "volumeId": vol["id"]}}, version="2.79")
    assert resp.status_code == 200, resp.text
    att = resp.json()["volumeAttachment"]
    assert att["device"] == "/dev/vdb" and att["volumeId"] == vol["id"]
    assert att["delete_on_termination"] is False
    body = wait_status(cinder, demo, "volumes", vol["id"], "in-use")
    assert body["attachments"][0]["server_id"] == sid
    assert body["attachments"][0]["device"] == "/dev/vdb"
    # attaching it again: 409; a second volume gets vdc
    assert_fault(nova.request(demo, "POST", base, json={"volumeAttachment": {
        "volumeId": vol["id"]}}), 409, "conflictingRequest")
    vol2 = make(demo, "volumes", {"size": 1})
    resp = nova.request(demo, "POST", base, json={"volumeAttachment": {
        "volumeId": vol2["id"]}})
    assert resp.json()["volumeAttachment"]["device"] == "/dev/vdc"
    listed = nova.request(demo, "GET", base).json()["volumeAttachments"]
    assert [(a["volumeId"], a["device"]) for a in listed] == [
        (vol["id"], "/dev/vdb"), (vol2["id"], "/dev/vdc")]
    shown = nova.request(demo, "GET", f"{base}/{vol['id']}", version="2.89").json()
    assert shown["volumeAttachment"]["attachment_id"]
    server_body = nova.request(demo, "GET", f"/servers/{sid}", version="2.3").json()
    assert server_body["server"]["os-extended-volumes:volumes_attached"] == [
        {"id": vol["id"], "delete_on_termination": False},
        {"id": vol2["id"], "delete_on_termination": False}]
    # an attached volume cannot be deleted
    assert_fault(cinder.request(demo, "DELETE", f"/volumes/{vol['id']}"), 400,
                 "badRequest")
    # the CLI sees it
    assert nova.request(demo, "DELETE", f"{base}/{vol['id']}").status_code == 202
    wait_status(cinder, demo, "volumes", vol["id"], "available")
    assert_fault(nova.request(demo, "DELETE", f"{base}/{vol['id']}"), 404, "itemNotFound")
    assert_fault(nova.request(demo, "POST", base, json={"volumeAttachment": {
        "volumeId": "00000000-0000-0000-0000-000000000000"}}), 404, "itemNotFound")
    assert_fault(nova.request(demo, "POST", base, json={"volumeAttachment": {}}), 400,
                 "badRequest")
    nova.request(demo, "DELETE", f"{base}/{vol2['id']}")
    wait_status(cinder, demo, "volumes", vol2["id"], "available")


def test_cli_server_add_remove_volume(cloud, cinder, demo, server, make):
    sid = server()
    vol = make(demo, "volumes", {"size": 1})
    cloud.cli("server", "add", "volume", sid, vol["id"], cloud="kumo", parse=False)
    wait_status(cinder, demo, "volumes", vol["id"], "in-use")
    shown = cloud.cli("volume", "show", vol["id"], cloud="kumo")
    assert shown["status"] == "in-use"
    cloud.cli("server", "remove", "volume", sid, vol["id"], cloud="kumo", parse=False)
    wait_status(cinder, demo, "volumes", vol["id"], "available")


def test_delete_on_termination(nova, cinder, demo, server, make):
    sid = server()
    keep = make(demo, "volumes", {"size": 1})
    drop = make(demo, "volumes", {"size": 1}, wait=True)
    base = f"/servers/{sid}/os-volume_attachments"
    for vol, flag in ((keep, False), (drop, True)):
        resp = nova.request(demo, "POST", base, json={"volumeAttachment": {
            "volumeId": vol["id"], "delete_on_termination": flag}}, version="2.79")
        assert resp.status_code == 200, resp.text
    assert nova.request(demo, "DELETE", f"/servers/{sid}").status_code == 204
    wait_status(cinder, demo, "volumes", keep["id"], "available")
    wait_gone(cinder, demo, "volumes", drop["id"])


def test_v3_attachments_api(cinder, demo, make):
    vol = make(demo, "volumes", {"size": 1})
    assert_fault(cinder.request(demo, "POST", "/attachments", json={"attachment": {
        "volume_id": vol["id"]}}, version="3.26"), 404, "itemNotFound")
    resp = cinder.request(demo, "POST", "/attachments", json={"attachment": {
        "volume_id": vol["id"], "instance_uuid": None}}, version="3.44")
    assert resp.status_code == 200, resp.text
    att = resp.json()["attachment"]
    assert att["status"] == "reserved" and att["connection_info"] is None
    assert wait_status(cinder, demo, "volumes", vol["id"], "reserved")
    resp = cinder.request(demo, "PUT", f"/attachments/{att['id']}", json={"attachment": {
        "connector": {"host": "h1", "mountpoint": "/dev/vdb"}}}, version="3.44")
    assert resp.status_code == 200, resp.text
    info = resp.json()["attachment"]["connection_info"]
    assert info["driver_volume_type"] == "file" and info["data"]["volume_id"] == vol["id"]
    assert cinder.request(demo, "POST", f"/attachments/{att['id']}/action",
                          json={"os-complete": None}, version="3.44").status_code == 204
    wait_status(cinder, demo, "volumes", vol["id"], "in-use")
    listed = cinder.request(demo, "GET", "/attachments", version="3.44",
                            params={"volume_id": vol["id"]}).json()["attachments"]
    assert [a["id"] for a in listed] == [att["id"]]
    # one attachment at a time for a volume that is not multiattach
    assert_fault(cinder.request(demo, "POST", "/attachments", json={"attachment": {
        "volume_id": vol["id"]}}, version="3.44"), 409, "conflictingRequest")
    assert cinder.request(demo, "DELETE", f"/attachments/{att['id']}",
                          version="3.44").status_code == 200
    wait_status(cinder, demo, "volumes", vol["id"], "available")
