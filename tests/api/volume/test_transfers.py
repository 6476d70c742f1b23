"""Volume transfers: offer a volume with the CLI, accept it from another project with
the auth key (a wrong key is refused and changes nothing), cancel an offer."""
from __future__ import annotations

from tests.api.volume.conftest import assert_fault, wait_status


def test_transfer_cli_and_accept(cloud, cinder, demo, member, make, unique):
    vol = make(demo, "volumes", {"size": 1})
    offer = cloud.cli("volume", "transfer", "request", "create", "--name",
                      unique("xfer"), vol["id"], cloud="kumo")
    assert offer["volume_id"] == vol["id"] and offer["auth_key"]
    wait_status(cinder, demo, "volumes", vol["id"], "awaiting-transfer")
    listed = cloud.cli("volume", "transfer", "request", "list", cloud="kumo")
    assert offer["id"] in {t["ID"] for t in listed}
    # awaiting transfer: it cannot be deleted
    assert_fault(cinder.request(demo, "DELETE", f"/volumes/{vol['id']}"), 400,
                 "badRequest")
    assert_fault(cinder.request(member, "POST", f"/os-volume-transfer/{offer['id']}/accept",
                                json={"accept": {"auth_key": "wrong"}}), 400, "badRequest")
    assert cinder.request(demo, "GET", f"/volumes/{vol['id']}").status_code == 200
    resp = cinder.request(member, "POST", f"/volume-transfers/{offer['id']}/accept",
                          json={"accept": {"auth_key": offer["auth_key"]}}, version="3.55")
    assert resp.status_code == 202, resp.text
    body = wait_status(cinder, member, "volumes", vol["id"], "available")
    assert body["os-vol-tenant-attr:tenant_id"] == member.project_id_
    assert_fault(cinder.request(demo, "GET", f"/volumes/{vol['id']}"), 404, "itemNotFound")
    # the member may now delete it
    assert cinder.request(member, "DELETE", f"/volumes/{vol['id']}").status_code == 202


def test_transfer_cancel(cinder, demo, make):
    vol = make(demo, "volumes", {"size": 1})
    resp = cinder.request(demo, "POST", "/os-volume-transfer",
                          json={"transfer": {"volume_id": vol["id"]}})
    assert resp.status_code == 202
    tid = resp.json()["transfer"]["id"]
    assert cinder.request(demo, "DELETE", f"/os-volume-transfer/{tid}").status_code == 202
    wait_status(cinder, demo, "volumes", vol["id"], "available")
    assert_fault(cinder.request(demo, "GET", f"/os-volume-transfer/{tid}"), 404,
                 "itemNotFound")
