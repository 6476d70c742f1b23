"""Glance's finer image rules: the older JSON-patch form, deactivate/reactivate by
the owner, size filters, ``stores``, owner changes, reserved attributes, hidden
images, protected deletion and empty-id routes (openstacksdk, the CLI, httpx)."""
from __future__ import annotations

import httpx
import openstack
import pytest

from tests.api.image.conftest import assert_fault

V20 = "application/openstack-images-v2.0-json-patch"


@pytest.fixture(scope="module")
def http(cloud, demo):
    with httpx.Client(base_url=cloud.url + "/image", timeout=60,
                      headers={"X-Auth-Token": demo.session.get_token()}) as client:
        yield client


def test_v20_patch_form(glance, demo, image):
    iid = image["id"]
    resp = glance.patch(demo, iid, [{"replace": "/name", "value": "old-form"},
                                    {"add": "/color", "value": "red"}], media_type=V20)
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "old-form" and resp.json()["color"] == "red"
    resp = glance.patch(demo, iid, [{"remove": "/color"}], media_type=V20)
    assert resp.status_code == 200 and "color" not in resp.json()
    for bad in ([{"replace": "/name", "add": "/x", "value": "y"}], [{"value": "y"}],
                [{"op": "replace", "path": "/name", "value": "y"}]):
        assert_fault(glance.patch(demo, iid, bad, media_type=V20), 400, "Bad Request")
    assert glance.request(demo, "GET", f"/v2/images/{iid}").json()["name"] == "old-form"


def test_owner_deactivates_and_reactivates(glance, demo, other, image):
    iid = image["id"]
    glance.upload(demo, iid, b"xyz")
    glance.patch(demo, iid, [{"op": "add", "path": "/visibility", "value": "community"}])
    assert_fault(glance.request(other, "POST", f"/v2/images/{iid}/actions/deactivate"),
                 403, "Forbidden")
    demo.image.deactivate_image(iid)
    assert demo.image.get_image(iid).status == "deactivated"
    for conn in (demo, other):
        assert_fault(glance.request(conn, "GET", f"/v2/images/{iid}/file"), 403,
                     "Forbidden")
    demo.image.reactivate_image(iid)
    assert glance.request(other, "GET", f"/v2/images/{iid}/file").content == b"xyz"


def test_deactivate_queued_is_403(glance, demo, image):
    assert_fault(glance.request(demo, "POST",
                                f"/v2/images/{image['id']}/actions/deactivate"),
                 403, "Forbidden")


def test_size_filters_and_stores(glance, demo, unique, http):
    tag = unique("size")
    made = []
    try:
        for n in (10, 20, 30):
            body = glance.create(demo, name=f"{tag}-{n}", tags=[tag])
            glance.upload(demo, body["id"], b"x" * n)
            made.append(body["id"])

        def sizes(**params):
            resp = http.get("/v2/images", params={"tag": tag, **params})
            assert resp.status_code == 200, resp.text
            return sorted(i["size"] for i in resp.json()["images"])
        assert sizes() == [10, 20, 30]
        assert sizes(size=20) == [20]
        assert sizes(size_min=15) == [20, 30]
        assert sizes(size_max=20) == [10, 20]
        assert sizes(size_min=15, size_max=25) == [20]
        assert [i.size for i in demo.image.images(tag=tag, size_min=25)] == [30]
        assert_fault(http.get("/v2/images", params={"size": "big"}), 400, "Bad Request")
        shown = http.get(f"/v2/images/{made[0]}").json()
        assert shown["stores"] == "file"
        queued = glance.create(demo, name=f"{tag}-q")
        made.append(queued["id"])
        assert "stores" not in queued
    finally:
        for iid in made:
            glance.request(demo, "DELETE", f"/v2/images/{iid}")


def test_stores_after_import(glance, demo, image):
    iid = image["id"]
    resp = glance.request(demo, "PUT", f"/v2/images/{iid}/stage", data=b"staged",
                          headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text
    resp = glance.request(demo, "POST", f"/v2/images/{iid}/import",
                          json={"method": {"name": "glance-direct"}})
    assert resp.status_code == 202, resp.text
    img = demo.image.wait_for_status(demo.image.get_image(iid), "active", wait=60)
    assert glance.request(demo, "GET", f"/v2/images/{iid}").json()["stores"] == "file"
    assert img.size == 6


def test_owner_changes(glance, admin, demo, other, image):
    iid = image["id"]
    assert_fault(glance.patch(demo, iid, [{"replace": "/owner",
                                           "value": other.project_id_}], media_type=V20),
                 403, "Forbidden")
    resp = glance.patch(admin, iid, [{"replace": "/owner", "value": other.project_id_}],
                        media_type=V20)
    assert resp.status_code == 200 and resp.json()["owner"] == other.project_id_
    assert glance.request(other, "GET", f"/v2/images/{iid}").status_code == 200
    resp = glance.patch(admin, iid, [{"op": "replace", "path": "/owner",
                                      "value": demo.current_project_id}])
    assert resp.json()["owner"] == demo.current_project_id


@pytest.mark.parametrize("name,status,title", [
    ("os_glance_foo", 403, "Forbidden"), ("deleted", 403, "Forbidden"),
    ("deleted_at", 403, "Forbidden"), ("location", 403, "Forbidden"),
    ("checksum", 403, "Forbidden"), ("created_at", 403, "Forbidden"),
])
def test_reserved_refused(glance, demo, image, name, status, title):
    assert_fault(glance.request(demo, "POST", "/v2/images",
                                json={"name": "reserved", name: "x"}), status, title)
    assert_fault(glance.patch(demo, image["id"], [{"add": f"/{name}", "value": "x"}],
                              media_type=V20), status, title)
    assert not list(demo.image.images(name="reserved"))


def test_base_attribute_removal_refused(glance, demo, image):
    for name in ("name", "min_ram", "visibility"):
        assert_fault(glance.patch(demo, image["id"], [{"remove": f"/{name}"}],
                                  media_type=V20), 403, "Forbidden")


def test_hidden_images(glance, demo, image, http):
    iid = image["id"]
    glance.patch(demo, iid, [{"op": "replace", "path": "/os_hidden", "value": True}])
    listed = lambda **p: [i["id"] for i in http.get(  # noqa: E731
        "/v2/images", params=p).json()["images"]]
    assert iid not in listed()
    assert iid in listed(os_hidden="true")
    assert iid not in listed(os_hidden="false")
    assert http.get(f"/v2/images/{iid}").json()["os_hidden"] is True
    assert iid not in [i.id for i in demo.image.images()]
    assert iid in [i.id for i in demo.image.images(is_hidden=True)]


def test_protected_delete_cli(cloud, glance, demo, unique):
    name = unique("prot")
    img = cloud.cli("image", "create", "--protected", "--disk-format", "raw",
                    "--container-format", "bare", name, cloud="kumo")
    res = cloud.cli("image", "delete", name, cloud="kumo", check=False)
    assert res.returncode != 0
    with pytest.raises(openstack.exceptions.ForbiddenException):
        demo.image.delete_image(img["id"])
    assert_fault(glance.request(demo, "DELETE", f"/v2/images/{img['id']}"), 403,
                 "Forbidden")
    cloud.cli("image", "set", "--unprotected", name, cloud="kumo", parse=False)
    cloud.cli("image", "delete", name, cloud="kumo", parse=False)


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH", "PUT"])
def test_empty_id_is_404(http, method):
    assert_fault(http.request(method, "/v2/images/"), 404, "Not Found")
    assert_fault(http.request(method, "/v2/images//file"), 404, "Not Found")
    assert http.get("/v2/images").status_code == 200
