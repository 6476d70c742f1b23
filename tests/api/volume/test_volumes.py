"""Volumes through openstacksdk, the ``openstack`` CLI and raw Cinder calls: create
(empty, from an image through the image cache, from a snapshot, from a volume), list
(pagination, sort, filters, ``all_tenants``), update, metadata, image metadata,
actions, delete with cascade."""
from __future__ import annotations

from pathlib import Path

from tests.api.volume.conftest import assert_fault, wait_gone, wait_status

GiB = 1 << 30


def _backend_dir(cloud, backend: str = "file-1") -> Path:
    return cloud.state_dir / "volumes" / backend


def test_sdk_lifecycle(demo, cloud, unique):
    bs = demo.block_storage
    vol = bs.create_volume(size=1, name=unique("vol"), description="first",
                           metadata={"a": "1"})
    assert vol.status == "creating" and vol.size == 1
    vol = bs.wait_for_status(vol, "available", wait=60)
    path = _backend_dir(cloud) / f"volume-{vol.id}"
    assert path.stat().st_size == GiB and path.stat().st_mode & 0o777 == 0o600
    assert path.stat().st_blocks == 0  # sparse
    assert vol.volume_type == "__DEFAULT__" and vol.is_bootable is False
    assert vol.metadata == {"a": "1"}
    new_name = vol.name + "-x"
    bs.update_volume(vol, name=new_name, description="second")
    got = bs.get_volume(vol.id)
    assert got.name == new_name and got.description == "second"
    bs.set_volume_metadata(vol, b="2")
    assert bs.get_volume(vol.id).metadata == {"a": "1", "b": "2"}
    bs.delete_volume_metadata(vol.id, keys=["a"])
    assert bs.get_volume(vol.id).metadata == {"b": "2"}
    bs.extend_volume(vol, 2)
    vol = bs.wait_for_status(bs.get_volume(vol.id), "available", wait=60)
    assert vol.size == 2 and path.stat().st_size == 2 * GiB
    bs.set_volume_bootable_status(vol, True)
    assert bs.get_volume(vol.id).is_bootable is True
    bs.set_volume_readonly(vol, True)
    bs.delete_volume(vol)
    bs.wait_for_delete(vol, wait=60)
    assert not path.exists()


def test_cli_create_list_show_delete(cloud, unique):
    name = unique("clivol")
    created = cloud.cli("volume", "create", "--size", "1", "--property", "k=v", name,
                        cloud="kumo")
    assert created["name"] == name and created["size"] == 1
    listed = cloud.cli("volume", "list", "--name", name, cloud="kumo")
    assert [v["ID"] for v in listed] == [created["id"]]
    shown = cloud.cli("volume", "show", name, cloud="kumo")
    assert shown["properties"] == {"k": "v"} or shown["properties"] == "k='v'"
    cloud.cli("volume", "set", "--name", name + "-2", "--description", "d", name,
              cloud="kumo", parse=False)
    shown = cloud.cli("volume", "show", name + "-2", cloud="kumo")
    assert shown["description"] == "d"
    cloud.cli("volume", "delete", name + "-2", cloud="kumo", parse=False)
    proc = cloud.cli("volume", "show", created["id"], cloud="kumo", check=False)
    assert proc.returncode != 0 or "deleting" in proc.stdout


def test_from_image_uses_the_cache(demo, cinder, cloud, image_id, make, unique):
    image = demo.image.get_image(image_id)
    first = make(demo, "volumes", {"size": 1, "imageRef": image_id, "name": unique("img")})
    cache = _backend_dir(cloud) / "image-cache"
    entries = [p.name for p in cache.iterdir() if not p.name.startswith(".")]
    assert [e for e in entries if e.startswith(image_id)], entries
    second = make(demo, "volumes", {"size": 2, "imageRef": image_id})
    assert [p.name for p in cache.iterdir() if not p.name.startswith(".")] == entries
    for vol in (first, second):
        assert vol["bootable"] == "true"
        meta = vol["volume_image_metadata"]
        assert meta["image_id"] == image_id and meta["checksum"] == image.checksum
        assert meta["kumo_rootfs"] == "tar"
        # the rootfs tarball became an ext4 filesystem (superblock magic at 1080)
        data = (_backend_dir(cloud) / f"volume-{vol['id']}").open("rb")
        data.seek(1080)
        assert data.read(2) == b"\x53\xef"
        data.close()
    assert (_backend_dir(cloud) / f"volume-{second['id']}").stat().st_size == 2 * GiB
    log = cloud.log.read_text()
    assert f"volume {second['id']} from image {image_id}: image cache hit" in log


def test_from_snapshot_and_from_volume_copy_the_data(demo, cinder, cloud, make):
    src = make(demo, "volumes", {"size": 1})
    path = _backend_dir(cloud) / f"volume-{src['id']}"
    with path.open("r+b") as f:
        f.seek(12345)
        f.write(b"kumo-volume-data")
    snap = make(demo, "snapshots", {"volume_id": src["id"], "name": "s"})
    with path.open("r+b") as f:  # after the snapshot: the snapshot keeps the old bytes
        f.seek(12345)
        f.write(b"changed-afterwards")
    from_snap = make(demo, "volumes", {"snapshot_id": snap["id"], "size": 2})
    clone = make(demo, "volumes", {"source_volid": src["id"]})
    assert from_snap["snapshot_id"] == snap["id"] and from_snap["size"] == 2
    assert clone["source_volid"] == src["id"] and clone["size"] == 1
    for vol, expect in ((from_snap, b"kumo-volume-data"), (clone, b"changed-afterwards")):
        with (_backend_dir(cloud) / f"volume-{vol['id']}").open("rb") as f:
            f.seek(12345)
            assert f.read(len(expect)) == expect


def test_list_pagination_sort_filters(member, cinder, make):
    ids = [make(member, "volumes", {"size": 1, "name": f"page-{i}",
                                    "metadata": {"i": str(i % 2)}})["id"]
           for i in range(5)]
    resp = cinder.request(member, "GET", "/volumes/detail",
                          params={"sort": "name:asc", "limit": 2})
    body = resp.json()
    assert [v["name"] for v in body["volumes"]] == ["page-0", "page-1"]
    assert body["volumes_links"][0]["rel"] == "next"
    seen = []
    marker = None
    for _ in range(5):
        params = {"sort": "name:asc", "limit": 2}
        if marker:
            params["marker"] = marker
        page = cinder.request(member, "GET", "/volumes", params=params).json()
        seen += [v["name"] for v in page["volumes"]]
        if "volumes_links" not in page:
            break
        marker = page["volumes"][-1]["id"]
    assert seen == [f"page-{i}" for i in range(5)]
    desc = cinder.request(member, "GET", "/volumes",
                          params={"sort_key": "name", "sort_dir": "desc"}).json()
    assert [v["name"] for v in desc["volumes"]] == [f"page-{i}" for i in range(4, -1, -1)]
    meta = cinder.request(member, "GET", "/volumes/detail",
                          params={"metadata": '{"i": "1"}'}).json()["volumes"]
    assert sorted(v["name"] for v in meta) == ["page-1", "page-3"]
    named = cinder.request(member, "GET", "/volumes", params={"name": "page-2"}).json()
    assert [v["id"] for v in named["volumes"]] == [ids[2]]
    counted = cinder.request(member, "GET", "/volumes", version="3.45",
                             params={"with_count": "true", "limit": 1}).json()
    assert counted["count"] == 5 and len(counted["volumes"]) == 1
    # the sdk follows the pages itself
    assert len(list(member.block_storage.volumes(limit=2))) == 5
    assert_fault(cinder.request(member, "GET", "/volumes", params={"sort": "bogus:asc"}),
                 400, "badRequest")
    assert_fault(cinder.request(member, "GET", "/volumes",
                                params={"marker": "00000000-0000-0000-0000-000000000000"}),
                 404, "itemNotFound")
    assert_fault(cinder.request(member, "GET", "/volumes", params={"limit": "x"}),
                 400, "badRequest")


def test_all_tenants_for_admins_only(member, demo, admin, cinder, make):
    mine = make(member, "volumes", {"size": 1})
    # demo does not see member's volume, even asking for all_tenants
    resp = cinder.request(demo, "GET", "/volumes", params={"all_tenants": "1"})
    assert mine["id"] not in [v["id"] for v in resp.json()["volumes"]]
    assert_fault(cinder.request(demo, "GET", f"/volumes/{mine['id']}"), 404,
                 "itemNotFound")
    resp = cinder.request(admin, "GET", "/volumes/detail", params={"all_tenants": "1"})
    found = [v for v in resp.json()["volumes"] if v["id"] == mine["id"]]
    assert found and found[0]["os-vol-tenant-attr:tenant_id"] == member.project_id_
    assert found[0]["os-vol-host-attr:host"].endswith("@file-1#file-1")
    resp = cinder.request(admin, "GET", "/volumes", params={
        "all_tenants": "1", "project_id": member.project_id_})
    assert [v["id"] for v in resp.json()["volumes"]] == [mine["id"]]
    # without all_tenants an admin sees its own project's
    resp = cinder.request(admin, "GET", "/volumes")
    assert mine["id"] not in [v["id"] for v in resp.json()["volumes"]]
    # users do not see the host
    assert "os-vol-host-attr:host" not in cinder.request(
        member, "GET", f"/volumes/{mine['id']}").json()["volume"]


def test_image_metadata_actions_and_reset_status(demo, admin, cinder, make):
    vol = make(demo, "volumes", {"size": 1})
    act = f"/volumes/{vol['id']}/action"
    resp = cinder.request(demo, "POST", act, json={"os-set_image_metadata": {
        "metadata": {"hw_disk_bus": "virtio"}}})
    assert resp.status_code == 200 and resp.json()["metadata"] == {"hw_disk_bus": "virtio"}
    resp = cinder.request(demo, "POST", act, json={"os-show_image_metadata": None})
    assert resp.json()["metadata"] == {"hw_disk_bus": "virtio"}
    assert cinder.request(demo, "POST", act, json={"os-unset_image_metadata": {
        "key": "hw_disk_bus"}}).status_code == 200
    assert_fault(cinder.request(demo, "POST", act, json={"os-unset_image_metadata": {
        "key": "hw_disk_bus"}}), 404, "itemNotFound")
    # reset status: admins only
    assert_fault(cinder.request(demo, "POST", act, json={"os-reset_status": {
        "status": "error"}}), 403, "forbidden")
    assert cinder.request(admin, "POST", act, json={"os-reset_status": {
        "status": "error"}}).status_code == 202
    assert cinder.request(demo, "GET", f"/volumes/{vol['id']}").json()["volume"][
        "status"] == "error"
    assert_fault(cinder.request(admin, "POST", act, json={"os-reset_status": {
        "status": "bogus"}}), 400, "badRequest")
    assert_fault(cinder.request(demo, "POST", act, json={"os-nothing": {}}), 400,
                 "badRequest")


def test_delete_cascade(demo, cinder, make):
    vol = make(demo, "volumes", {"size": 1})
    snap = make(demo, "snapshots", {"volume_id": vol["id"]})
    msg = assert_fault(cinder.request(demo, "DELETE", f"/volumes/{vol['id']}"), 400,
                       "badRequest")
    assert "snapshots" in msg
    resp = cinder.request(demo, "DELETE", f"/volumes/{vol['id']}",
                          params={"cascade": "true"})
    assert resp.status_code == 202
    wait_gone(cinder, demo, "volumes", vol["id"])
    wait_gone(cinder, demo, "snapshots", snap["id"])


def test_migrate_and_retype_between_backends(admin, cinder, cloud, make, unique):
    vol = make(admin, "volumes", {"size": 1})
    src = _backend_dir(cloud, "file-1") / f"volume-{vol['id']}"
    with src.open("r+b") as f:
        f.write(b"migrate-me")
    resp = cinder.request(admin, "POST", f"/volumes/{vol['id']}/action",
                          json={"os-migrate_volume": {"host": "file-2"}})
    assert resp.status_code == 202, resp.text

    def migrated():
        body = cinder.request(admin, "GET", f"/volumes/{vol['id']}").json()["volume"]
        return body["os-vol-mig-status-attr:migstat"] == "success" and body
    body = wait_status(cinder, admin, "volumes", vol["id"], "available")
    from tests.api.volume.conftest import wait_for
    body = wait_for(migrated)
    assert body["os-vol-host-attr:host"].endswith("@file-2#file-2")
    dst = _backend_dir(cloud, "file-2") / f"volume-{vol['id']}"
    assert dst.read_bytes()[:10] == b"migrate-me" and not src.exists()
    # same host again: 400
    assert_fault(cinder.request(admin, "POST", f"/volumes/{vol['id']}/action",
                                json={"os-migrate_volume": {"host": "file-2"}}),
                 400, "badRequest")
    # retype to file-1's type moves it back (migration_policy on-demand)
    resp = cinder.request(admin, "POST", f"/volumes/{vol['id']}/action", json={
        "os-retype": {"new_type": "file-1", "migration_policy": "on-demand"}})
    assert resp.status_code == 202, resp.text
    wait_for(lambda: cinder.request(admin, "GET", f"/volumes/{vol['id']}").json()[
        "volume"]["volume_type"] == "file-1")
    body = wait_status(cinder, admin, "volumes", vol["id"], "available")
    assert body["os-vol-host-attr:host"].endswith("@file-1#file-1")
    assert src.read_bytes()[:10] == b"migrate-me" and not dst.exists()


def test_cli_migrate_and_extend_attached(cloud, cinder, admin, make):
    vol = make(admin, "volumes", {"size": 1})
    cloud.cli("volume", "migrate", "--host", "file-2", vol["id"], parse=False)
    from tests.api.volume.conftest import wait_for
    body = wait_for(lambda: (b := cinder.request(admin, "GET", f"/volumes/{vol['id']}")
                             .json()["volume"])["os-vol-mig-status-attr:migstat"]
                    == "success" and b)
    assert body and body["os-vol-host-attr:host"].endswith("@file-2#file-2")
    # extend while in-use: from 3.42 only
    cinder.request(admin, "POST", f"/volumes/{vol['id']}/action", json={
        "os-reset_status": {"status": "in-use"}})
    act = f"/volumes/{vol['id']}/action"
    assert_fault(cinder.request(admin, "POST", act, json={"os-extend": {"new_size": 2}},
                                version="3.41"), 400, "badRequest")
    assert cinder.request(admin, "POST", act, json={"os-extend": {"new_size": 2}},
                          version="3.42").status_code == 202
    body = wait_status(cinder, admin, "volumes", vol["id"], "in-use")
    assert body["size"] == 2
    assert (_backend_dir(cloud, "file-2") / f"volume-{vol['id']}").stat().st_size == 2 * GiB
    cinder.request(admin, "POST", act, json={"os-reset_status": {"status": "available"}})


def test_cli_backup_force(cloud, cinder, admin, make):
    vol = make(admin, "volumes", {"size": 1})
    cinder.request(admin, "POST", f"/volumes/{vol['id']}/action", json={
        "os-reset_status": {"status": "in-use"}})
    proc = cloud.cli("volume", "backup", "create", vol["id"], check=False)
    assert proc.returncode != 0
    backup = cloud.cli("volume", "backup", "create", "--force", vol["id"])
    try:
        wait_status(cinder, admin, "backups", backup["id"], "available")
    finally:
        cloud.cli("volume", "backup", "delete", backup["id"], parse=False)
        cinder.request(admin, "POST", f"/volumes/{vol['id']}/action", json={
            "os-reset_status": {"status": "available"}})
