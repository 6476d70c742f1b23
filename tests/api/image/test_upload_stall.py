"""Stalled request bodies (issue 12): uploads that send a byte and stop hold no worker
thread, so the whole API keeps answering; a body idle for ``body_idle_timeout_s`` is a
408 that leaves the image ``queued``; a project has at most
``max_concurrent_uploads_per_project`` uploads in progress (413 past it).

A stalled upload here is a raw socket that sent the headers of ``PUT .../file`` (or
``.../stage``) announcing 1,000 bytes, then one byte, and nothing more. Every wait is
bounded (request timeouts of 10 s, loops bounded in count and time); no timing is
asserted.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from contextlib import contextmanager
from urllib.parse import urlparse

import httpx
import openstack
import pytest

from tests.api.image.conftest import assert_fault
from tests.conftest import BIN, _start

TIMEOUT = 10  # s, per request: a hung API fails the test instead of passing slowly


@contextmanager
def _server(tmp_path_factory, name: str, **settings):
    """A separate ``kumo up`` (SQLite) with ``KUMO_<NAME>`` settings."""
    env = {f"KUMO_{k.upper()}": str(v) for k, v in settings.items()}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        server = _start(tmp_path_factory.mktemp(name), None, "sqlite")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        yield server
    finally:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()


@pytest.fixture(scope="module")
def stall_cloud(tmp_path_factory):
    """No per-project upload limit, and an idle timeout far longer than the test."""
    with _server(tmp_path_factory, "kumo-stall", max_concurrent_uploads_per_project=0,
                 body_idle_timeout_s=300) as server:
        yield server


@pytest.fixture(scope="module")
def quick_cloud(tmp_path_factory):
    """Bodies idle for 1 s time out."""
    with _server(tmp_path_factory, "kumo-idle", body_idle_timeout_s=1) as server:
        yield server


def _client(cloud, conn) -> httpx.Client:
    return httpx.Client(base_url=cloud.url, timeout=TIMEOUT,
                        headers={"X-Auth-Token": conn.auth_token})


def _create_images(client: httpx.Client, count: int) -> list[str]:
    ids = []
    for i in range(count):
        resp = client.post("/image/v2/images", json={
            "name": f"stall-{i}", "disk_format": "raw", "container_format": "bare"})
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["id"])
    return ids


def _stall(cloud, token: str, image_id: str, route: str = "file") -> socket.socket:
    """Open an upload to ``route`` that announces 1,000 bytes and sends one."""
    url = urlparse(cloud.url)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    sock.sendall((f"PUT /image/v2/images/{image_id}/{route} HTTP/1.1\r\n"
                  f"Host: {url.netloc}\r\nX-Auth-Token: {token}\r\n"
                  "Content-Type: application/octet-stream\r\n"
                  "Content-Length: 1000\r\n\r\nx").encode())
    return sock


def _statuses(client: httpx.Client, ids: list[str]) -> dict[str, str]:
    resp = client.get("/image/v2/images", params={"limit": 1000})
    assert resp.status_code == 200, resp.text
    wanted = set(ids)
    return {i["id"]: i["status"] for i in resp.json()["images"] if i["id"] in wanted}


def _wait_statuses(client: httpx.Client, ids: list[str], expected: set[str],
                   seconds: float = 60) -> dict[str, str]:
    """Poll until every image of ``ids`` has a status in ``expected`` (bounded)."""
    deadline = time.monotonic() + seconds
    while True:
        statuses = _statuses(client, ids)
        if len(statuses) == len(ids) and set(statuses.values()) <= expected:
            return statuses
        if time.monotonic() > deadline:
            return statuses
        time.sleep(0.2)


def _store_is_clean(cloud, ids: list[str], uploads_in_progress: bool = False) -> None:
    """No data of ``ids`` in the store, nor (unless ``uploads_in_progress``) any
    temporary file."""
    store = cloud.state_dir / "images"
    if not uploads_in_progress:
        assert not list((store / ".tmp").iterdir())
    for image_id in ids:
        assert not (store / image_id).exists()
        assert not (store / "staging" / image_id).exists()


def test_200_stalled_uploads_leave_the_api_answering(stall_cloud):
    admin = stall_cloud.connect("kumo-admin")
    demo = stall_cloud.connect("kumo")
    client = _client(stall_cloud, demo)
    socks: list[socket.socket] = []
    try:
        ids = _create_images(client, 200)
        for n, image_id in enumerate(ids):  # half uploads, half stagings
            socks.append(_stall(stall_cloud, demo.auth_token, image_id,
                                "file" if n % 2 else "stage"))
        # every one has been dispatched and is waiting for its body (in the old design
        # each held one of the 40 worker threads, and this list would hang)
        statuses = _wait_statuses(client, ids, {"saving", "uploading"})
        assert set(statuses.values()) == {"saving", "uploading"}, statuses
        assert len(statuses) == 200

        # identity: a password login through the CLI, and token validation
        proc = subprocess.run(
            [str(BIN / "openstack"), "--os-cloud", "kumo-admin", "token", "issue",
             "-f", "json"], capture_output=True, text=True, timeout=60,
            env=stall_cloud.env)
        assert proc.returncode == 0, proc.stderr
        token = json.loads(proc.stdout)["id"]
        resp = client.get("/identity/v3/auth/tokens",
                          headers={"X-Subject-Token": token,
                                   "X-Auth-Token": admin.auth_token})
        assert resp.status_code == 200, resp.text
        # networking and compute through openstacksdk (10 s per API call)
        sdk = openstack.connection.Connection(
            auth={"auth_url": stall_cloud.url + "/identity", "username": "admin",
                  "password": "secret", "project_name": "admin",
                  "user_domain_id": "default", "project_domain_id": "default"},
            identity_api_version="3", region_name="RegionOne", api_timeout=TIMEOUT)
        try:
            assert "public" in {n.name for n in sdk.network.networks()}
            assert isinstance(list(sdk.compute.servers()), list)
        finally:
            sdk.close()
        # and a small upload of another image still goes through
        other = _create_images(client, 1)[0]
        resp = client.put(f"/image/v2/images/{other}/file", content=b"fine",
                          headers={"Content-Type": "application/octet-stream"})
        assert resp.status_code == 204, resp.text
        assert _statuses(client, [other]) == {other: "active"}
    finally:
        for sock in socks:
            sock.close()
    # released: every image is queued again, with no data kept
    statuses = _wait_statuses(client, ids, {"queued"})
    assert set(statuses.values()) == {"queued"}, statuses
    _store_is_clean(stall_cloud, ids)
    client.close()
    admin.close()
    demo.close()


def _response(sock: socket.socket) -> tuple[int, dict, bytes]:
    """Read the reply on a raw socket: status, headers (lower-case), body."""
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    body = resp.read()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


@pytest.mark.parametrize("route", ["file", "stage"])
def test_idle_upload_times_out_with_408_and_stays_queued(quick_cloud, route):
    demo = quick_cloud.connect("kumo")
    client = _client(quick_cloud, demo)
    image_id = _create_images(client, 1)[0]
    with _stall(quick_cloud, demo.auth_token, image_id, route) as sock:
        status, headers, body = _response(sock)  # after about 1 s of silence
        assert status == 408, body
        fault = json.loads(body)
        assert fault["code"] == "408 Request Timeout"
        assert fault["title"] == "Request Timeout"
        assert "no data for 1 seconds" in fault["message"]
        assert headers.get("connection") == "close"
        assert sock.recv(1) == b""  # the server closed the connection
    assert _statuses(client, [image_id]) == {image_id: "queued"}
    body = client.get(f"/image/v2/images/{image_id}").json()
    assert body["size"] is None and body["checksum"] is None
    _store_is_clean(quick_cloud, [image_id])
    # the image takes a complete upload afterwards
    resp = client.put(f"/image/v2/images/{image_id}/{route}", content=b"complete",
                      headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text
    client.close()
    demo.close()


def test_idle_buffered_body_times_out_with_408(quick_cloud):
    """A JSON body that stalls (here a login) is a 408 in the service's fault format."""
    url = urlparse(quick_cloud.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall((f"POST /identity/v3/auth/tokens HTTP/1.1\r\nHost: {url.netloc}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                      '{"auth":').encode())
        status, headers, body = _response(sock)
    assert status == 408, body
    assert json.loads(body)["error"]["code"] == 408
    assert headers.get("connection") == "close"


def test_concurrent_uploads_per_project_are_limited(cloud, glance, demo, other):
    """The session server has the default limit (10): with 10 uploads of demo's in
    progress, an 11th (upload or stage) is a 413 that changes nothing, while another
    project still uploads; once they end, demo uploads again."""
    client = _client(cloud, demo)
    ids = _create_images(client, 12)
    held, spare, spare2 = ids[:10], ids[10], ids[11]
    socks = []
    try:
        for n, image_id in enumerate(held):
            socks.append(_stall(cloud, demo.auth_token, image_id,
                                "file" if n % 2 else "stage"))
        statuses = _wait_statuses(client, held, {"saving", "uploading"})
        assert set(statuses.values()) == {"saving", "uploading"}, statuses
        message = assert_fault(glance.upload(demo, spare, b"one too many"), 413,
                               "Request Entity Too Large")
        assert "10 uploads in progress" in message
        assert_fault(glance.request(demo, "PUT", f"/v2/images/{spare2}/stage",
                                    data=b"staged",
                                    headers={"Content-Type": "application/octet-stream"}),
                     413, "Request Entity Too Large")
        assert _statuses(client, [spare, spare2]) == {spare: "queued", spare2: "queued"}
        _store_is_clean(cloud, [spare, spare2], uploads_in_progress=True)
        theirs = glance.create(other)
        assert glance.upload(other, theirs["id"], b"theirs").status_code == 204
        glance.request(other, "DELETE", f"/v2/images/{theirs['id']}")
    finally:
        for sock in socks:
            sock.close()
    statuses = _wait_statuses(client, held, {"queued"})
    assert set(statuses.values()) == {"queued"}, statuses
    assert glance.upload(demo, spare, b"now it fits").status_code == 204
    for image_id in ids:
        client.delete(f"/image/v2/images/{image_id}")
    client.close()


def test_downloads_not_read_leave_the_api_answering(stall_cloud):
    """100 downloads of a 16 MiB image whose clients read nothing (the sends wait on
    the event loop, holding no worker thread) while the API keeps answering."""
    demo = stall_cloud.connect("kumo")
    client = _client(stall_cloud, demo)
    image_id = _create_images(client, 1)[0]
    data = os.urandom(16 << 20)
    resp = client.put(f"/image/v2/images/{image_id}/file", content=data,
                      headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text
    url = urlparse(stall_cloud.url)
    socks = []
    try:
        for _ in range(100):
            sock = socket.create_connection((url.hostname, url.port), timeout=30)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall((f"GET /image/v2/images/{image_id}/file HTTP/1.1\r\n"
                          f"Host: {url.netloc}\r\nX-Auth-Token: {demo.auth_token}\r\n"
                          "\r\n").encode())
            socks.append(sock)
        assert sock.recv(12) == b"HTTP/1.1 200"  # the last one is being answered
        for _ in range(5):
            assert _statuses(client, [image_id]) == {image_id: "active"}
            resp = client.get("/identity/v3/auth/tokens",
                              headers={"X-Subject-Token": demo.auth_token})
            assert resp.status_code == 200, resp.text
        # a download that reads still gets the whole image
        got = client.get(f"/image/v2/images/{image_id}/file")
        assert got.status_code == 200 and got.content == data
    finally:
        for sock in socks:
            sock.close()
    client.close()
    demo.close()
