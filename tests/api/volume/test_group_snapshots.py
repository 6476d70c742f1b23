"""Group snapshots (3.14) and groups made from a source (``create-from-src``), issue
13: a group of two volumes is snapshotted with openstacksdk (a snapshot per volume,
each carrying ``group_snapshot_id``), listed and shown with the CLI; a member
snapshot cannot be deleted alone, nor the group while it has group snapshots; new
groups come from the group snapshot and from the group; quotas count the member
snapshots; bad input is a Cinder fault and changes nothing."""
from __future__ import annotations

import openstack.exceptions
import pytest

from tests.api.volume.conftest import assert_fault, wait_for, wait_gone, wait_status

V = "3.14"
L = "3.71"
CLI = ("--os-volume-api-version", V)


@pytest.fixture
def group_type(cinder, admin, unique):
    gt = cinder.request(admin, "POST", "/group_types", json={"group_type": {
        "name": unique("gt")}}, version=L).json()["group_type"]
    yield gt
    # after ``groups`` cleaned up: nothing of the test is left using it
    resp = cinder.request(admin, "DELETE", f"/group_types/{gt['id']}", version=L)
    assert resp.status_code == 202, resp.text


@pytest.fixture
def groups(cinder, group_type):
    """``groups.new(conn, gid)`` remembers a group to delete (with its volumes) and
    ``groups.gs(conn, id)`` a group snapshot (deleted first)."""
    class Made:
        made: list = []
        snaps: list = []

        def new(self, conn, gid):
            self.made.append((conn, gid))
            return gid

        def gs(self, conn, gsid):
            self.snaps.append((conn, gsid))
            return gsid
    made = Made()
    made.made, made.snaps = [], []
    yield made
    for conn, gsid in made.snaps:
        cinder.request(conn, "POST", f"/group_snapshots/{gsid}/action",
                       json={"reset_status": {"status": "available"}}, version=L)
        if cinder.request(conn, "DELETE", f"/group_snapshots/{gsid}",
                          version=L).status_code == 202:
            wait_gone_gs(cinder, conn, gsid)
    for conn, gid in reversed(made.made):
        cinder.request(conn, "POST", f"/groups/{gid}/action",
                       json={"reset_status": {"status": "available"}}, version=L)
        vols = cinder.request(conn, "GET", f"/groups/{gid}", params={
            "list_volume": "true"}, version=L).json().get("group", {}).get("volumes", [])
        cinder.request(conn, "POST", f"/groups/{gid}/action",
                       json={"delete": {"delete-volumes": True}}, version=L)
        for vid in vols:
            wait_gone(cinder, conn, "volumes", vid)


def wait_gone_gs(cinder, conn, gsid):
    assert wait_for(lambda: cinder.request(conn, "GET", f"/group_snapshots/{gsid}",
                                           version=L).status_code == 404, 60)


def wait_gs(cinder, conn, gsid, status="available") -> dict:
    last = {}

    def check():
        nonlocal last
        last = cinder.request(conn, "GET", f"/group_snapshots/{gsid}",
                              version=L).json().get("group_snapshot", {})
        return last.get("status") == status
    assert wait_for(check, 60), last
    return last


def wait_group(cinder, conn, gid, status="available") -> dict:
    last = {}

    def check():
        nonlocal last
        last = cinder.request(conn, "GET", f"/groups/{gid}", params={
            "list_volume": "true"}, version=L).json().get("group", {})
        return last.get("status") == status
    assert wait_for(check, 60), last
    return last


def _path(cloud, volume_id: str):
    return cloud.state_dir / "volumes" / "file-1" / f"volume-{volume_id}"


def _write(cloud, volume_id: str, data: bytes) -> None:
    with _path(cloud, volume_id).open("r+b") as f:
        f.write(data)


def _read(cloud, volume_id: str, n: int) -> bytes:
    with _path(cloud, volume_id).open("rb") as f:
        return f.read(n)


def _group_of_two(cinder, conn, make, groups, gt) -> tuple[str, list[dict]]:
    resp = cinder.request(conn, "POST", "/groups", json={"group": {
        "name": "g", "group_type": gt["id"], "volume_types": ["file-1"]}}, version=L)
    assert resp.status_code == 202, resp.text
    gid = groups.new(conn, resp.json()["group"]["id"])
    vols = [make(conn, "volumes", {"size": size, "volume_type": "file-1",
                                   "group_id": gid}) for size in (1, 2)]
    return gid, vols


def test_below_3_14_is_404(cinder, demo):
    for method, path in (("GET", "/group_snapshots"), ("GET", "/group_snapshots/detail"),
                         ("POST", "/group_snapshots"), ("POST", "/groups/action")):
        assert_fault(cinder.request(demo, method, path, json={}, version="3.13"), 404,
                     "itemNotFound")


def test_group_snapshot_lifecycle(cloud, cinder, admin, demo, make, groups, group_type):
    gid, vols = _group_of_two(cinder, demo, make, groups, group_type)
    # bad input: unknown group 404, no group 400, nothing made
    before = cinder.request(demo, "GET", "/group_snapshots", version=L).json()
    assert_fault(cinder.request(demo, "POST", "/group_snapshots", json={
        "group_snapshot": {"group_id": "00000000-0000-0000-0000-000000000000"}},
        version=L), 404, "itemNotFound")
    assert_fault(cinder.request(demo, "POST", "/group_snapshots", json={
        "group_snapshot": {"name": "x"}}, version=L), 400, "badRequest")
    assert cinder.request(demo, "GET", "/group_snapshots", version=L).json() == before

    # create with openstacksdk; every volume gets a snapshot carrying its id
    for vol in vols:
        _write(cloud, vol["id"], b"before-" + vol["id"].encode())
    gs = demo.block_storage.create_group_snapshot(group_id=gid, name="gs1",
                                                  description="both")
    gsid = groups.gs(demo, gs.id)
    shown = wait_gs(cinder, demo, gsid)
    for vol in vols:  # written after the snapshot: not in it, but in clones
        _write(cloud, vol["id"], b"after--" + vol["id"].encode())
    assert shown["group_id"] == gid and shown["name"] == "gs1"
    assert shown["group_type_id"] == group_type["id"]
    assert shown["description"] == "both" and shown["project_id"] == demo.current_project_id
    snaps = [s for s in cinder.request(demo, "GET", "/snapshots/detail",
                                       version=L).json()["snapshots"]
             if s["group_snapshot_id"] == gsid]
    assert sorted((s["volume_id"], s["size"], s["status"]) for s in snaps) == sorted(
        (v["id"], v["size"], "available") for v in vols)
    assert demo.block_storage.get_group_snapshot(gsid).status == "available"
    assert gsid in {g.id for g in demo.block_storage.group_snapshots()}
    detail = cinder.request(demo, "GET", "/group_snapshots/detail", version=L).json()
    assert gsid in {g["id"] for g in detail["group_snapshots"]}
    summary = cinder.request(demo, "GET", "/group_snapshots", version=L).json()
    assert {"id": gsid, "name": "gs1", "group_type_id": group_type["id"]} in summary[
        "group_snapshots"]
    assert_fault(cinder.request(demo, "GET", "/group_snapshots/"
                                "00000000-0000-0000-0000-000000000000", version=L),
                 404, "itemNotFound")
    # the CLI
    listed = cloud.cli(*CLI, "volume", "group", "snapshot", "list", cloud="kumo")
    assert gsid in {g["ID"] for g in listed}
    out = cloud.cli(*CLI, "volume", "group", "snapshot", "show", gsid, cloud="kumo")
    out = {k.lower().replace(" ", "_"): v for k, v in out.items()}
    assert out.get("status") == "available" and gid in str(out), out

    # a member snapshot cannot go alone, nor the group or its volumes
    assert_fault(cinder.request(demo, "DELETE", f"/snapshots/{snaps[0]['id']}"), 400,
                 "badRequest")
    assert_fault(cinder.request(demo, "POST", f"/groups/{gid}/action", json={
        "delete": {"delete-volumes": True}}, version=L), 400, "badRequest")
    assert wait_group(cinder, demo, gid)["status"] == "available"
    # nor a volume taken out of the group, even with cascade
    assert cinder.request(demo, "PUT", f"/groups/{gid}", json={"group": {
        "remove_volumes": vols[0]["id"]}}, version=L).status_code == 202
    assert_fault(cinder.request(demo, "DELETE", f"/volumes/{vols[0]['id']}", params={
        "cascade": "true"}), 400, "badRequest")
    assert cinder.request(demo, "PUT", f"/groups/{gid}", json={"group": {
        "add_volumes": vols[0]["id"]}}, version=L).status_code == 202

    # reset_status: admins only
    act = f"/group_snapshots/{gsid}/action"
    assert cinder.request(demo, "POST", act, json={"reset_status": {
        "status": "error"}}, version=L).status_code == 403
    assert_fault(cinder.request(admin, "POST", act, json={"reset_status": {
        "status": "bogus"}}, version=L), 400, "badRequest")
    assert cinder.request(admin, "POST", act, json={"reset_status": {
        "status": "creating"}}, version=L).status_code == 202
    assert_fault(cinder.request(demo, "DELETE", f"/group_snapshots/{gsid}", version=L),
                 400, "badRequest")  # not available or error
    assert cinder.request(admin, "POST", act, json={"os-reset_status": {
        "status": "error"}}, version=L).status_code == 202
    admin.block_storage.reset_group_snapshot_status(gsid, "available")

    # a group from the group snapshot: its volumes come from the member snapshots
    resp = cinder.request(demo, "POST", "/groups/action", json={"create-from-src": {
        "name": "from-gs", "group_snapshot_id": gsid}}, version=L)
    assert resp.status_code == 202, resp.text
    new = groups.new(demo, resp.json()["group"]["id"])
    made = wait_group(cinder, demo, new)
    assert made["group_snapshot_id"] == gsid and made["source_group_id"] is None
    assert made["group_type"] == group_type["id"] and len(made["volumes"]) == 2
    by_snap = {s["id"]: s for s in snaps}
    for vid in made["volumes"]:
        vol = wait_status(cinder, demo, "volumes", vid, "available")
        assert vol["group_id"] == new and vol["snapshot_id"] in by_snap
        assert vol["size"] == by_snap[vol["snapshot_id"]]["size"]
        origin = by_snap[vol["snapshot_id"]]["volume_id"]
        assert _read(cloud, vid, 43) == b"before-" + origin.encode()
    # deleting the group snapshot while a group is being made from it: 400
    cinder.request(admin, "POST", f"/groups/{new}/action", json={"reset_status": {
        "status": "creating"}}, version=L)
    assert_fault(cinder.request(demo, "DELETE", f"/group_snapshots/{gsid}", version=L),
                 400, "badRequest")
    cinder.request(admin, "POST", f"/groups/{new}/action", json={"reset_status": {
        "status": "available"}}, version=L)

    # a group from the group: clones of its volumes
    resp = cinder.request(demo, "POST", "/groups/action", json={"create-from-src": {
        "source_group_id": gid}}, version=L)
    assert resp.status_code == 202, resp.text
    clone = groups.new(demo, resp.json()["group"]["id"])
    made = wait_group(cinder, demo, clone)
    assert made["source_group_id"] == gid
    sources = sorted(cinder.request(demo, "GET", f"/volumes/{vid}", version=L).json()[
        "volume"]["source_volid"] for vid in made["volumes"])
    assert sources == sorted(v["id"] for v in vols)
    for vid in made["volumes"]:
        origin = cinder.request(demo, "GET", f"/volumes/{vid}", version=L).json()[
            "volume"]["source_volid"]
        assert _read(cloud, vid, 43) == b"after--" + origin.encode()

    # the CLI makes one from the group snapshot too (openstacksdk's create_from_source)
    out = cloud.cli(*CLI, "volume", "group", "create", "--group-snapshot", gsid,
                    "--name", "cli-from-gs", cloud="kumo")
    out = {k.lower().replace(" ", "_"): v for k, v in out.items()}
    made = wait_group(cinder, demo, groups.new(demo, out["id"]))
    assert made["name"] == "cli-from-gs" and made["group_snapshot_id"] == gsid
    assert len(made["volumes"]) == 2

    # delete the group snapshot (CLI): it and its snapshots are gone
    cloud.cli(*CLI, "volume", "group", "snapshot", "delete", gsid, cloud="kumo",
              parse=False)
    wait_gone_gs(cinder, demo, gsid)
    for s in snaps:
        wait_gone(cinder, demo, "snapshots", s["id"])
    with pytest.raises(openstack.exceptions.NotFoundException):
        demo.block_storage.get_group_snapshot(gsid)


def test_create_from_src_bad_input(cinder, demo, make, groups, group_type):
    gid, _ = _group_of_two(cinder, demo, make, groups, group_type)
    before = cinder.request(demo, "GET", "/groups", version=L).json()
    for bad in ({}, {"group_snapshot_id": "x", "source_group_id": gid},
                {"name": 5, "source_group_id": gid}):
        assert_fault(cinder.request(demo, "POST", "/groups/action", json={
            "create-from-src": bad}, version=L), 400, "badRequest")
    for ref in ({"group_snapshot_id": "00000000-0000-0000-0000-000000000000"},
                {"source_group_id": "00000000-0000-0000-0000-000000000000"}):
        assert_fault(cinder.request(demo, "POST", "/groups/action", json={
            "create-from-src": ref}, version=L), 404, "itemNotFound")
    assert cinder.request(demo, "GET", "/groups", version=L).json() == before


def test_quota_counts_member_snapshots(cloud, cinder, admin, member, make, groups,
                                       group_type):
    gid, _ = _group_of_two(cinder, member, make, groups, group_type)
    project = member.current_project_id
    assert cinder.request(admin, "PUT", f"/os-quota-sets/{project}", json={
        "quota_set": {"snapshots": 1}}).status_code == 200
    msg = assert_fault(cinder.request(member, "POST", "/group_snapshots", json={
        "group_snapshot": {"group_id": gid}}, version=L), 413, "overLimit")
    assert "snapshots" in msg
    assert cinder.request(member, "GET", "/group_snapshots", version=L).json()[
        "group_snapshots"] == []
    assert cinder.request(member, "GET", "/snapshots", version=L).json()[
        "snapshots"] == []
    cinder.request(admin, "PUT", f"/os-quota-sets/{project}", json={
        "quota_set": {"snapshots": 2}})
    resp = cinder.request(member, "POST", "/group_snapshots", json={
        "group_snapshot": {"group_id": gid}}, version=L)
    assert resp.status_code == 202, resp.text
    gsid = groups.gs(member, resp.json()["group_snapshot"]["id"])
    wait_gs(cinder, member, gsid)
    usage = cinder.request(member, "GET", f"/os-quota-sets/{project}",
                           params={"usage": "true"}).json()["quota_set"]
    assert usage["snapshots"]["in_use"] == 2


def test_restart_settles_groups_and_group_snapshots(tmp_path):
    """A restart turns group snapshots and groups a stopped worker left ``creating``
    into ``error`` (``deleting`` group snapshots into ``error_deleting``)."""
    import httpx

    from tests.api.volume.test_restart import _token, _wait
    from tests.conftest import _start
    from tests.waiting import stop_process

    env = {"KUMO_COMPUTE_FAKE_HOSTS": "0"}
    server = _start(tmp_path, None, "sqlite", env)
    port = int(server.url.rsplit(":", 1)[1])
    try:
        headers = {"X-Auth-Token": _token(server.url),
                   "OpenStack-API-Version": f"volume {L}"}
        client = httpx.Client(base_url=server.url + "/volume/v3", headers=headers,
                              timeout=30)
        gt = client.post("/group_types", json={"group_type": {"name": "gt"}}).json()[
            "group_type"]
        gid = client.post("/groups", json={"group": {
            "group_type": gt["id"], "volume_types": ["file-1"]}}).json()["group"]["id"]
        vid = client.post("/volumes", json={"volume": {
            "size": 1, "volume_type": "file-1", "group_id": gid}}).json()["volume"]["id"]
        _wait(client, vid, "available")
        gsids = [client.post("/group_snapshots", json={"group_snapshot": {
            "group_id": gid}}).json()["group_snapshot"]["id"] for _ in range(2)]
        assert wait_for(lambda: all(client.get(f"/group_snapshots/{g}").json()[
            "group_snapshot"]["status"] == "available" for g in gsids), 60)
        for gsid, status in zip(gsids, ("creating", "deleting")):
            assert client.post(f"/group_snapshots/{gsid}/action", json={
                "reset_status": {"status": status}}).status_code == 202
        assert client.post(f"/groups/{gid}/action", json={"reset_status": {
            "status": "creating"}}).status_code == 202
        client.close()
        server.process.kill()
        server.process.wait(10)
        server = _start(tmp_path, None, "sqlite", env, port=port)
        headers["X-Auth-Token"] = _token(server.url)
        client = httpx.Client(base_url=server.url + "/volume/v3", headers=headers,
                              timeout=30)
        assert [client.get(f"/group_snapshots/{g}").json()["group_snapshot"]["status"]
                for g in gsids] == ["error", "error_deleting"]
        assert client.get(f"/groups/{gid}").json()["group"]["status"] == "error"
        client.close()
    finally:
        stop_process(server.process)
