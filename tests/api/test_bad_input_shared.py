"""Bad input the shared request layer refuses, for every service, in the service's own
fault format: JSON nested too deep, NaN/Infinity, lone surrogates, integers the database
cannot hold, wrong Content-Types (Keystone 400, Nova 415), over-long URLs (414) and
headers (400). Nothing is created by a refused request."""
from __future__ import annotations

import httpx
import pytest

DEEP = ("[" * 5000 + "]" * 5000).encode()

# (service, method, path of a JSON endpoint, a valid body's key) for each service.
ENDPOINTS = [
    ("identity", "POST", "/identity/v3/projects", "project"),
    ("network", "POST", "/networking/v2.0/networks", "network"),
    ("compute", "POST", "/compute/v2.1/os-keypairs", "keypair"),
    ("image", "POST", "/image/v2/images", None),
]


def assert_fault(resp, service: str, status: int) -> str:
    """The response is ``status`` in ``service``'s fault format; returns the message."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    if service == "identity":
        assert body["error"]["code"] == status and body["error"]["title"]
        return body["error"]["message"]
    if service == "network":
        assert body["NeutronError"]["type"] and "detail" in body["NeutronError"]
        return body["NeutronError"]["message"]
    if service == "compute":
        (name, fault), = body.items()
        assert fault["code"] == status, body
        assert name == {400: "badRequest", 415: "badMediaType"}.get(status, "computeFault")
        return fault["message"]
    assert body["code"].startswith(str(status)) and body["title"]  # Glance
    return body["message"]


@pytest.fixture(scope="module")
def http(cloud, admin):
    token = admin.session.get_token()
    with httpx.Client(base_url=cloud.url, timeout=60,
                      headers={"X-Auth-Token": token}) as client:
        yield client


def _names(http, service: str, name: str) -> list:
    path = {"identity": "/identity/v3/projects", "network": "/networking/v2.0/networks",
            "compute": "/compute/v2.1/os-keypairs", "image": "/image/v2/images"}[service]
    body = http.get(path).json()
    items = next(v for k, v in body.items() if isinstance(v, list))
    return [i for i in items if (i.get("keypair") or i).get("name") == name]


def _body(key: str | None, name_json: str) -> bytes:
    inner = '{"name": %s, "disk_format": "raw", "container_format": "bare"}' % name_json \
        if key is None else '{"name": %s}' % name_json
    return (inner if key is None else '{"%s": %s}' % (key, inner)).encode()


@pytest.mark.parametrize("service,method,path,key", ENDPOINTS)
def test_deep_nan_and_surrogate_bodies_are_400(http, unique, service, method, path, key):
    name = unique("bad")
    headers = {"Content-Type": "application/json"}
    bodies = [DEEP, b'{"a":' * 5000 + b"1" + b"}" * 5000,
              _body(key, '"%s", "x": NaN' % name), _body(key, '"%s", "x": -Infinity' % name),
              _body(key, '"%s", "x": 1e400' % name), _body(key, '"%s\\ud800"' % name),
              _body(key, '"\\udfff%s"' % name), b'"\xed\xa0\x80"']
    for body in bodies:
        resp = http.request(method, path, content=body, headers=headers)
        assert_fault(resp, service, 400)
    assert _names(http, service, name) == []  # nothing was made


@pytest.mark.parametrize("service,method,path,key", ENDPOINTS)
def test_lone_surrogate_in_path_and_query_is_not_a_500(http, service, method, path, key):
    # %ED%A0%80 is a UTF-8-encoded surrogate: decoded as U+FFFD, never stored as is.
    resp = http.get(path + "/%ED%A0%80", params={"name": "\udc00".encode(
        "utf-8", "surrogatepass")})
    assert resp.status_code in (400, 404), resp.text


@pytest.mark.parametrize("service,path", [("compute", "/compute/kumo/v1/changes"),
                                          ("network", "/networking/kumo/v1/changes")])
@pytest.mark.parametrize("since", [2 ** 63, 2 ** 64, 10 ** 30])
def test_integers_past_the_database_range_are_400(http, service, path, since):
    assert_fault(http.get(path, params={"since": str(since)}), service, 400)


def test_keystone_content_type_is_400(http, unique):
    name = unique("ct")
    body = ('{"project": {"name": "%s"}}' % name).encode()
    for kind in ("text/xml", "application/x-www-form-urlencoded", "text/plain"):
        resp = http.post("/identity/v3/projects", content=body,
                         headers={"Content-Type": kind})
        assert "application/json in Content-Type" in assert_fault(resp, "identity", 400)
    assert _names(http, "identity", name) == []
    for kind in ("application/json; charset=UTF-8", "application/vnd.example+json"):
        resp = http.post("/identity/v3/projects", content=body.replace(
            name.encode(), (name + kind[-4:]).encode()), headers={"Content-Type": kind})
        assert resp.status_code == 201, resp.text


def test_nova_content_type_is_415(http, unique):
    name = unique("ct")
    body = ('{"keypair": {"name": "%s"}}' % name).encode()
    for kind in ("application/xml", "text/html", "application/x-www-form-urlencoded"):
        resp = http.post("/compute/v2.1/os-keypairs", content=body,
                         headers={"Content-Type": kind})
        assert assert_fault(resp, "compute", 415) == "Unsupported Content-Type"
    assert _names(http, "compute", name) == []
    # text/plain and the vendor type are JSON to Nova.
    for kind in ("text/plain", "application/vnd.openstack.compute+json"):
        resp = http.post("/compute/v2.1/os-keypairs", headers={"Content-Type": kind},
                         content=body.replace(name.encode(), (name + kind[:4]).encode()))
        assert resp.status_code in (200, 201), resp.text
        http.delete(f"/compute/v2.1/os-keypairs/{name + kind[:4]}")


def test_neutron_and_glance_ignore_content_type_of_json(http, unique):
    name = unique("ct")
    resp = http.post("/networking/v2.0/networks", headers={"Content-Type": "text/xml"},
                     content=('{"network": {"name": "%s"}}' % name).encode())
    assert resp.status_code == 201, resp.text
    http.delete(f"/networking/v2.0/networks/{resp.json()['network']['id']}")


@pytest.mark.parametrize("service,path", [("identity", "/identity/v3/projects"),
                                          ("network", "/networking/v2.0/networks"),
                                          ("compute", "/compute/v2.1/servers"),
                                          ("image", "/image/v2/images")])
def test_long_url_is_414_and_long_headers_400(http, service, path):
    resp = http.get(path, params={"name": "x" * 9000})
    assert "longer than" in assert_fault(resp, service, 414)
    resp = http.get(path + "/" + "x" * 9000)
    assert_fault(resp, service, 414)
    resp = http.get(path, headers={"X-Padding": "y" * 17000})
    assert "headers" in assert_fault(resp, service, 400)
    assert http.get(path, params={"name": "x" * 7000}).status_code == 200


def test_tag_with_control_characters_gets_a_quoted_location(http, unique):
    """A tag holding a control character used to go raw into the Location header,
    which the HTTP server refused: the connection dropped without a reply."""
    project = http.post("/identity/v3/projects", json={"project": {
        "name": unique("tag"), "domain_id": "default"}}).json()["project"]["id"]
    resp = http.put(f"/identity/v3/projects/{project}/tags/a%1Bb%C3%91")
    assert resp.status_code == 201, resp.text
    assert resp.headers["Location"].endswith("/tags/a%1Bb%C3%91")
    assert "a\x1bbÑ" in http.get(f"/identity/v3/projects/{project}/tags").json()["tags"]
    http.delete(f"/identity/v3/projects/{project}")


@pytest.mark.parametrize("limit", ["nan", "-1", "1e3", "x", "١"])
def test_hypervisor_limit_must_be_a_non_negative_integer(http, limit):
    resp = http.get("/compute/v2.1/os-hypervisors/detail", params={"limit": limit},
                    headers={"OpenStack-API-Version": "compute 2.33"})
    assert "limit" in assert_fault(resp, "compute", 400)
    resp = http.get("/compute/v2.1/os-hypervisors/detail", params={"limit": "1"},
                    headers={"OpenStack-API-Version": "compute 2.33"})
    assert len(resp.json()["hypervisors"]) == 1
