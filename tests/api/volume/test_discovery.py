"""Block Storage discovery: the catalog entries, version documents, microversion
negotiation and Cinder's fault bodies."""
from __future__ import annotations

import httpx

from tests.api.volume.conftest import assert_fault


def test_catalog_has_block_storage_and_volumev3(admin, cloud):
    catalog = admin.session.auth.get_access(admin.session).service_catalog
    for service_type in ("block-storage", "volumev3"):
        url = catalog.url_for(service_type=service_type, interface="public")
        assert url == cloud.url + "/volume/v3"
    # openstacksdk finds it and negotiates the newest microversion both support
    assert admin.block_storage.get_endpoint() == cloud.url + "/volume/v3"
    assert admin.block_storage.get_api_major_version()[0] == 3
    data = admin.block_storage.get_endpoint_data()
    assert (data.min_microversion, data.max_microversion) == ((3, 0), (3, 71))


def test_version_documents(cloud):
    root = httpx.get(cloud.url + "/volume/")
    assert root.status_code == 300
    (v3,) = root.json()["versions"]
    assert v3["id"] == "v3.0" and v3["status"] == "CURRENT"
    assert v3["min_version"] == "3.0" and v3["version"] == "3.71"
    assert {"rel": "self", "href": cloud.url + "/volume/v3/"} in v3["links"]
    show = httpx.get(cloud.url + "/volume/v3/")
    assert show.status_code == 200
    assert show.json()["versions"][0]["version"] == "3.71"


def test_microversion_negotiation(cinder, demo):
    resp = cinder.request(demo, "GET", "/volumes")
    assert resp.headers["OpenStack-API-Version"] == "volume 3.0"
    assert "OpenStack-API-Version" in resp.headers["Vary"]
    resp = cinder.request(demo, "GET", "/volumes", version="3.45")
    assert resp.headers["OpenStack-API-Version"] == "volume 3.45"
    resp = cinder.request(demo, "GET", "/volumes", version="latest")
    assert resp.headers["OpenStack-API-Version"] == "volume 3.71"
    msg = assert_fault(cinder.request(demo, "GET", "/volumes", version="3.72"), 406,
                       "computeFault")
    assert "Minimum is 3.0 and maximum is 3.71" in msg
    assert_fault(cinder.request(demo, "GET", "/volumes", version="2.0"), 406,
                 "computeFault")
    assert_fault(cinder.request(demo, "GET", "/volumes", version="3.x"), 400,
                 "badRequest")


def test_fault_bodies(cinder, demo, cloud):
    missing = "00000000-0000-0000-0000-000000000000"
    msg = assert_fault(cinder.request(demo, "GET", f"/volumes/{missing}"), 404,
                       "itemNotFound")
    assert msg == f"Volume {missing} could not be found."
    assert_fault(cinder.request(demo, "GET", "/no-such-collection"), 404, "itemNotFound")
    assert_fault(cinder.request(demo, "PATCH", "/volumes"), 405, "badMethod")
    resp = httpx.get(cloud.url + "/volume/v3/volumes")
    assert_fault(resp, 401, "unauthorized")
    # the legacy endpoint form with the project id in the path
    resp = cinder.request(demo, "GET", f"/{demo.current_project_id}/volumes")
    assert resp.status_code == 200 and "volumes" in resp.json()


def test_availability_zones_and_services(admin, cloud, demo, cinder):
    zones = cloud.cli("availability", "zone", "list", "--volume")
    assert {z["Zone Name"] for z in zones} == {"nova"}
    services = cloud.cli("volume", "service", "list")
    got = {(s["Binary"], s["Host"].split("@", 1)[-1] if "@" in s["Host"] else "")
           for s in services}
    assert ("cinder-volume", "file-1") in got and ("cinder-volume", "file-2") in got
    assert ("cinder-backup", "") in got
    assert all(s["State"] == "up" and s["Status"] == "enabled" for s in services)
    # services are for admins
    assert_fault(cinder.request(demo, "GET", "/os-services"), 403, "forbidden")
    pools = cinder.request(admin, "GET", "/scheduler-stats/get_pools",
                           params={"detail": "true"}).json()["pools"]
    assert {p["capabilities"]["volume_backend_name"] for p in pools} == {"file-1", "file-2"}
    hosts = cinder.request(admin, "GET", "/os-hosts").json()["hosts"]
    assert {h["service"] for h in hosts} >= {"cinder-volume", "cinder-backup"}
    assert_fault(cinder.request(demo, "GET", "/os-hosts"), 403, "forbidden")


def test_extensions_and_trailing_slash(cinder, demo):
    names = {e["name"] for e in cinder.request(demo, "GET", "/extensions").json()[
        "extensions"]}
    assert {"Hosts", "Backups", "VolumeActions"} <= names
    # an empty id is a 404, not the collection (Tempest's negative tests)
    for method in ("GET", "PUT", "DELETE"):
        body = {"volume": {"name": "x"}} if method == "PUT" else None
        assert_fault(cinder.request(demo, method, "/volumes/", json=body), 404,
                     "itemNotFound")
    # an unknown status filters to nothing
    resp = cinder.request(demo, "GET", "/volumes/detail", params={"status": "bogus"})
    assert resp.status_code == 200 and resp.json()["volumes"] == []


def test_disable_a_backend(cloud, cinder, admin, demo):
    services = cloud.cli("volume", "service", "list", "--service", "cinder-volume")
    host = next(s["Host"] for s in services if s["Host"].endswith("@file-2"))
    cloud.cli("volume", "service", "set", "--disable", "--disable-reason", "maintenance",
              host, "cinder-volume", parse=False)
    try:
        listed = cloud.cli("volume", "service", "list", "--long")
        row = next(s for s in listed if s["Host"] == host)
        assert row["Status"] == "disabled" and row["Disabled Reason"] == "maintenance"
        before = cinder.request(demo, "GET", "/volumes").json()["volumes"]
        msg = assert_fault(cinder.request(demo, "POST", "/volumes", json={"volume": {
            "size": 1, "volume_type": "file-2"}}), 400, "badRequest")
        assert "disabled" in msg
        assert cinder.request(demo, "GET", "/volumes").json()["volumes"] == before
    finally:
        cloud.cli("volume", "service", "set", "--enable", host, "cinder-volume",
                  parse=False)
    assert_fault(cinder.request(admin, "PUT", "/os-services/disable", json={
        "host": "nowhere", "binary": "cinder-volume"}), 404, "itemNotFound")
    assert_fault(cinder.request(demo, "PUT", "/os-services/disable", json={
        "host": host, "binary": "cinder-volume"}), 403, "forbidden")
