"""Version discovery, microversion negotiation and Nova's fault format."""
from __future__ import annotations

import requests

from tests.api.compute.conftest import assert_fault


def test_versions_root(cloud):
    body = requests.get(cloud.url + "/compute/", timeout=10).json()
    legacy, v = body["versions"]  # v2.0 first, as Nova lists them (Tempest checks it)
    assert legacy["id"] == "v2.0" and legacy["status"] == "SUPPORTED"
    assert legacy["version"] == legacy["min_version"] == ""
    assert v["id"] == "v2.1" and v["status"] == "CURRENT"
    assert v["min_version"] == "2.1" and v["version"] == "2.96"
    for listed in (legacy, v):
        # only the self link and no media types in the list; the link is followable
        # and the document there has the same self link
        assert "media-types" not in listed
        (link,) = listed["links"]
        assert link["rel"] == "self"
        doc = requests.get(link["href"], timeout=10).json()["version"]
        assert doc["id"] == listed["id"]
        assert [ln for ln in doc["links"] if ln["rel"] == "self"] == [link]


def test_version_show_and_headers(cloud):
    resp = requests.get(cloud.url + "/compute/v2.1/",
                        headers={"OpenStack-API-Version": "compute 2.60"}, timeout=10)
    assert resp.json()["version"]["version"] == "2.96"
    assert resp.headers["OpenStack-API-Version"] == "compute 2.60"
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.60"
    assert "OpenStack-API-Version" in resp.headers["Vary"]


def test_legacy_header_and_latest(nova, demo):
    resp = nova.request(demo, "GET", "/flavors",
                        headers={"X-OpenStack-Nova-API-Version": "2.55"})
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.55"
    assert "description" in resp.json()["flavors"][0]
    resp = nova.request(demo, "GET", "/flavors", version="latest")
    assert resp.headers["OpenStack-API-Version"] == "compute 2.96"
    resp = nova.request(demo, "GET", "/flavors")
    assert resp.headers["OpenStack-API-Version"] == "compute 2.1"
    assert "description" not in resp.json()["flavors"][0]


def test_unsupported_version_406(nova, demo):
    msg = assert_fault(nova.request(demo, "GET", "/flavors", version="2.200"), 406,
                       "notAcceptable")
    assert "Minimum is 2.1 and maximum is 2.96" in msg
    assert_fault(nova.request(demo, "GET", "/flavors", version="2.x"), 400, "badRequest")


def test_fault_format(nova, demo):
    msg = assert_fault(nova.request(demo, "GET", "/servers/nope"), 404, "itemNotFound")
    assert "nope" in msg
    assert_fault(nova.request(demo, "GET", "/os-hypervisors"), 403, "forbidden")
    assert_fault(nova.request(demo, "POST", "/flavors", json={"flavor": {}}), 403,
                 "forbidden")


def test_unauthenticated_401(cloud):
    resp = requests.get(cloud.url + "/compute/v2.1/servers", timeout=10)
    assert resp.status_code == 401
    assert resp.json()["unauthorized"]["code"] == 401


def test_catalog_has_compute(demo):
    endpoint = demo.session.get_endpoint(service_type="compute", interface="public")
    assert endpoint.endswith("/compute/v2.1")
