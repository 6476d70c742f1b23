"""Flavors, extra specs and access lists (openstacksdk, CLI and raw calls)."""
from __future__ import annotations

from tests.api.compute.conftest import assert_fault

DEFAULTS = {"m1.nano": ("42", 128, 1, 1), "m1.micro": ("84", 192, 1, 1),
            "m1.tiny": ("1", 512, 1, 1), "m1.small": ("2", 2048, 1, 20),
            "m1.medium": ("3", 4096, 2, 40), "m1.large": ("4", 8192, 4, 80),
            "m1.xlarge": ("5", 16384, 8, 160)}


def test_default_flavors(demo):
    flavors = {f.name: f for f in demo.compute.flavors()}
    for name, (fid, ram, vcpus, disk) in DEFAULTS.items():
        f = flavors[name]
        assert (f.id, f.ram, f.vcpus, f.disk) == (fid, ram, vcpus, disk)
        assert f.is_public


def test_flavor_list_cli(cloud):
    rows = cloud.cli("flavor", "list", cloud="kumo")
    assert {r["Name"] for r in rows} >= set(DEFAULTS)


def test_flavor_show_and_filters(nova, demo):
    body = nova.request(demo, "GET", "/flavors/1").json()["flavor"]
    assert body["name"] == "m1.tiny" and body["OS-FLV-EXT-DATA:ephemeral"] == 0
    assert body["swap"] == "" and body["os-flavor-access:is_public"] is True
    names = [f["name"] for f in nova.request(
        demo, "GET", "/flavors/detail", params={"minRam": 4096}).json()["flavors"]]
    assert set(names) == {"m1.medium", "m1.large", "m1.xlarge"}
    page = nova.request(demo, "GET", "/flavors", params={"limit": 2}).json()
    assert len(page["flavors"]) == 2 and "flavors_links" in page
    assert_fault(nova.request(demo, "GET", "/flavors/nope"), 404, "itemNotFound")


def test_create_delete_flavor(admin, demo, nova, unique):
    name = unique("fl")
    flavor = admin.compute.create_flavor(name=name, ram=256, vcpus=2, disk=3)
    try:
        assert demo.compute.get_flavor(flavor.id).ram == 256
        resp = nova.request(admin, "POST", "/flavors", json={"flavor": {
            "name": name, "ram": 1, "vcpus": 1, "disk": 1}})
        assert "already exists" in assert_fault(resp, 409, "conflictingRequest")
        resp = nova.request(demo, "POST", "/flavors", json={"flavor": {
            "name": unique("x"), "ram": 1, "vcpus": 1, "disk": 1}})
        assert_fault(resp, 403, "forbidden")
        resp = nova.request(admin, "POST", "/flavors", json={"flavor": {
            "name": unique("x"), "ram": 0, "vcpus": 1, "disk": 1}})
        assert_fault(resp, 400, "badRequest")
    finally:
        admin.compute.delete_flavor(flavor)
    assert_fault(nova.request(demo, "GET", f"/flavors/{flavor.id}"), 404, "itemNotFound")


def test_flavor_description_and_cli_create(cloud, nova, admin, unique):
    name = unique("fl")
    out = cloud.cli("flavor", "create", "--ram", "64", "--vcpus", "1", "--disk", "1",
                    "--property", "hw:cpu_policy=shared", name)
    try:
        assert out["name"] == name
        resp = nova.request(admin, "PUT", f"/flavors/{out['id']}", version="2.55",
                            json={"flavor": {"description": "small"}})
        assert resp.json()["flavor"]["description"] == "small"
        body = nova.request(admin, "GET", f"/flavors/{out['id']}", version="2.61").json()
        assert body["flavor"]["extra_specs"] == {"hw:cpu_policy": "shared"}
    finally:
        cloud.cli("flavor", "delete", name, parse=False)


def test_extra_specs(nova, admin, demo, unique):
    flavor = admin.compute.create_flavor(name=unique("fl"), ram=64, vcpus=1, disk=1)
    base = f"/flavors/{flavor.id}/os-extra_specs"
    try:
        resp = nova.request(admin, "POST", base, json={"extra_specs": {"a": "1", "b": "2"}})
        assert resp.json() == {"extra_specs": {"a": "1", "b": "2"}}
        assert nova.request(demo, "GET", base).json() == {"extra_specs": {"a": "1",
                                                                          "b": "2"}}
        assert nova.request(demo, "GET", base + "/a").json() == {"a": "1"}
        assert nova.request(admin, "PUT", base + "/a", json={"a": "9"}).json() == {"a": "9"}
        assert_fault(nova.request(admin, "PUT", base + "/a", json={"b": "9"}), 400,
                     "badRequest")
        assert nova.request(admin, "DELETE", base + "/b").status_code == 200
        assert_fault(nova.request(admin, "GET", base + "/b"), 404, "itemNotFound")
        assert_fault(nova.request(demo, "POST", base, json={"extra_specs": {"c": "1"}}),
                     403, "forbidden")
    finally:
        admin.compute.delete_flavor(flavor)


def test_private_flavor_access(nova, admin, demo, unique):
    demo_project = demo.current_project_id
    resp = nova.request(admin, "POST", "/flavors", json={"flavor": {
        "name": unique("priv"), "ram": 64, "vcpus": 1, "disk": 1,
        "os-flavor-access:is_public": False}})
    fid = resp.json()["flavor"]["id"]
    try:
        assert_fault(nova.request(demo, "GET", f"/flavors/{fid}"), 404, "itemNotFound")
        assert fid not in [f["id"] for f in nova.request(demo, "GET", "/flavors")
                           .json()["flavors"]]
        resp = nova.request(admin, "POST", f"/flavors/{fid}/action",
                            json={"addTenantAccess": {"tenant": demo_project}})
        assert resp.json()["flavor_access"] == [{"flavor_id": fid,
                                                 "tenant_id": demo_project}]
        assert nova.request(demo, "GET", f"/flavors/{fid}").status_code == 200
        resp = nova.request(admin, "POST", f"/flavors/{fid}/action",
                            json={"addTenantAccess": {"tenant": demo_project}})
        assert_fault(resp, 409, "conflictingRequest")
        resp = nova.request(admin, "POST", f"/flavors/{fid}/action",
                            json={"removeTenantAccess": {"tenant": demo_project}})
        assert resp.json()["flavor_access"] == []
        assert_fault(nova.request(demo, "GET", f"/flavors/{fid}"), 404, "itemNotFound")
        assert_fault(nova.request(admin, "GET", "/flavors/1/os-flavor-access"), 404,
                     "itemNotFound")
    finally:
        nova.request(admin, "DELETE", f"/flavors/{fid}")
