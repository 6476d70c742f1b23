"""Image tasks (``/v2/tasks``, the ``import`` type) through openstacksdk, the CLI and
httpx; the source is a file served on 127.0.0.1 by the test."""
from __future__ import annotations

import hashlib
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import threading

import httpx
import openstack

import pytest

from tests.api.image.conftest import assert_fault

DATA = b"task-import-" * 4000


@pytest.fixture(scope="module")
def source():
    """``(url_of_data, url_of_a_404)`` served on loopback."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == "/disk.img":
                self.send_response(200)
                self.send_header("Content-Length", str(len(DATA)))
                self.end_headers()
                self.wfile.write(DATA)
            else:
                self.send_error(404)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield f"{base}/disk.img", f"{base}/missing.img"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def http(cloud, admin):
    with httpx.Client(base_url=cloud.url + "/image", timeout=60,
                      headers={"X-Auth-Token": admin.session.get_token()}) as client:
        yield client


def _input(url: str, name: str) -> dict:
    return {"import_from": url, "import_from_format": "raw",
            "image_properties": {"name": name, "container_format": "bare"}}


def test_import_task_sdk(admin, source, unique):
    name = unique("task-img")
    task = admin.image.create_task(type="import", input=_input(source[0], name))
    assert task.status in ("pending", "processing", "success")
    task = admin.image.wait_for_task(task, status="success", wait=120)
    image_id = task.result["image_id"]
    try:
        img = admin.image.get_image(image_id)
        assert img.status == "active" and img.name == name and img.size == len(DATA)
        assert img.checksum == hashlib.md5(DATA).hexdigest()
        assert img.disk_format == "raw"
        assert task.expires_at
        assert task.id in [t.id for t in admin.image.tasks()]
        made_by = list(admin.image.image_tasks(image_id))
        assert [t.id for t in made_by] == [task.id]
        assert made_by[0].image_id == image_id
    finally:
        admin.image.delete_image(image_id)


def test_failed_import_leaves_no_image(admin, http, source, unique):
    name = unique("task-404")
    resp = http.post("/v2/tasks", json={"type": "import", "input": _input(source[1], name)})
    assert resp.status_code == 201, resp.text
    task = admin.image.wait_for_task(admin.image.get_task(resp.json()["id"]),
                                     status="failure", failures=["success"], wait=120)
    assert "404" in task.message
    assert not list(admin.image.images(name=name))


def test_shapes_and_errors(http, demo, cloud, source, unique):
    resp = http.post("/v2/tasks", json={"type": "import",
                                        "input": _input(source[0], unique("shape"))})
    body = resp.json()
    assert body["self"] == f"/v2/tasks/{body['id']}" and body["schema"] == "/v2/schemas/task"
    assert body["type"] == "import" and body["input"]["import_from"] == source[0]
    listed = http.get("/v2/tasks").json()
    assert listed["schema"] == "/v2/schemas/tasks" and listed["first"] == "/v2/tasks"
    row = next(t for t in listed["tasks"] if t["id"] == body["id"])
    assert "input" not in row and "result" not in row
    for schema in ("task", "tasks"):
        assert http.get(f"/v2/schemas/{schema}").json()["name"] == schema
    bad = [{"type": "export", "input": _input(source[0], "x")},
           {"type": "import", "input": {"import_from": source[0]}},
           {"type": "import", "input": _input("ftp://127.0.0.1/x", "x")},
           {"type": "import", "input": _input("http://192.0.2.1/x", "x")},
           # a DNS name other than localhost, even one resolving to loopback here:
           # httpx would resolve it again (DNS rebinding)
           {"type": "import", "input": _input(f"http://{socket.gethostname()}/x", "x")},
           {"type": "import", "input": {**_input(source[0], "x"), "image_properties": {
               "disk_format": "floppy"}}},
           {"type": "import"}, ["not", "an", "object"]]
    for body_ in bad:
        assert_fault(http.post("/v2/tasks", json=body_), 400, "Bad Request")
    assert_fault(http.post("/v2/tasks", json={"type": "import", "input": {
        **_input(source[0], "x"), "image_properties": {"os_glance_x": "1"}}}),
        403, "Forbidden")
    assert_fault(http.get("/v2/tasks/no-such-task"), 404, "Not Found")
    with pytest.raises(openstack.exceptions.ForbiddenException):
        list(demo.image.tasks())
    tasks = cloud.cli("image", "task", "list")
    assert body["id"] in [t["ID"] for t in tasks]
    shown = cloud.cli("image", "task", "show", body["id"])
    assert shown["type"] == "import"


@pytest.fixture(autouse=True, scope="module")
def _cleanup(admin):
    yield
    for img in list(admin.image.images()):
        if img.name and img.name.startswith("shape-"):
            try:
                admin.image.wait_for_status(img, "active", wait=60)
            except Exception:
                pass
            admin.image.delete_image(img.id, ignore_missing=True)
