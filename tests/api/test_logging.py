"""Logs worth grepping (issue 15): every response carries a request id, every request
has an access line, a failed request's id is in the server's log with the caller's user
and project, and a failed boot is an ERROR line saying why."""
from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

REQ_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                    r"[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def http(cloud):
    with httpx.Client(base_url=cloud.url, timeout=60) as client:
        yield client


def log_lines(cloud, needle: str, expect: int = 1, timeout: float = 30.0) -> list[str]:
    """The server log's lines holding ``needle``, once there are ``expect`` of them
    (lines are written just after the response is sent: wait, bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in cloud.log.read_text(errors="replace").splitlines()
                 if needle in line]
        if len(lines) >= expect or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def _id(resp) -> str:
    rid = resp.headers.get("x-openstack-request-id", "")
    assert REQ_ID.match(rid), (resp.status_code, resp.request.url, dict(resp.headers))
    return rid


def test_every_response_has_a_request_id(http, admin, cloud):
    token = {"X-Auth-Token": admin.session.get_token()}
    seen = set()
    cases = [
        ("GET", "/identity/v3", {}, 200),
        ("GET", "/networking/v2.0/networks", token, 200),
        ("GET", f"/networking/v2.0/networks/{uuid.uuid4()}", token, 404),  # a fault
        ("GET", "/networking/v2.0/networks", {}, 401),
        ("GET", "/image/v2/nothing-here", token, 404),  # the router's 404
        ("GET", "/nothing-here", {}, 404),  # no service at all
        ("DELETE", "/identity/v3", token, 405),
        ("GET", "/networking/v2.0/networks?name=" + "x" * 9000, token, 414),  # the edge
        ("GET", "/compute/v2.1/flavors", {**token, "X-Padding": "y" * 17000}, 400),
        ("GET", "/compute/v2.1/flavors", token, 200),
        ("HEAD", "/image/v2/images", token, 200),
    ]
    for method, path, headers, status in cases:
        resp = http.request(method, path, headers=headers)
        assert resp.status_code == status, (method, path, resp.text)
        rid = _id(resp)
        if path.startswith("/compute"):  # Nova's own header too, the same id
            assert resp.headers["x-compute-request-id"] == rid
        seen.add(rid)
        if status == 414:  # answered by the edge, logged with its cause and the id
            lines = log_lines(cloud, rid, expect=2)
            assert "request failed at the edge: 414 " in lines[0], lines
            assert "status: 414" in lines[1] and "x" * 100 in lines[1], lines
    assert len(seen) == len(cases)  # a new id per request
    # a body over the limit (413, answered at the edge)
    resp = http.post("/identity/v3/auth/tokens", content=b"[" + b" " * (2 << 20) + b"]")
    assert resp.status_code == 413
    _id(resp)


def test_incoming_request_id_is_logged_as_global_never_ours(http, cloud):
    theirs = "req-" + str(uuid.uuid4())
    resp = http.get("/identity/v3", headers={"X-OpenStack-Request-ID": theirs})
    ours = _id(resp)
    assert ours != theirs
    (line,) = log_lines(cloud, ours)
    assert f"global={theirs}]" in line and "kumo.access" in line
    # a malformed one is not logged
    resp = http.get("/identity/v3", headers={"X-OpenStack-Request-ID": "req-<script>"})
    (line,) = log_lines(cloud, _id(resp))
    assert "global=" not in line and "<script>" not in line


def test_failed_request_is_in_the_log_with_user_and_project(http, cloud, demo):
    user, project = demo.current_user_id, demo.current_project_id
    missing = str(uuid.uuid4())
    resp = http.get(f"/networking/v2.0/networks/{missing}",
                    headers={"X-Auth-Token": demo.session.get_token()})
    assert resp.status_code == 404
    rid = _id(resp)
    lines = log_lines(cloud, rid, expect=2)
    assert len(lines) == 2, lines
    for line in lines:
        assert f"[{rid} {user} {project}]" in line, line
    fault, access = lines
    # oslo.log's shape: date time.ms pid LEVEL logger [req user project] message
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \d+ INFO kumo\.common\.http ",
                    fault), fault
    assert f"GET /networking/v2.0/networks/{missing} failed: 404" in fault
    assert missing in fault.split("failed:", 1)[1]  # Neutron's message names it
    assert " INFO kumo.access " in access
    assert f'"GET /networking/v2.0/networks/{missing} HTTP/1.1" status: 404 len: ' \
        f'{len(resp.content)} time: ' in access


def test_access_line_has_query_and_size(http, cloud, admin):
    resp = http.get("/networking/v2.0/networks", params={"limit": "1", "name": "a b"},
                    headers={"X-Auth-Token": admin.session.get_token()})
    (line,) = log_lines(cloud, _id(resp))
    assert re.search(r'"GET /networking/v2\.0/networks\?limit=1&name=a\+b HTTP/1\.1" '
                     rf"status: 200 len: {len(resp.content)} time: \d+\.\d{{4}}$", line), \
        line
    assert f" {admin.current_user_id} {admin.current_project_id}]" in line


def test_no_valid_host_is_an_error_line_with_the_reason(http, cloud, admin, demo):
    flavor = admin.compute.create_flavor(name=f"huge-{uuid.uuid4().hex[:8]}", ram=64,
                                         vcpus=1, disk=10 ** 7)
    image = next(iter(admin.image.images(name="cirros"))).id
    token = {"X-Auth-Token": demo.session.get_token(),
             "OpenStack-API-Version": "compute 2.37"}
    server = None
    try:
        resp = http.post("/compute/v2.1/servers", headers=token, json={"server": {
            "name": "too-big", "imageRef": image, "flavorRef": flavor.id,
            "networks": "none"}})
        assert resp.status_code == 202, resp.text
        server = resp.json()["server"]["id"]
        rid = _id(resp)
        (line,) = log_lines(cloud, f"Build of instance {server} failed")
        assert " ERROR kumo.compute.servers " in line
        assert f"[{rid} {demo.current_user_id} {demo.current_project_id}]" in line
        assert "No valid host was found" in line
        assert "rejected by disk" in line and "10000000 GB disk" in line  # the why
        # the operator's grep finds it
        assert re.search("trace|error", line, re.I)
    finally:
        if server:
            http.delete(f"/compute/v2.1/servers/{server}", headers=token)
        admin.compute.delete_flavor(flavor)


def test_agent_reporting_an_error_is_an_error_line(http, cloud, admin, demo):
    """A compute agent's status report with ``error`` (a failed boot: rescheduled, or
    a failed action: ERROR) is an ERROR line naming the server and the cause."""
    image = next(iter(admin.image.images(name="cirros"))).id
    token = {"X-Auth-Token": demo.session.get_token(),
             "OpenStack-API-Version": "compute 2.37"}
    admin_token = {"X-Auth-Token": admin.session.get_token()}
    server = None
    try:
        resp = http.post("/compute/v2.1/servers", headers=token, json={"server": {
            "name": "fails", "imageRef": image, "flavorRef": "42", "networks": "none"}})
        assert resp.status_code == 202, resp.text
        server = resp.json()["server"]["id"]
        host = http.get(f"/compute/v2.1/servers/{server}", headers=admin_token).json()[
            "server"]["OS-EXT-SRV-ATTR:host"]
        cause = f"disk on fire {uuid.uuid4().hex[:8]}"
        resp = http.post(f"/compute/kumo/v1/instances/{server}/status",
                         headers=admin_token, json={"host": host, "error": cause})
        assert resp.status_code == 204, resp.text
        (line,) = log_lines(cloud, cause)
        assert " ERROR kumo.compute.actions " in line and server in line
        assert f"on host {host} failed" in line
        assert f"[{_id(resp)} {admin.current_user_id} {admin.current_project_id}]" in line
    finally:
        if server:
            http.delete(f"/compute/v2.1/servers/{server}", headers=token)
