"""Nova's config drive in the API: ``config_drive`` on create (Nova's boolean values,
the others a 400 that makes nothing), shown as ``"True"``/``""``, the list filter,
diagnostics, ``img_config_drive=mandatory``, and the agents' route with the drive's
files (the metadata service's renderings)."""
from __future__ import annotations

import base64
import json

import pytest

from tests.api.compute.conftest import assert_fault, wait_status

USER_DATA = base64.b64encode(b"#!/bin/sh\necho config drive\n").decode()


def test_sdk_create_show_list_and_diagnostics(admin, demo, nova, net, image_id, unique):
    with_cd = demo.compute.create_server(name=unique("cd"), image_id=image_id,
                                         flavor_id="42", networks=[{"uuid": net[0].id}],
                                         has_config_drive=True)
    without = demo.compute.create_server(name=unique("nocd"), image_id=image_id,
                                         flavor_id="42", networks=[{"uuid": net[0].id}])
    with_cd = demo.compute.wait_for_server(with_cd, status="ACTIVE", wait=30,
                                           interval=0.2)
    assert demo.compute.get_server(with_cd.id).has_config_drive == "True"
    assert nova.request(demo, "GET", f"/servers/{without.id}").json()[
        "server"]["config_drive"] == ""
    mine = {with_cd.id, without.id}

    def listed(conn, query, version="2.1"):
        body = nova.request(conn, "GET", "/servers/detail?" + query, version=version)
        assert body.status_code == 200, body.text
        return {s["id"] for s in body.json()["servers"]} & mine
    assert listed(demo, "config_drive=True", "2.83") == {with_cd.id}
    assert listed(demo, "config_drive=True") == mine  # ignored before 2.83 (Nova)
    assert listed(admin, "all_tenants=1&config_drive=True") == {with_cd.id}
    diag = nova.request(admin, "GET", f"/servers/{with_cd.id}/diagnostics",
                        version="2.48").json()
    assert diag["config_drive"] is True
    # the drive is one of the guest's disks, as libvirt lists it
    assert diag["num_disks"] == 2 and len(diag["disk_details"]) == 2
    wait_status(nova, demo, without.id, "ACTIVE")
    diag = nova.request(admin, "GET", f"/servers/{without.id}/diagnostics",
                        version="2.48").json()
    assert diag["config_drive"] is False and diag["num_disks"] == 1


def test_cli_config_drive_true(cloud, demo, net, unique):
    name = unique("cdcli")
    out = cloud.cli("server", "create", "--image", "cirros", "--flavor", "m1.tiny",
                    "--network", net[0].name, "--config-drive", "True", "--wait", name,
                    cloud="kumo")
    assert out["status"] == "ACTIVE" and out["config_drive"] == "True"
    assert cloud.cli("server", "show", name, cloud="kumo")["config_drive"] == "True"
    cloud.cli("server", "delete", "--wait", name, cloud="kumo", parse=False)


@pytest.mark.parametrize("value", ["True", "yes", "ON", "1", True])
def test_nova_true_strings(demo, nova, boot, value):
    made = boot("cd-true", config_drive=value)
    assert nova.request(demo, "GET", f"/servers/{made['id']}").json()[
        "server"]["config_drive"] == "True"


def test_false_strings_make_no_drive(demo, nova, boot):
    for value in ("False", "no", "0", False):
        made = boot("cd-false", config_drive=value)
        assert nova.request(demo, "GET", f"/servers/{made['id']}").json()[
            "server"]["config_drive"] == ""


def test_bad_values_are_refused(demo, nova, image_id, net):
    def post(value):
        body = {"name": "bad-cd", "imageRef": image_id, "flavorRef": "42",
                "networks": [{"uuid": net[0].id}], "config_drive": value}
        return nova.request(demo, "POST", "/servers", json={"server": body})
    # Nova's parameter_types.boolean: not oslo's y/t/n/f, no other strings, no
    # numbers, no null, no empty string
    for value in ("y", "t", "maybe", "", "TrUe", 1, 0, None, [True], {}):
        msg = assert_fault(post(value), 400, "badRequest")
        assert "config_drive" in msg, (value, msg)
    assert not [s for s in demo.compute.servers() if s.name == "bad-cd"]
    assert not [p for p in demo.network.ports(network_id=net[0].id)
                if p.device_owner == "compute:nova"]


def test_image_with_img_config_drive_mandatory(admin, demo, nova, boot, unique):
    image = admin.image.create_image(
        name=unique("img-cd"), data=b"not a real disk", disk_format="raw",
        container_format="bare", visibility="public", img_config_drive="mandatory")
    try:
        made = boot("cd-forced", imageRef=image.id)  # deleted by the fixture
        shown = nova.request(demo, "GET", f"/servers/{made['id']}").json()["server"]
        assert shown["config_drive"] == "True"
    finally:
        admin.image.delete_image(image, ignore_missing=True)


def test_agent_route_serves_the_drive_files(admin, demo, nova, boot):
    made = boot("cd-files", config_drive=True, user_data=USER_DATA,
                metadata={"role": "web"})
    plain = boot("cd-none")
    body = wait_status(nova, admin, made["id"], "ACTIVE", version="2.3")
    host = body["OS-EXT-SRV-ATTR:host"]
    state = nova.agent(admin, "GET", "/state", params={"host": host}).json()
    (inst,) = [i for i in state["instances"] if i["id"] == made["id"]]
    assert inst["config_drive"] is True
    resp = nova.agent(admin, "GET", f"/instances/{made['id']}/config_drive",
                      params={"host": host})
    assert resp.status_code == 200, resp.text
    files = {k: base64.b64decode(v) for k, v in resp.json()["files"].items()}
    md = json.loads(files["openstack/latest/meta_data.json"])
    assert md["uuid"] == made["id"] and md["name"] == "cd-files"
    assert md["meta"] == {"role": "web"}
    assert files["openstack/latest/user_data"] == base64.b64decode(USER_DATA)
    assert files["ec2/latest/user-data"] == base64.b64decode(USER_DATA)
    net_data = json.loads(files["openstack/latest/network_data.json"])
    assert len(net_data["links"]) == 1 and net_data["networks"]
    for name in ("vendor_data.json", "vendor_data2.json"):
        assert json.loads(files["openstack/latest/" + name]) == {}
    ec2 = json.loads(files["ec2/2009-04-04/meta-data.json"])
    assert ec2["hostname"] == md["hostname"]
    # Nova's version gates: no network_data.json before Liberty, no vendor_data.json
    # before Havana; EC2 versions before 2009-04-04 left out
    assert "openstack/2013-04-04/network_data.json" not in files
    assert "openstack/2013-04-04/vendor_data.json" not in files
    assert "openstack/2012-08-10/meta_data.json" in files
    assert not [p for p in files if p.startswith("ec2/2008-")]
    other = "fake-1" if host == "fake-0" else "fake-0"
    assert nova.agent(admin, "GET", f"/instances/{made['id']}/config_drive",
                      params={"host": other}).status_code == 409
    plain_host = wait_status(nova, admin, plain["id"], "ACTIVE", version="2.3")[
        "OS-EXT-SRV-ATTR:host"]
    assert nova.agent(admin, "GET", f"/instances/{plain['id']}/config_drive",
                      params={"host": plain_host}).status_code == 409
    assert nova.agent(demo, "GET", f"/instances/{made['id']}/config_drive",
                      params={"host": host}).status_code == 403
