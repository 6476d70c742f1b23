"""Images through openstacksdk and raw calls: create, show, list, JSON patch, tags,
delete, deactivate, discovery, schemas and faults."""
from __future__ import annotations

import hashlib

import openstack
import pytest

from tests.api.image.conftest import assert_fault

V21 = "application/openstack-images-v2.1-json-patch"


def test_sdk_create_upload_download(demo):
    data = b"kumo-image-" * 5000
    img = demo.image.create_image(name="sdk-img", data=data, disk_format="raw",
                                  container_format="bare", allow_duplicates=True)
    try:
        img = demo.image.get_image(img.id)
        assert img.status == "active"
        assert img.size == len(data)
        assert img.checksum == hashlib.md5(data).hexdigest()
        assert img.hash_algo == "sha512"
        assert img.hash_value == hashlib.sha512(data).hexdigest()
        got = demo.image.download_image(img)  # verifies Content-MD5
        assert got.content == data
    finally:
        demo.image.delete_image(img)
    with pytest.raises(openstack.exceptions.NotFoundException):
        demo.image.get_image(img.id)


def test_create_shape(glance, demo, image):
    assert image["status"] == "queued"
    assert image["visibility"] == "shared"
    assert image["owner"] == demo.current_project_id
    for key in ("checksum", "size", "os_hash_value", "virtual_size"):
        assert image[key] is None
    assert image["self"] == f"/v2/images/{image['id']}"
    assert image["file"] == f"/v2/images/{image['id']}/file"
    assert image["schema"] == "/v2/schemas/image"
    assert image["tags"] == [] and image["protected"] is False


def test_sdk_update_properties_and_tags(demo, image):
    demo.image.update_image(image["id"], kumo_rootfs="tar", min_ram=64)
    got = demo.image.get_image(image["id"])
    assert got.properties["kumo_rootfs"] == "tar" and got.min_ram == 64
    demo.image.add_tag(image["id"], "blue")
    demo.image.add_tag(image["id"], "green")
    demo.image.remove_tag(image["id"], "green")
    assert demo.image.get_image(image["id"]).tags == ["blue"]
    assert [i.id for i in demo.image.images(tag="blue")] == [image["id"]]


def test_patch_ops(glance, demo, image):
    iid = image["id"]
    resp = glance.patch(demo, iid, [{"op": "add", "path": "/color", "value": "red"},
                                    {"op": "replace", "path": "/name", "value": "n2"}])
    assert resp.status_code == 200, resp.text
    assert resp.json()["color"] == "red" and resp.json()["name"] == "n2"
    resp = glance.patch(demo, iid, [{"op": "remove", "path": "/color"}])
    assert "color" not in resp.json()
    assert_fault(glance.patch(demo, iid, [{"op": "replace", "path": "/nope", "value": "x"}]),
                 409, "Conflict")
    assert_fault(glance.patch(demo, iid, [{"op": "remove", "path": "/nope"}]),
                 409, "Conflict")


@pytest.mark.parametrize("ops,status,title", [
    ([{"op": "replace", "path": "/status", "value": "active"}], 403, "Forbidden"),
    ([{"op": "replace", "path": "/size", "value": 5}], 403, "Forbidden"),
    ([{"op": "add", "path": "/os_glance_x", "value": "1"}], 403, "Forbidden"),
    ([{"op": "remove", "path": "/name"}], 403, "Forbidden"),
    ([{"op": "move", "path": "/name", "from": "/x"}], 400, "Bad Request"),
    ([{"op": "replace", "path": "/disk_format", "value": "floppy"}], 400, "Bad Request"),
    ([{"op": "replace", "path": "/a/b", "value": "x"}], 400, "Bad Request"),
    ([{"op": "add", "path": "/k", "value": 5}], 400, "Bad Request"),
    ({"op": "add"}, 400, "Bad Request"),
])
def test_bad_patch_changes_nothing(glance, demo, image, ops, status, title):
    ops_all = [{"op": "replace", "path": "/name", "value": "changed"}]
    ops_all += ops if isinstance(ops, list) else []
    resp = glance.patch(demo, image["id"], ops_all if isinstance(ops, list) else ops)
    assert_fault(resp, status, title)
    assert glance.request(demo, "GET", f"/v2/images/{image['id']}").json()["name"] \
        == image["name"]


def test_patch_media_type(glance, demo, image):
    resp = glance.patch(demo, image["id"], [], media_type="application/json")
    assert_fault(resp, 415, "Unsupported Media Type")


@pytest.mark.parametrize("attrs,status", [
    ({"disk_format": "floppy"}, 400), ({"container_format": "box"}, 400),
    ({"visibility": "everyone"}, 400), ({"status": "active"}, 403),
    ({"checksum": "x"}, 403), ({"visibility": "public"}, 403),
    ({"owner": "someone-else"}, 403), ({"foo": 1}, 400),
])
def test_create_errors(glance, demo, attrs, status):
    resp = glance.request(demo, "POST", "/v2/images", json={"name": "bad", **attrs})
    assert_fault(resp, status, {400: "Bad Request", 403: "Forbidden"}[status])
    assert not list(demo.image.images(name="bad"))


def test_admin_publicizes(glance, admin, demo):
    body = glance.create(admin, visibility="public")
    try:
        assert glance.request(demo, "GET", f"/v2/images/{body['id']}").status_code == 200
        assert_fault(glance.patch(demo, body["id"], [
            {"op": "replace", "path": "/name", "value": "x"}]), 403, "Forbidden")
        assert_fault(glance.request(demo, "DELETE", f"/v2/images/{body['id']}"),
                     403, "Forbidden")
    finally:
        glance.request(admin, "DELETE", f"/v2/images/{body['id']}")


def test_protected_delete(glance, demo, image):
    glance.patch(demo, image["id"], [{"op": "replace", "path": "/protected", "value": True}])
    assert_fault(glance.request(demo, "DELETE", f"/v2/images/{image['id']}"),
                 403, "Forbidden")


def test_isolation(glance, demo, other, image):
    iid = image["id"]
    glance.patch(demo, iid, [{"op": "replace", "path": "/visibility", "value": "private"}])
    for method in ("GET", "DELETE"):
        assert_fault(glance.request(other, method, f"/v2/images/{iid}"), 404, "Not Found")
    assert_fault(glance.patch(other, iid, []), 404, "Not Found")
    assert iid not in [i["id"] for i in glance.request(
        other, "GET", "/v2/images").json()["images"]]


def test_community_listed_only_when_asked(glance, demo, other, image):
    iid = image["id"]
    glance.patch(demo, iid, [{"op": "replace", "path": "/visibility", "value": "community"}])
    assert glance.request(other, "GET", f"/v2/images/{iid}").status_code == 200
    ids = lambda **p: [i["id"] for i in glance.request(  # noqa: E731
        other, "GET", "/v2/images", params=p).json()["images"]]
    assert iid not in ids()
    assert iid in ids(visibility="community")


def test_deactivate(glance, admin, demo, image):
    glance.upload(demo, image["id"], b"abc")
    admin.image.deactivate_image(image["id"])
    assert demo.image.get_image(image["id"]).status == "deactivated"
    assert_fault(glance.request(demo, "GET", f"/v2/images/{image['id']}/file"),
                 403, "Forbidden")
    assert glance.request(admin, "GET", f"/v2/images/{image['id']}/file").content == b"abc"
    # Glance's default policy: the owner project's members may reactivate too.
    admin.image.reactivate_image(image["id"])
    assert glance.request(demo, "GET", f"/v2/images/{image['id']}/file").content == b"abc"


def test_list_filters_sort_and_pages(glance, demo, unique):
    tag = unique("tag")
    made = [glance.create(demo, name=f"{tag}-{n}", tags=[tag],
                          disk_format="qcow2" if n % 2 else "raw") for n in range(5)]
    try:
        def names(**params):
            body = glance.request(demo, "GET", "/v2/images", params={"tag": tag, **params})
            assert body.status_code == 200, body.text
            return [i["name"] for i in body.json()["images"]], body.json()
        got, body = names(sort="name:asc")
        assert got == [f"{tag}-{n}" for n in range(5)]
        assert body["schema"] == "/v2/schemas/images" and body["first"].startswith("/v2/images")
        assert names(sort_key="name", sort_dir="desc")[0][0] == f"{tag}-4"
        assert names(disk_format="qcow2", sort="name:asc")[0] == [f"{tag}-1", f"{tag}-3"]
        assert names(name=f"in:{tag}-0,{tag}-2")[0].__len__() == 2
        page, body = names(sort="name:asc", limit=2)
        assert page == [f"{tag}-0", f"{tag}-1"] and "marker=" in body["next"]
        page2 = glance.request(demo, "GET", body["next"]).json()
        assert [i["name"] for i in page2["images"]] == [f"{tag}-2", f"{tag}-3"]
        assert len(list(demo.image.images(tag=tag, limit=2))) == 5  # sdk follows next
        for params in ({"sort_key": "bogus"}, {"sort": "name:up"}, {"limit": "x"},
                       {"marker": "nope"}, {"sort": "name", "sort_key": "name"}):
            assert_fault(glance.request(demo, "GET", "/v2/images", params=params),
                         400, "Bad Request")
    finally:
        for body in made:
            glance.request(demo, "DELETE", f"/v2/images/{body['id']}")


def test_discovery_and_schemas(cloud, glance, demo, admin):
    import requests
    resp = requests.get(cloud.url + "/image", timeout=10)
    assert resp.status_code == 300
    assert resp.json()["versions"][0]["links"][0]["href"] == cloud.url + "/image/v2/"
    health = requests.get(cloud.url + "/image/healthcheck", timeout=10)
    assert health.status_code == 200 and health.text == "OK"
    for name in ("image", "images", "member", "members"):
        body = glance.request(demo, "GET", f"/v2/schemas/{name}").json()
        assert body["name"] == name
    schema = glance.request(demo, "GET", "/v2/schemas/image").json()
    assert "ploop" in schema["properties"]["disk_format"]["enum"]
    info = glance.request(demo, "GET", "/v2/info/import").json()
    assert info["import-methods"]["value"] == ["glance-direct"]
    stores = glance.request(demo, "GET", "/v2/info/stores").json()["stores"]
    assert stores == [{"id": "file", "description": stores[0]["description"],
                       "default": True}]
    assert_fault(glance.request(demo, "GET", "/v2/images/nope"), 404, "Not Found")
    services = {s.type: s.name for s in admin.identity.services()}
    assert services["image"] == "glance"
