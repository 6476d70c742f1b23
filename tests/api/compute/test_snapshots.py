"""Server snapshots through the fake compute hosts (kumo/compute/snapshots.py): the
agent packs the instance's root filesystem (the fake driver: a tiny rootfs tar) and
uploads it through /compute/kumo/v1/instances/{id}/snapshots/{image_id}, so the image
goes queued -> saving -> active with data, size and hashes; createImage with the CLI's
--wait, a server booted from the snapshot, Nova's properties and task states, deleting
the image while the snapshot runs, the 409s and the agents' routes' errors. The
data-plane test (a file written in a real cirros server read back from a server booted
from its snapshot) is tests/dataplane/test_snapshot.py."""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile

from tests.api.compute.conftest import assert_fault, wait_for, wait_status


def act(nova, conn, sid, body, version="2.1"):
    return nova.request(conn, "POST", f"/servers/{sid}/action", json=body, version=version)


def task_of(nova, conn, sid):
    return nova.request(conn, "GET", f"/servers/{sid}").json()["server"][
        "OS-EXT-STS:task_state"]


def image_url(nova, image_id):
    return nova.base.rsplit("/compute", 1)[0] + f"/image/v2/images/{image_id}"


def test_create_image_uploads_the_root_filesystem(admin, demo, nova, boot, image_id):
    made = boot("snap-real")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    resp = act(nova, demo, sid, {"createImage": {"name": "snap-real-img",
                                                 "metadata": {"k": "v"}}}, "2.45")
    assert resp.status_code == 202, resp.text
    snap = resp.json()["image_id"]
    try:
        assert wait_for(lambda: demo.image.get_image(snap).status == "active", 60)
        image = demo.session.get(image_url(nova, snap)).json()
        assert image["size"] > 0 and image["checksum"] and image["os_hash_algo"] == "sha512"
        data = demo.session.get(image_url(nova, snap) + "/file").content
        assert hashlib.md5(data).hexdigest() == image["checksum"]
        assert hashlib.sha512(data).hexdigest() == image["os_hash_value"]
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
            names = {n.lstrip("./") for n in tar.getnames()}
        assert {"sbin/init", "etc/kumo-fake-snapshot"} <= names
        # Nova's snapshot properties, the base image's format
        assert image["instance_uuid"] == sid and image["image_type"] == "snapshot"
        assert image["base_image_ref"] == image_id and image["k"] == "v"
        assert image["owner_project_name"] == "demo" and image["owner_user_name"] == "demo"
        assert image["user_id"] and "member" in image["boot_roles"].split(",")
        assert image["kumo_rootfs"] == "tar" and image["visibility"] == "private"
        assert (image["container_format"], image["disk_format"]) == ("bare", "raw")
        assert wait_for(lambda: task_of(nova, demo, sid) is None)
        events = nova.request(admin, "GET", f"/servers/{sid}/os-instance-actions/"
                              f"{resp.headers['x-openstack-request-id']}", version="2.51").json()[
            "instanceAction"]
        assert events["action"] == "createImage"
        assert events["events"][0]["result"] == "Success"
        # a server boots from the snapshot
        again = boot("snap-real-2", imageRef=snap)
        body = wait_status(nova, demo, again["id"], "ACTIVE")
        assert body["image"]["id"] == snap
    finally:
        demo.image.delete_image(snap, ignore_missing=True)


def test_create_image_cli_wait_and_location(cloud, demo, nova, boot):
    made = boot("snap-cli")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    shown = cloud.cli("server", "image", "create", "--name", "snap-cli-img", "--wait",
                      sid, cloud="kumo")
    try:
        assert shown["status"] == "active" and shown["name"] == "snap-cli-img"
        assert int(shown["size"]) > 0
        wait_for(lambda: task_of(nova, demo, sid) is None)
        # before 2.45: no body, the Location of the image
        resp = act(nova, demo, sid, {"createImage": {"name": "snap-cli-old"}})
        assert resp.status_code == 202 and not resp.content
        old = resp.headers["Location"].rsplit("/", 1)[1]
        assert resp.headers["Location"].endswith(f"/image/v2/images/{old}")
        # one snapshot at a time (Nova's task_state 409)
        msg = assert_fault(act(nova, demo, sid, {"createImage": {"name": "x"}}), 409,
                           "conflictingRequest")
        assert "task_state image_" in msg
        assert wait_for(lambda: demo.image.get_image(old).status == "active", 60)
        assert wait_for(lambda: task_of(nova, demo, sid) is None)
        demo.image.delete_image(old)
    finally:
        for image in demo.image.images():
            if image.name in ("snap-cli-img", "snap-cli-old"):
                demo.image.delete_image(image)


def test_create_image_of_a_stopped_server_and_bad_states(demo, nova, boot):
    made = boot("snap-stopped")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    assert act(nova, demo, sid, {"os-stop": None}).status_code == 202
    wait_status(nova, demo, sid, "SHUTOFF")
    resp = act(nova, demo, sid, {"createImage": {"name": "snap-stopped-img"}}, "2.45")
    assert resp.status_code == 202
    snap = resp.json()["image_id"]
    try:
        assert wait_for(lambda: demo.image.get_image(snap).status == "active", 60)
        assert wait_for(lambda: task_of(nova, demo, sid) is None)
        assert wait_status(nova, demo, sid, "SHUTOFF")
    finally:
        demo.image.delete_image(snap, ignore_missing=True)
    # rescued: Nova's 409, and no image is left behind
    before = {i.id for i in demo.image.images()}
    assert act(nova, demo, sid, {"rescue": None}).status_code == 200
    wait_status(nova, demo, sid, "RESCUE")
    assert_fault(act(nova, demo, sid, {"createImage": {"name": "snap-no"}}), 409,
                 "conflictingRequest")
    assert {i.id for i in demo.image.images()} == before
    # too many metadata items: 403, nothing made
    many = {f"k{i}": "v" for i in range(200)}
    assert act(nova, demo, sid, {"unrescue": None}).status_code == 202
    wait_status(nova, demo, sid, "ACTIVE")
    assert_fault(act(nova, demo, sid, {"createImage": {"name": "snap-no",
                                                       "metadata": many}}), 403,
                 "forbidden")
    assert {i.id for i in demo.image.images()} == before


def test_delete_image_while_the_snapshot_runs(demo, nova, boot):
    """Deleting the image at once: however the race ends (before the upload: 404 ->
    the agent reports the failure; after: a deleted active image), the server ends
    with no task and no image is left."""
    made = boot("snap-del")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    resp = act(nova, demo, sid, {"createImage": {"name": "snap-del-img"}}, "2.45")
    snap = resp.json()["image_id"]
    demo.image.delete_image(snap)
    assert wait_for(lambda: task_of(nova, demo, sid) is None, 60)
    assert wait_status(nova, demo, sid, "ACTIVE")
    assert not list(demo.image.images(name="snap-del-img"))


def test_shelve_snapshot_and_unshelve_from_it(admin, demo, nova, boot):
    made = boot("snap-shelve")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    demo.compute.shelve_server(sid)
    wait_status(nova, demo, sid, "SHELVED_OFFLOADED", 60)
    images = list(demo.image.images(name="snap-shelve-shelved"))
    assert len(images) == 1 and images[0].status == "active" and images[0].size > 0
    assert images[0].properties["image_type"] == "snapshot"
    shown = nova.request(admin, "GET", f"/servers/{sid}").json()["server"]
    assert shown["OS-EXT-SRV-ATTR:host"] is None
    demo.compute.unshelve_server(sid)
    body = wait_status(nova, demo, sid, "ACTIVE", 60)
    assert body["image"]["id"] != images[0].id  # the server keeps its own image
    # booted from the shelved image, which is deleted once the guest runs
    assert wait_for(lambda: not list(demo.image.images(name="snap-shelve-shelved")))
    host = nova.request(admin, "GET", f"/servers/{sid}").json()["server"][
        "OS-EXT-SRV-ATTR:host"]
    feed = nova.agent(admin, "GET", "/state", params={"host": host}).json()
    mine = next(i for i in feed["instances"] if i["id"] == sid)
    assert mine["image"]["id"] == body["image"]["id"] and mine["snapshot"] is None


def test_agent_snapshot_routes(admin, demo, nova, boot):
    made = boot("snap-routes")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    host = nova.request(admin, "GET", f"/servers/{sid}").json()["server"][
        "OS-EXT-SRV-ATTR:host"]
    path = f"/instances/{sid}/snapshots/00000000-0000-0000-0000-000000000001"
    # only the agents' role
    assert nova.agent(demo, "POST", path, json={"host": host, "error": "x"}
                      ).status_code == 403
    # no such snapshot in progress: 409, nothing changes
    resp = nova.agent(admin, "POST", path, json={"host": host, "error": "x"})
    assert resp.status_code == 409, resp.text
    root = nova.base.rsplit("/v2.1", 1)[0]
    resp = admin.session.request(root + "/kumo/v1" + path, "PUT", data=b"x",
                                 params={"host": host}, raise_exc=False,
                                 headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 409, resp.text
    assert nova.agent(admin, "POST", f"/instances/{sid}/snapshots/x",
                      json={"host": host}).status_code == 400
    resp = nova.agent(admin, "POST", "/instances/00000000-0000-0000-0000-00000000dead/"
                      "snapshots/x", json={"host": host, "error": "x"})
    assert resp.status_code == 404
    assert task_of(nova, demo, sid) is None


def test_rescue_boots_the_rescue_image(admin, demo, nova, boot, image_id):
    """The feed's ``rescue`` names the image the host boots (``rescue_image_ref``, else
    the server's own); an image the hosts cannot boot is a 400 that changes nothing."""
    made = boot("rescue-img")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    host = nova.request(admin, "GET", f"/servers/{sid}").json()["server"][
        "OS-EXT-SRV-ATTR:host"]

    def feed_item():
        feed = nova.agent(admin, "GET", "/state", params={"host": host}).json()
        return next(i for i in feed["instances"] if i["id"] == sid)
    other = demo.image.create_image(name="rescue-raw", disk_format="raw",
                                    container_format="bare", data=b"not a tree")
    try:
        msg = assert_fault(act(nova, demo, sid, {"rescue": {
            "rescue_image_ref": other.id}}), 400, "badRequest")
        assert "kumo_rootfs" in msg
        assert feed_item()["rescue"] is None
        assert wait_status(nova, demo, sid, "ACTIVE")
        resp = act(nova, demo, sid, {"rescue": {"rescue_image_ref": image_id}})
        assert resp.status_code == 200 and resp.json()["adminPass"]
        wait_status(nova, demo, sid, "RESCUE")
        item = feed_item()
        assert item["rescue"]["id"] == image_id and item["rescue"]["kumo_rootfs"] == "tar"
        assert item["image"]["id"] == image_id
        assert act(nova, demo, sid, {"unrescue": None}).status_code == 202
        wait_status(nova, demo, sid, "ACTIVE")
        assert feed_item()["rescue"] is None
        assert act(nova, demo, sid, {"rescue": None}).status_code == 200
        wait_status(nova, demo, sid, "RESCUE")
        assert feed_item()["rescue"]["id"] == image_id  # the server's own image
    finally:
        demo.image.delete_image(other)


def test_volume_backed_create_image_backup_and_shelve(cloud, demo, nova, net, image_id):
    """A server booted from a volume: createImage is Nova's volume-backed snapshot (a
    forced volume snapshot and an active image without data whose
    block_device_mapping names it), createBackup a 400, shelve offloads without an
    image and unshelve boots it again from its volume."""
    import json as _json
    volume = nova.base.rsplit("/compute", 1)[0] + "/volume/v3"
    server = cloud.cli("server", "create", "--flavor", "42", "--image", image_id,
                       "--boot-from-volume", "1", "--network", net[0].id, "--wait",
                       "snap-bfv", cloud="kumo")
    sid, made, snap_id = server["id"], None, None
    try:
        atts = nova.request(demo, "GET", f"/servers/{sid}/os-volume_attachments").json()[
            "volumeAttachments"]
        root = atts[0]["volumeId"]
        resp = act(nova, demo, sid, {"createImage": {"name": "snap-bfv-img"}}, "2.45")
        assert resp.status_code == 202, resp.text
        made = resp.json()["image_id"]
        image = demo.session.get(image_url(nova, made)).json()
        assert image["status"] == "active" and image["size"] == 0
        assert image["bdm_v2"] == "True" and image["root_device_name"] == "/dev/vda"
        assert "kumo_rootfs" not in image
        (bdm,) = _json.loads(image["block_device_mapping"])
        assert bdm["source_type"] == "snapshot" and bdm["boot_index"] == 0
        snap_id = bdm["snapshot_id"]
        snap = demo.session.get(f"{volume}/snapshots/{snap_id}").json()["snapshot"]
        assert snap["volume_id"] == root and snap["name"] == "snapshot for snap-bfv-img"
        assert bdm["volume_size"] == snap["size"] == 1
        assert task_of(nova, demo, sid) is None
        _boot_from_volume_snapshot_image(cloud, demo, nova, net, volume, made, snap_id)
        assert_fault(act(nova, demo, sid, {"createBackup": {
            "name": "b", "backup_type": "daily", "rotation": 1}}), 400, "badRequest")
        demo.compute.shelve_server(sid)
        wait_status(nova, demo, sid, "SHELVED_OFFLOADED", 60)
        assert not list(demo.image.images(name="snap-bfv-shelved"))
        demo.compute.unshelve_server(sid)
        wait_status(nova, demo, sid, "ACTIVE", 60)
        atts = nova.request(demo, "GET", f"/servers/{sid}/os-volume_attachments").json()[
            "volumeAttachments"]
        assert [a["volumeId"] for a in atts] == [root]
    finally:
        cloud.cli("server", "delete", "--wait", sid, cloud="kumo", parse=False)
        if made:
            demo.image.delete_image(made, ignore_missing=True)
        if snap_id:
            assert wait_for(lambda: demo.session.get(f"{volume}/snapshots/{snap_id}").json()[
                "snapshot"]["status"] == "available")
            demo.session.delete(f"{volume}/snapshots/{snap_id}")
        for v in demo.session.get(f"{volume}/volumes").json()["volumes"]:
            if v["id"] == locals().get("root"):
                assert wait_for(lambda: demo.session.get(f"{volume}/volumes/{v['id']}")
                                .json()["volume"]["status"] == "available")
                assert wait_for(lambda: demo.session.delete(
                    f"{volume}/volumes/{v['id']}", raise_exc=False).status_code == 202
                    or demo.session.get(f"{volume}/volumes/{v['id']}",
                                        raise_exc=False).status_code == 404)


def _boot_from_volume_snapshot_image(cloud, demo, nova, net, volume, image, snap_id):
    """A server booted from the volume-backed snapshot image (issue 16): as Nova, a new
    volume is made from the image's volume snapshot and is the server's root
    (``/dev/vda``); the server shows the image; the volume outlives the server (the
    image's mapping has ``delete_on_termination`` false). A mapping whose snapshot is
    gone is Nova's 400 and leaves no server or volume."""
    assert wait_for(lambda: demo.session.get(f"{volume}/snapshots/{snap_id}").json()[
        "snapshot"]["status"] == "available")

    def volumes():
        return {v["id"] for v in demo.session.get(f"{volume}/volumes").json()["volumes"]}
    before = volumes()
    server = cloud.cli("server", "create", "--flavor", "42", "--image", image,
                       "--network", net[0].id, "--wait", "snap-bfv-2", cloud="kumo")
    sid, root = server["id"], None
    try:
        shown = nova.request(demo, "GET", f"/servers/{sid}").json()["server"]
        assert shown["status"] == "ACTIVE" and shown["image"]["id"] == image, shown
        atts = nova.request(demo, "GET", f"/servers/{sid}/os-volume_attachments").json()[
            "volumeAttachments"]
        assert [a["device"] for a in atts] == ["/dev/vda"], atts
        root = atts[0]["volumeId"]
        assert volumes() - before == {root}
        vol = demo.session.get(f"{volume}/volumes/{root}").json()["volume"]
        assert vol["snapshot_id"] == snap_id and vol["size"] == 1, vol
        assert vol["status"] == "in-use"
    finally:
        cloud.cli("server", "delete", "--wait", sid, cloud="kumo", parse=False)
    if root:
        assert wait_for(lambda: demo.session.get(f"{volume}/volumes/{root}").json()[
            "volume"]["status"] == "available")
        assert demo.session.delete(f"{volume}/volumes/{root}").status_code == 202
        assert wait_for(lambda: demo.session.get(
            f"{volume}/volumes/{root}", raise_exc=False).status_code == 404)

    # an image naming a volume snapshot that does not exist: 400, nothing made
    import json as _json
    bad = demo.image.create_image(name="snap-bfv-bad", container_format="bare",
                                  disk_format="raw", bdm_v2="True",
                                  block_device_mapping=_json.dumps([{
                                      "source_type": "snapshot", "boot_index": 0,
                                      "destination_type": "volume", "volume_size": 1,
                                      "snapshot_id": "00000000-0000-0000-0000-000000000000"}]))
    try:
        servers_before = {s.id for s in demo.compute.servers()}
        resp = nova.request(demo, "POST", "/servers", json={"server": {
            "name": "snap-bfv-bad", "imageRef": bad.id, "flavorRef": "42",
            "networks": [{"uuid": net[0].id}]}})
        assert_fault(resp, 400, "badRequest")
        assert "Block Device Mapping is Invalid" in resp.json()["badRequest"]["message"]
        assert {s.id for s in demo.compute.servers()} == servers_before
        assert volumes() == before
    finally:
        demo.image.delete_image(bad.id, ignore_missing=True)


def test_deleting_a_shelved_server_deletes_its_image(demo, nova, boot):
    made = boot("snap-shelve-del")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    demo.compute.shelve_server(sid)
    wait_status(nova, demo, sid, "SHELVED_OFFLOADED", 60)
    assert len(list(demo.image.images(name="snap-shelve-del-shelved"))) == 1
    assert nova.request(demo, "DELETE", f"/servers/{sid}").status_code == 204
    assert wait_for(lambda: not list(demo.image.images(name="snap-shelve-del-shelved")))


def test_server_migrations_routes(admin, demo, nova, boot):
    """``/servers/{id}/migrations``: admin only, microversioned, in-progress live
    migrations only (the fake hosts' live migrations complete at once)."""
    made = boot("snap-srv-migs")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    assert_fault(nova.request(admin, "GET", f"/servers/{sid}/migrations", version="2.22"),
                 404, "itemNotFound")
    assert_fault(nova.request(demo, "GET", f"/servers/{sid}/migrations", version="2.23"),
                 403, "forbidden")
    assert act(nova, admin, sid, {"os-migrateLive": {"host": None,
                                                     "block_migration": "auto"}},
               "2.25").status_code == 202
    wait_status(nova, demo, sid, "ACTIVE")
    resp = nova.request(admin, "GET", f"/servers/{sid}/migrations", version="2.80")
    assert resp.status_code == 200 and resp.json() == {"migrations": []}
    done = nova.request(admin, "GET", "/os-migrations", version="2.59",
                        params={"instance_uuid": sid}).json()["migrations"][0]
    assert done["status"] == "completed"
    assert_fault(nova.request(admin, "GET", f"/servers/{sid}/migrations/{done['id']}",
                              version="2.23"), 404, "itemNotFound")
    assert_fault(nova.request(admin, "DELETE", f"/servers/{sid}/migrations/{done['id']}",
                              version="2.24"), 404, "itemNotFound")
    assert_fault(nova.request(admin, "POST", f"/servers/{sid}/migrations/{done['id']}/"
                              "action", json={"force_complete": None}, version="2.22"),
                 409, "conflictingRequest")
    assert_fault(nova.request(admin, "POST", f"/servers/{sid}/migrations/{done['id']}/"
                              "action", json={"force_complete": 1}, version="2.22"),
                 400, "badRequest")


def test_create_image_metadata_overrides_nova_properties(demo, nova, boot):
    """Nova updates its snapshot properties with the request's metadata last, so a
    caller's ``image_type`` is kept (Tempest's test_create_delete_image checks it)."""
    made = boot("snap-meta")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    resp = act(nova, demo, sid, {"createImage": {"name": "snap-meta-img",
                                                 "metadata": {"image_type": "test"}}}, "2.45")
    assert resp.status_code == 202, resp.text
    snap = resp.json()["image_id"]
    try:
        shown = nova.request(demo, "GET", f"/images/{snap}").json()["image"]
        assert shown["metadata"]["image_type"] == "test"
        assert shown["metadata"]["instance_uuid"] == sid
        assert wait_for(lambda: demo.image.get_image(snap).status == "active", 60)
        assert wait_for(lambda: task_of(nova, demo, sid) is None)
    finally:
        demo.image.delete_image(snap, ignore_missing=True)
