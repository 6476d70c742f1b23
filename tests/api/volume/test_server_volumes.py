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
    # attaching it again: Nova's 400 (InvalidVolume); a second volume gets vdc
    assert_fault(nova.request(demo, "POST", base, json={"volumeAttachment": {
        "volumeId": vol["id"]}}), 400, "badRequest")
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


@pytest.fixture
def network(demo, unique):
    net = demo.network.create_network(name=unique("net"))
    demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.79.0.0/28",
                               name=unique("sub"))
    yield net
    for port in demo.network.ports(network_id=net.id):
        if port.device_owner != "network:dhcp":
            demo.network.delete_port(port, ignore_missing=True)
    demo.network.delete_network(net, ignore_missing=True)


def test_boot_from_volume_cli(cloud, cinder, nova, demo, image_id, network, make, unique):
    """``server create --volume`` (source volume, boot index 0) and
    ``--boot-from-volume`` (image -> new volume; kept after the server, as Nova's
    default ``delete_on_termination`` false)."""
    vol = make(demo, "volumes", {"size": 1, "imageRef": image_id})
    name = unique("bfv")
    server = cloud.cli("server", "create", "--flavor", "42", "--volume", vol["id"],
                       "--network", network.id, "--wait", name, cloud="kumo")
    try:
        assert server["status"] == "ACTIVE"
        body = wait_status(cinder, demo, "volumes", vol["id"], "in-use")
        assert body["attachments"][0]["device"] == "/dev/vda"
        # the root volume cannot be detached
        assert_fault(nova.request(demo, "DELETE", f"/servers/{server['id']}/"
                                  f"os-volume_attachments/{vol['id']}"), 400, "badRequest")
    finally:
        cloud.cli("server", "delete", "--wait", server["id"], cloud="kumo", parse=False)
    wait_status(cinder, demo, "volumes", vol["id"], "available")  # kept: given by id

    name = unique("bfv2")
    server = cloud.cli("server", "create", "--flavor", "42", "--image", image_id,
                       "--boot-from-volume", "1", "--network", network.id, "--wait",
                       name, cloud="kumo")
    atts = nova.request(demo, "GET", f"/servers/{server['id']}/os-volume_attachments",
                        version="2.79").json()["volumeAttachments"]
    assert [(a["device"], a["delete_on_termination"]) for a in atts] == [
        ("/dev/vda", False)]
    made = atts[0]["volumeId"]
    assert cinder.request(demo, "GET", f"/volumes/{made}").json()["volume"][
        "bootable"] == "true"
    cloud.cli("server", "delete", "--wait", server["id"], cloud="kumo", parse=False)
    wait_status(cinder, demo, "volumes", made, "available")
    cinder.request(demo, "DELETE", f"/volumes/{made}")
    from tests.api.volume.conftest import wait_gone
    wait_gone(cinder, demo, "volumes", made)


def test_boot_from_volume_bad_input_makes_nothing(nova, cinder, demo, network, image_id,
                                                  make):
    before = {v["id"] for v in cinder.request(demo, "GET", "/volumes").json()["volumes"]}
    base = {"name": "bad-bfv", "flavorRef": "42", "networks": [{"uuid": network.id}]}
    blank = make(demo, "volumes", {"size": 1})
    before.add(blank["id"])
    for bdm in ([{"source_type": "volume", "uuid": "00000000-0000-0000-0000-000000000000",
                  "boot_index": 0, "destination_type": "volume"}],
                [{"source_type": "image", "uuid": image_id, "boot_index": 0,
                  "destination_type": "volume", "volume_size": 0}],
                [{"source_type": "volume", "uuid": blank["id"], "boot_index": 0,
                  "destination_type": "volume"}],
                [{"source_type": "image", "uuid": image_id, "boot_index": 0,
                  "destination_type": "volume", "volume_size": 1}, "junk"]):
        resp = nova.request(demo, "POST", "/servers", json={"server": {
            **base, "block_device_mapping_v2": bdm}})
        assert resp.status_code in (400, 404), resp.text
    # a bad flavor after the volume was made: the volume goes again
    resp = nova.request(demo, "POST", "/servers", json={"server": {
        **base, "flavorRef": "no-such-flavor", "block_device_mapping_v2": [{
            "source_type": "image", "uuid": image_id, "boot_index": 0,
            "destination_type": "volume", "volume_size": 1}]}})
    assert resp.status_code == 400, resp.text
    from tests.api.volume.conftest import wait_for
    assert wait_for(lambda: {v["id"] for v in cinder.request(
        demo, "GET", "/volumes").json()["volumes"]} == before)


def test_extend_attached_volume_tells_the_server(nova, cinder, admin, demo, server,
                                                 make):
    """Extending an in-use volume (3.42) grows it and gives the server Nova's
    ``extend_volume`` instance action with a successful ``compute_extend_volume``
    event (Cinder's ``volume-extended`` external event, which Tempest waits for)."""
    from tests.api.volume.conftest import wait_for
    sid = server()
    vol = make(demo, "volumes", {"size": 1})
    resp = nova.request(demo, "POST", f"/servers/{sid}/os-volume_attachments", json={
        "volumeAttachment": {"volumeId": vol["id"]}})
    assert resp.status_code == 200, resp.text
    wait_status(cinder, demo, "volumes", vol["id"], "in-use")
    resp = cinder.request(demo, "POST", f"/volumes/{vol['id']}/action", version="3.42",
                          json={"os-extend": {"new_size": 2}})
    assert resp.status_code == 202, resp.text
    assert wait_status(cinder, demo, "volumes", vol["id"], "in-use")["size"] == 2

    def extend_action():
        actions = nova.request(demo, "GET", f"/servers/{sid}/os-instance-actions").json()[
            "instanceActions"]
        return next((a for a in actions if a["action"] == "extend_volume"), None)
    action = wait_for(extend_action)
    assert action, "no extend_volume instance action"
    detail = nova.request(admin, "GET", f"/servers/{sid}/os-instance-actions/"
                          f"{action['request_id']}", version="2.51").json()[
        "instanceAction"]
    events = [e for e in detail["events"] if e["event"] == "compute_extend_volume"]
    assert events and events[0]["result"] == "Success", detail
    assert events[0]["finish_time"] and action["request_id"].startswith("req-")
    nova.request(demo, "DELETE", f"/servers/{sid}/os-volume_attachments/{vol['id']}")
    wait_status(cinder, demo, "volumes", vol["id"], "available")


def test_another_projects_server_cannot_be_named(cinder, demo, member, server, make):
    """An attachment to a server of this cloud is acted on by its host's agent, so a
    member of another project may not name it (v3 attachments, os-attach): 400, and
    the volume stays available; the server's own project may."""
    sid = server()  # demo's
    vol = make(member, "volumes", {"size": 1})
    assert_fault(cinder.request(member, "POST", "/attachments", json={"attachment": {
        "volume_uuid": vol["id"], "instance_uuid": sid}}, version="3.27"), 400,
        "badRequest")
    assert_fault(cinder.request(member, "POST", f"/volumes/{vol['id']}/action", json={
        "os-attach": {"instance_uuid": sid, "mountpoint": "/dev/vda"}}), 400,
        "badRequest")
    shown = cinder.request(member, "GET", f"/volumes/{vol['id']}").json()["volume"]
    assert shown["status"] == "available" and shown["attachments"] == []
    own = make(demo, "volumes", {"size": 1})
    resp = cinder.request(demo, "POST", "/attachments", json={"attachment": {
        "volume_uuid": own["id"], "instance_uuid": sid}}, version="3.27")
    assert resp.status_code == 200, resp.text
    cinder.request(demo, "DELETE", f"/attachments/{resp.json()['attachment']['id']}",
                   version="3.27")
