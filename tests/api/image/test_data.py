"""Image data: streamed upload (larger than the 1 MiB body cap), download with ranges,
upload errors that leave the image queued, glance-direct import, the store quota."""
from __future__ import annotations

import hashlib
import os
import time

import pytest

from tests.api.image.conftest import assert_fault


def _chunks(data: bytes, size: int = 1 << 20):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_stream_upload_8mib(glance, demo, image):
    data = os.urandom(8 << 20)
    resp = glance.upload(demo, image["id"], _chunks(data))  # chunked transfer encoding
    assert resp.status_code == 204, resp.text
    body = glance.request(demo, "GET", f"/v2/images/{image['id']}").json()
    assert body["status"] == "active" and body["size"] == len(data)
    assert body["os_hash_value"] == hashlib.sha512(data).hexdigest()
    resp = glance.request(demo, "GET", f"/v2/images/{image['id']}/file", stream=True)
    assert resp.headers["Content-MD5"] == hashlib.md5(data).hexdigest()
    assert int(resp.headers["Content-Length"]) == len(data)
    sha = hashlib.sha512()
    for chunk in resp.iter_content(1 << 16):
        sha.update(chunk)
    assert sha.hexdigest() == body["os_hash_value"]


def test_ranges(glance, demo, image):
    data = bytes(range(256)) * 4
    glance.upload(demo, image["id"], data)
    url = f"/v2/images/{image['id']}/file"
    for header, part in (("bytes=0-9", data[:10]), ("bytes=1000-", data[1000:]),
                         ("bytes=-24", data[-24:]), ("bytes=1020-5000", data[1020:])):
        resp = glance.request(demo, "GET", url, headers={"Range": header})
        assert resp.status_code == 206, resp.text
        assert resp.content == part
        start = len(data) - len(part) if header != "bytes=0-9" else 0
        assert resp.headers["Content-Range"] == \
            f"bytes {start}-{start + len(part) - 1}/{len(data)}"
    resp = glance.request(demo, "GET", url, headers={"Range": "bytes=2000-"})
    assert resp.status_code == 416
    assert resp.headers["Content-Range"] == f"bytes */{len(data)}"


def test_queued_download_is_204(glance, demo, image):
    assert glance.request(demo, "GET", f"/v2/images/{image['id']}/file").status_code == 204


def test_upload_to_active_is_409(glance, demo, image):
    assert glance.upload(demo, image["id"], b"one").status_code == 204
    assert_fault(glance.upload(demo, image["id"], b"two"), 409, "Conflict")
    assert glance.request(demo, "GET", f"/v2/images/{image['id']}/file").content == b"one"


def test_checksum_mismatch_leaves_queued(cloud, glance, demo, image):
    resp = glance.upload(demo, image["id"], b"data", **{"Content-MD5": "0" * 32})
    assert_fault(resp, 400, "Bad Request")
    body = glance.request(demo, "GET", f"/v2/images/{image['id']}").json()
    assert body["status"] == "queued" and body["size"] is None
    store = cloud.state_dir / "images"
    assert not (store / image["id"]).exists()
    assert not list((store / ".tmp").iterdir())


def test_glance_direct_import(glance, demo, image):
    iid = image["id"]
    assert_fault(glance.request(demo, "POST", f"/v2/images/{iid}/import",
                                json={"method": {"name": "glance-direct"}}), 409, "Conflict")
    resp = glance.request(demo, "PUT", f"/v2/images/{iid}/stage", data=b"staged!",
                          headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text
    assert glance.request(demo, "GET", f"/v2/images/{iid}").json()["status"] == "uploading"
    assert_fault(glance.request(demo, "POST", f"/v2/images/{iid}/import",
                                json={"method": {"name": "web-download"}}),
                 400, "Bad Request")
    resp = glance.request(demo, "POST", f"/v2/images/{iid}/import",
                          json={"method": {"name": "glance-direct"}})
    assert resp.status_code == 202, resp.text
    for _ in range(100):
        body = glance.request(demo, "GET", f"/v2/images/{iid}").json()
        if body["status"] == "active":
            break
        assert body["status"] == "importing"
        time.sleep(0.05)
    assert body["status"] == "active" and body["size"] == 7
    assert glance.request(demo, "GET", f"/v2/images/{iid}/file").content == b"staged!"
    # the import is an api_image_import task of this image (Image API 2.12; Tempest's
    # test_image_glance_direct_import), with the import request's id
    for _ in range(100):
        tasks = glance.request(demo, "GET", f"/v2/images/{iid}/tasks").json()["tasks"]
        if tasks and tasks[0]["status"] == "success":
            break
        time.sleep(0.05)
    (task,) = tasks
    assert task["status"] == "success" and task["type"] == "api_image_import"
    assert task["image_id"] == iid and task["request_id"] == resp.headers[
        "x-openstack-request-id"]
    assert task["user_id"] == demo.current_user_id
    assert task["input"]["import_req"]["method"]["name"] == "glance-direct"
    assert task["expires_at"] is not None


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    """A separate server (SQLite) whose image store holds at most 4 MiB (the bootstrap
    cirros image, about 1 MiB, is in it too)."""
    from tests.conftest import _start

    os.environ["KUMO_IMAGE_STORE_QUOTA_BYTES"] = str(4 << 20)
    try:
        server = _start(tmp_path_factory.mktemp("kumo-quota"), None, "sqlite")
    finally:
        del os.environ["KUMO_IMAGE_STORE_QUOTA_BYTES"]
    yield server
    server.process.terminate()
    server.process.wait(10)


def test_quota_exceeded_leaves_nothing(small_store):
    from tests.api.image.conftest import Glance

    conn = small_store.connect("kumo")
    glance = Glance(small_store.url + "/image")
    first = glance.create(conn)
    assert glance.upload(conn, first["id"], b"x" * (700 << 10)).status_code == 204
    second = glance.create(conn)
    resp = glance.upload(conn, second["id"], _chunks(os.urandom(4 << 20), 64 << 10))
    assert_fault(resp, 413, "Request Entity Too Large")
    body = glance.request(conn, "GET", f"/v2/images/{second['id']}").json()
    assert body["status"] == "queued" and body["size"] is None
    store = small_store.state_dir / "images"
    stored = {p.name for p in store.iterdir() if p.is_file()}
    assert first["id"] in stored and second["id"] not in stored
    assert not list((store / ".tmp").iterdir())
    # a smaller one still fits
    assert glance.upload(conn, second["id"], b"y" * 1000).status_code == 204
    conn.close()


def test_client_disconnect_leaves_queued(cloud, glance, demo, image):
    import socket
    from urllib.parse import urlparse

    url = urlparse(cloud.url)
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall((f"PUT /image/v2/images/{image['id']}/file HTTP/1.1\r\n"
                      f"Host: {url.netloc}\r\nX-Auth-Token: {demo.auth_token}\r\n"
                      "Content-Type: application/octet-stream\r\n"
                      f"Content-Length: {4 << 20}\r\n\r\n").encode() + b"z" * (256 << 10))
        time.sleep(0.3)
    for _ in range(50):
        body = glance.request(demo, "GET", f"/v2/images/{image['id']}").json()
        if body["status"] == "queued":
            break
        time.sleep(0.05)
    assert body["status"] == "queued" and body["size"] is None
    store = cloud.state_dir / "images"
    assert not (store / image["id"]).exists()
    assert not list((store / ".tmp").iterdir())
