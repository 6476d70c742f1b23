"""Regions, services and endpoints, and the service catalog built from them."""
from __future__ import annotations

import pytest
from openstack import exceptions as sdk_exc

from tests.api.helpers import assert_fault


def _catalog(api, conn) -> list[dict]:
    resp = api.get("/v3/auth/catalog", conn=conn)
    assert resp.status_code == 200
    return resp.json()["catalog"]


def test_region_crud(admin, api, demo, unique):
    parent = admin.identity.create_region(id=unique("Region"), description="parent")
    child = admin.identity.create_region(id=unique("Region"), parent_region_id=parent.id)
    assert child.parent_region_id == parent.id
    assert admin.identity.get_region(parent.id).description == "parent"
    assert {r.id for r in admin.identity.regions(parent_region_id=parent.id)} == {child.id}
    # Any authenticated user may read regions.
    assert parent.id in {r.id for r in demo.identity.regions()}

    admin.identity.update_region(parent, description="changed")
    assert admin.identity.get_region(parent.id).description == "changed"

    # A region with children cannot go; a region cannot become its own ancestor.
    assert_fault(api.delete(f"/v3/regions/{parent.id}", conn=admin), 403, "Forbidden")
    resp = api.patch(f"/v3/regions/{parent.id}", conn=admin,
                     json={"region": {"parent_region_id": child.id}})
    assert_fault(resp, 400, "Bad Request")
    assert admin.identity.get_region(parent.id).parent_region_id is None
    resp = api.post("/v3/regions", conn=admin, json={"region": {
        "id": unique("Region"), "parent_region_id": "no-such-region"}})
    assert_fault(resp, 400, "Bad Request")

    admin.identity.delete_region(child)
    admin.identity.delete_region(parent)
    with pytest.raises(sdk_exc.NotFoundException):
        admin.identity.get_region(parent.id)

    # Without an id, the server makes one.
    resp = api.post("/v3/regions", conn=admin, json={"region": {"description": "anon"}})
    assert resp.status_code == 201
    assert len(resp.json()["region"]["id"]) == 32


def test_service_and_endpoint_crud_and_catalog(cloud, admin, api, demo, unique):
    service = admin.identity.create_service(type=unique("type"), name=unique("svc"),
                                            description="a service")
    assert service.is_enabled is True
    assert admin.identity.get_service(service.id).description == "a service"
    assert [s.id for s in admin.identity.services(type=service.type)] == [service.id]

    url = "http://198.51.100.7:9999/v1"
    public = admin.identity.create_endpoint(service_id=service.id, interface="public",
                                            url=url, region_id="RegionOne")
    internal = admin.identity.create_endpoint(service_id=service.id, interface="internal",
                                              url=url + "/internal", region_id="RegionOne")
    assert public.region_id == "RegionOne" and public.interface == "public"
    listed = {e.id for e in admin.identity.endpoints(service_id=service.id)}
    assert listed == {public.id, internal.id}
    assert [e.id for e in admin.identity.endpoints(service_id=service.id,
                                                    interface="internal")] == [internal.id]

    # The catalog shows it, to members too, and the sdk finds the endpoint through it.
    entry = next(s for s in _catalog(api, demo) if s["id"] == service.id)
    assert entry["type"] == service.type and entry["name"] == service.name
    assert {e["interface"]: e["url"] for e in entry["endpoints"]} == {
        "public": url, "internal": url + "/internal"}
    conn = cloud.connect("kumo")
    try:
        assert conn.session.get_endpoint(service_type=service.type, interface="public",
                                         region_name="RegionOne") == url
    finally:
        conn.close()

    admin.identity.update_endpoint(public, url=url + "/moved")
    assert admin.identity.get_endpoint(public.id).url == url + "/moved"
    admin.identity.update_endpoint(internal, is_enabled=False)
    entry = next(s for s in _catalog(api, demo) if s["id"] == service.id)
    assert [e["url"] for e in entry["endpoints"]] == [url + "/moved"]

    admin.identity.update_service(service, is_enabled=False)
    assert service.id not in {s["id"] for s in _catalog(api, demo)}

    admin.identity.delete_endpoint(public)
    with pytest.raises(sdk_exc.NotFoundException):
        admin.identity.get_endpoint(public.id)
    admin.identity.delete_service(service)
    with pytest.raises(sdk_exc.NotFoundException):
        admin.identity.get_service(service.id)
    # Deleting the service took its remaining endpoint along.
    with pytest.raises(sdk_exc.NotFoundException):
        admin.identity.get_endpoint(internal.id)


def test_endpoint_validation(admin, api, unique):
    service = admin.identity.create_service(type=unique("type"))
    good = {"service_id": service.id, "interface": "public", "url": "http://x.example/"}
    # (an unknown region_id is not an error: Keystone creates the region, see
    # tests/api/test_identity_more.py)
    for bad in ({"interface": "sideways"}, {"url": "not a url"},
                {"service_id": "0" * 32}):
        resp = api.post("/v3/endpoints", conn=admin, json={"endpoint": {**good, **bad}})
        assert_fault(resp, 400, "Bad Request")
    assert list(admin.identity.endpoints(service_id=service.id)) == []


def test_members_cannot_change_the_catalog(api, demo, unique):
    for method, path, body in (
            ("POST", "/v3/services", {"service": {"type": unique("t")}}),
            ("POST", "/v3/regions", {"region": {"id": unique("r")}}),
            ("POST", "/v3/endpoints", {"endpoint": {"service_id": "x", "interface": "public",
                                                    "url": "http://x/"}}),
            ("GET", "/v3/services", None),
            ("GET", "/v3/endpoints", None)):
        assert_fault(api.request(method, path, conn=demo, json=body), 403, "Forbidden")
