"""Volume manage and unmanage (issue 13; Block Storage API v3 "Volume manage
extension"): an admin lists what a ``file`` backend holds that Cinder does not
(``manageable_volumes``, 3.8+; ``openstack block storage volume manageable list``),
brings a file under management (``openstack volume create --remote-source``, and the
pre-3.8 ``os-volume-manage``) and lets a volume go keeping its data (``openstack volume
delete --remote``, ``os-unmanage``). Bad input is a Cinder fault and makes nothing."""
from __future__ import annotations

import pytest

from tests.api.volume.conftest import assert_fault, wait_gone, wait_status

MARKER = b"kumo-manage-marker-13"


@pytest.fixture
def legacy(cloud, unique):
    """A file on backend ``file-2`` that no volume owns: 1.5 GiB apparent, the marker
    at its start."""
    path = cloud.state_dir / "volumes" / "file-2" / unique("legacy-disk")
    with path.open("wb") as f:
        f.write(MARKER)
        f.truncate(3 << 29)
    yield path
    path.unlink(missing_ok=True)


def _host(cinder, admin, make, demo) -> tuple[str, dict]:
    vol = make(demo, "volumes", {"size": 1, "volume_type": "file-2"})
    host = cinder.request(admin, "GET", f"/volumes/{vol['id']}").json()["volume"][
        "os-vol-host-attr:host"]
    return host, vol


def _ids(cinder, admin) -> set[str]:
    return {v["id"] for v in cinder.request(admin, "GET", "/volumes", params={
        "all_tenants": "1"}).json()["volumes"]}


def test_manageable_list_manage_unmanage(cloud, cinder, admin, demo, make, legacy):
    host, owned = _host(cinder, admin, make, demo)
    listed = cinder.request(admin, "GET", "/manageable_volumes/detail",
                            params={"host": host}, version="3.8")
    assert listed.status_code == 200, listed.text
    by_name = {i["reference"]["source-name"]: i for i in
               listed.json()["manageable-volumes"]}
    assert by_name[legacy.name] == {
        "reference": {"source-name": legacy.name}, "size": 2, "safe_to_manage": True,
        "reason_not_safe": None, "cinder_id": None, "extra_info": None}
    mine = by_name[f"volume-{owned['id']}"]
    assert mine["safe_to_manage"] is False and mine["cinder_id"] == owned["id"]
    summary = cinder.request(admin, "GET", "/manageable_volumes", params={"host": host},
                             version="3.8").json()["manageable-volumes"]
    assert {"reference": {"source-name": legacy.name}, "size": 2,
            "safe_to_manage": True} in summary
    # the CLI sees the same list
    rows = cloud.cli("--os-volume-api-version", "3.8", "block", "storage", "volume",
                     "manageable", "list", host)
    assert any(r["reference"] == {"source-name": legacy.name} for r in rows), rows

    # manage it with the CLI: a volume of 2 GiB holding the file's data
    made = cloud.cli("volume", "create", "--remote-source", f"source-name={legacy.name}",
                     "--host", host, "--type", "file-2", "--description", "adopted",
                     "managed-1")
    vid = made["id"]
    body = wait_status(cinder, admin, "volumes", vid, "available")
    assert body["size"] == 2 and body["name"] == "managed-1"
    assert body["volume_type"] == "file-2"
    data = cloud.state_dir / "volumes" / "file-2" / f"volume-{vid}"
    assert not legacy.exists() and data.stat().st_size == 2 << 30
    assert data.read_bytes()[:len(MARKER)] == MARKER

    # unmanage (the CLI's delete --remote): the row goes, the data stays
    cloud.cli("volume", "delete", "--remote", vid, parse=False)
    wait_gone(cinder, admin, "volumes", vid)
    assert data.exists()
    listed = cinder.request(admin, "GET", "/manageable_volumes/detail",
                            params={"host": host}, version="3.8").json()
    again = {i["reference"]["source-name"]: i for i in listed["manageable-volumes"]}
    assert again[data.name]["safe_to_manage"] is True

    # the pre-3.8 route manages it again, into the admin's project
    resp = cinder.request(admin, "POST", "/os-volume-manage", json={"volume": {
        "host": host, "ref": {"source-name": data.name}, "name": "managed-2",
        "metadata": {"k": "v"}, "bootable": True}}, version="3.0")
    assert resp.status_code == 202, resp.text
    vid2 = resp.json()["volume"]["id"]
    body = wait_status(cinder, admin, "volumes", vid2, "available")
    assert body["metadata"] == {"k": "v"} and body["bootable"] == "true"
    with (cloud.state_dir / "volumes" / "file-2" / f"volume-{vid2}").open("rb") as f:
        assert f.read(len(MARKER)) == MARKER
    assert cinder.request(admin, "DELETE", f"/volumes/{vid2}").status_code == 202
    wait_gone(cinder, admin, "volumes", vid2)


def test_manage_bad_input_makes_nothing(cloud, cinder, admin, demo, make, legacy):
    host, owned = _host(cinder, admin, make, demo)
    before = _ids(cinder, admin)

    def manage(volume, version="3.8", conn=admin):
        return cinder.request(conn, "POST", "/manageable_volumes",
                              json={"volume": volume}, version=version)
    ref = {"source-name": legacy.name}
    assert manage({"host": host, "ref": ref}, conn=demo).status_code == 403
    assert cinder.request(demo, "GET", "/manageable_volumes", params={"host": host},
                          version="3.8").status_code == 403
    assert_fault(manage({"host": host, "ref": ref}, version="3.7"), 404, "itemNotFound")
    assert_fault(cinder.request(admin, "GET", "/manageable_volumes", params={
        "host": host}, version="3.7"), 404, "itemNotFound")
    assert_fault(manage({"host": host}), 400, "badRequest")  # no ref
    assert_fault(manage({"ref": ref}), 400, "badRequest")  # no host
    assert_fault(cinder.request(admin, "GET", "/manageable_volumes", version="3.8"),
                 400, "badRequest")
    assert_fault(manage({"host": "nohost@file-2#file-2", "ref": ref}), 404,
                 "itemNotFound")
    assert_fault(manage({"host": host.replace("file-2", "file-9"), "ref": ref}), 404,
                 "itemNotFound")
    for bad in ({"source-name": "no-such-file"}, {"source-name": "../kumo.db"},
                {"source-name": "image-cache"}, {},
                {"source-name": f"volume-{owned['id']}"}):
        assert_fault(manage({"host": host, "ref": bad}), 400, "badRequest")
    # a type of another backend; an unknown zone
    assert_fault(manage({"host": host, "ref": ref, "volume_type": "file-1"}), 400,
                 "badRequest")
    assert_fault(manage({"host": host, "ref": ref, "availability_zone": "elsewhere"}),
                 400, "badRequest")
    assert _ids(cinder, admin) == before
    assert legacy.exists()

    # unmanage: admins only; not while attached or with snapshots
    assert cinder.request(demo, "POST", f"/volumes/{owned['id']}/action",
                          json={"os-unmanage": {}}).status_code == 403
    snap = make(demo, "snapshots", {"volume_id": owned["id"]})
    assert_fault(cinder.request(admin, "POST", f"/volumes/{owned['id']}/action",
                                json={"os-unmanage": {}}), 400, "badRequest")
    assert cinder.request(demo, "GET", f"/volumes/{owned['id']}").status_code == 200
    assert snap["status"] == "available"
