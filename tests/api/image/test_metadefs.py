"""Metadata definitions (``/v2/metadefs``) through openstacksdk, the CLI and httpx:
namespaces, objects, properties, tags, resource types and associations, the schemas,
visibility, protection and the seeded namespaces."""
from __future__ import annotations

import httpx
import openstack
import pytest

from tests.api.image.conftest import assert_fault

NS = "/v2/metadefs/namespaces"


@pytest.fixture(scope="module")
def http(cloud, admin):
    with httpx.Client(base_url=cloud.url + "/image", timeout=60,
                      headers={"X-Auth-Token": admin.session.get_token()}) as client:
        yield client


@pytest.fixture(scope="module")
def user_http(cloud, demo):
    with httpx.Client(base_url=cloud.url + "/image", timeout=60,
                      headers={"X-Auth-Token": demo.session.get_token()}) as client:
        yield client


@pytest.fixture
def namespace(http, unique):
    name = unique("ns")
    resp = http.post(NS, json={"namespace": name, "display_name": "Test",
                               "description": "a test namespace"})
    assert resp.status_code == 201, resp.text
    yield resp.json()
    http.put(f"{NS}/{name}", json={"namespace": name, "protected": False})
    http.delete(f"{NS}/{name}")


def test_seeded_namespaces_and_resource_types(http, user_http, admin):
    names = [n["namespace"] for n in user_http.get(NS).json()["namespaces"]]
    for seeded in ("OS::Compute::Hypervisor", "CIM::ProcessorAllocationSettingData"):
        assert seeded in names
    hyp = user_http.get(f"{NS}/OS::Compute::Hypervisor").json()
    assert hyp["protected"] is True and hyp["visibility"] == "public"
    assert "kvm" in hyp["properties"]["hypervisor_type"]["enum"]
    assert hyp["resource_type_associations"][0]["name"] == "OS::Glance::Image"
    cim = user_http.get(f"{NS}/CIM::ProcessorAllocationSettingData",
                        params={"resource_type": "OS::Glance::Image"}).json()
    assert "CIM_PASD_InstructionSet" in cim["properties"]
    types = [t["name"] for t in admin.image.metadef_resource_types()]
    assert {"OS::Glance::Image", "OS::Nova::Flavor", "OS::Cinder::Volume"} <= set(types)
    assert_fault(http.delete(f"{NS}/OS::Compute::Hypervisor"), 403, "Forbidden")
    listed = http.get(NS, params={"resource_types": "OS::Nova::Flavor"}).json()
    assert "CIM::ProcessorAllocationSettingData" in [
        n["namespace"] for n in listed["namespaces"]]
    assert "OS::Compute::Hypervisor" not in [n["namespace"] for n in listed["namespaces"]]


def test_sdk_namespace_lifecycle(admin, demo, unique):
    name = unique("sdkns")
    ns = admin.image.create_metadef_namespace(
        namespace=name, visibility="public", protected=True, description="Tempest-like",
        resource_type_associations=[{"name": "OS::Glance::Image"}])
    try:
        assert ns.namespace == name and ns.is_protected is True
        assert name in [n.namespace for n in demo.image.metadef_namespaces()]
        with pytest.raises(openstack.exceptions.ForbiddenException):
            admin.image.delete_metadef_namespace(name)
        ns = admin.image.update_metadef_namespace(name, visibility="private",
                                                  is_protected=False)
        assert ns.visibility == "private" and ns.is_protected is False
        assert name not in [n.namespace for n in demo.image.metadef_namespaces()]
        with pytest.raises(openstack.exceptions.NotFoundException):
            demo.image.get_metadef_namespace(name)
    finally:
        admin.image.update_metadef_namespace(name, is_protected=False)
        admin.image.delete_metadef_namespace(name)
    with pytest.raises(openstack.exceptions.NotFoundException):
        admin.image.get_metadef_namespace(name)


def test_namespace_errors(http, user_http, namespace):
    name = namespace["namespace"]
    assert namespace["visibility"] == "private" and namespace["protected"] is False
    assert namespace["self"] == f"{NS}/{name}"
    assert namespace["schema"] == "/v2/schemas/metadefs/namespace"
    assert_fault(http.post(NS, json={"namespace": name}), 409, "Conflict")
    assert_fault(http.post(NS, json={"namespace": "x", "visibility": "everyone"}), 400,
                 "Bad Request")
    assert_fault(http.post(NS, json={"namespace": "x" * 81}), 400, "Bad Request")
    assert_fault(http.post(NS, json={"display_name": "no-name"}), 400, "Bad Request")
    assert_fault(user_http.post(NS, json={"namespace": "mine"}), 403, "Forbidden")
    assert_fault(user_http.get(f"{NS}/{name}"), 404, "Not Found")
    assert_fault(http.get(f"{NS}/no-such-ns"), 404, "Not Found")


def test_objects(http, admin, namespace):
    name = namespace["namespace"]
    obj = admin.image.create_metadef_object(
        name, name="CPU Limits", description="limits",
        required=["quota:cpu_quota"],
        properties={"quota:cpu_quota": {"title": "Quota", "type": "integer"}})
    assert obj.name == "CPU Limits"
    got = http.get(f"{NS}/{name}/objects/CPU Limits").json()
    assert got["properties"]["quota:cpu_quota"]["type"] == "integer"
    assert got["self"] == f"{NS}/{name}/objects/CPU Limits"
    assert got["required"] == ["quota:cpu_quota"]
    resp = http.put(f"{NS}/{name}/objects/CPU Limits",
                    json={"name": "CPU", "description": "renamed"})
    assert resp.status_code == 200 and resp.json()["name"] == "CPU"
    assert [o.name for o in admin.image.metadef_objects(name)] == ["CPU"]
    assert_fault(http.post(f"{NS}/{name}/objects", json={"name": "CPU"}), 409, "Conflict")
    assert_fault(http.post(f"{NS}/{name}/objects", json={"name": "bad", "properties": {
        "p": {"type": "string"}}}), 400, "Bad Request")
    assert http.delete(f"{NS}/{name}/objects/CPU").status_code == 204
    assert_fault(http.get(f"{NS}/{name}/objects/CPU"), 404, "Not Found")


def test_properties(http, admin, namespace):
    name = namespace["namespace"]
    prop = admin.image.create_metadef_property(
        name, name="hw_rng_model", title="RNG model", type="string",
        enum=["virtio"], description="random number generator")
    assert prop.name == "hw_rng_model"
    listed = http.get(f"{NS}/{name}/properties").json()["properties"]
    assert listed == {"hw_rng_model": {"title": "RNG model", "type": "string",
                                       "enum": ["virtio"],
                                       "description": "random number generator"}}
    resp = http.put(f"{NS}/{name}/properties/hw_rng_model",
                    json={"name": "hw_rng_model", "title": "RNG", "type": "string"})
    assert resp.status_code == 200 and resp.json()["title"] == "RNG"
    assert admin.image.get_metadef_property("hw_rng_model", name).title == "RNG"
    assert_fault(http.post(f"{NS}/{name}/properties",
                           json={"name": "p", "title": "P", "type": "complex"}),
                 400, "Bad Request")
    assert_fault(http.post(f"{NS}/{name}/properties",
                           json={"name": "hw_rng_model", "title": "x", "type": "string"}),
                 409, "Conflict")
    assert http.delete(f"{NS}/{name}/properties").status_code == 204
    assert http.get(f"{NS}/{name}/properties").json() == {"properties": {}}


def test_tags(http, admin, namespace):
    name = namespace["namespace"]
    resp = http.post(f"{NS}/{name}/tags", json={"tags": [{"name": "a"}, {"name": "b"}]})
    assert resp.status_code == 201 and resp.json() == {"tags": [{"name": "a"},
                                                                {"name": "b"}]}
    resp = http.post(f"{NS}/{name}/tags", json={"tags": [{"name": "c"}]},
                     headers={"X-Openstack-Append": "True"})
    assert resp.status_code == 201
    tags = lambda: sorted(t["name"] for t in  # noqa: E731
                          http.get(f"{NS}/{name}/tags").json()["tags"])
    assert tags() == ["a", "b", "c"]
    http.post(f"{NS}/{name}/tags", json={"tags": [{"name": "z"}]})
    assert tags() == ["z"]
    assert_fault(http.post(f"{NS}/{name}/tags", json={"tags": [{"name": "d"},
                                                                {"name": "d"}]}),
                 409, "Conflict")
    assert tags() == ["z"]
    one = http.post(f"{NS}/{name}/tags/single")
    assert one.status_code == 201 and one.json()["name"] == "single"
    assert "created_at" in one.json()
    assert_fault(http.post(f"{NS}/{name}/tags/single"), 409, "Conflict")
    resp = http.put(f"{NS}/{name}/tags/single", json={"name": "renamed"})
    assert resp.status_code == 200 and resp.json()["name"] == "renamed"
    assert http.get(f"{NS}/{name}/tags/renamed").status_code == 200
    assert http.delete(f"{NS}/{name}/tags/renamed").status_code == 204
    assert_fault(http.get(f"{NS}/{name}/tags/renamed"), 404, "Not Found")
    assert http.delete(f"{NS}/{name}/tags").status_code == 204
    assert tags() == []


def test_resource_type_associations(http, admin, namespace):
    name = namespace["namespace"]
    resp = http.post(f"{NS}/{name}/resource_types",
                     json={"name": "OS::Nova::Server", "prefix": "hw_",
                           "properties_target": "image"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["prefix"] == "hw_"
    assert_fault(http.post(f"{NS}/{name}/resource_types",
                           json={"name": "OS::Nova::Server"}), 409, "Conflict")
    assocs = list(admin.image.metadef_resource_type_associations(name))
    assert [a.name for a in assocs] == ["OS::Nova::Server"]
    http.put(f"{NS}/{name}", json={"namespace": name, "protected": True})
    assert_fault(http.delete(f"{NS}/{name}/resource_types/OS::Nova::Server"), 403,
                 "Forbidden")
    http.put(f"{NS}/{name}", json={"namespace": name, "protected": False})
    assert http.delete(f"{NS}/{name}/resource_types/OS::Nova::Server").status_code == 204
    assert_fault(http.delete(f"{NS}/{name}/resource_types/OS::Nova::Server"), 404,
                 "Not Found")


def test_protected_children(http, namespace):
    name = namespace["namespace"]
    http.post(f"{NS}/{name}/tags/keep")
    http.put(f"{NS}/{name}", json={"namespace": name, "protected": True})
    assert_fault(http.delete(f"{NS}/{name}/tags/keep"), 403, "Forbidden")
    assert_fault(http.delete(f"{NS}/{name}/tags"), 403, "Forbidden")
    assert http.get(f"{NS}/{name}/tags/keep").status_code == 200


@pytest.mark.parametrize("schema", ["namespace", "namespaces", "object", "objects",
                                    "property", "properties", "tag", "tags",
                                    "resource_type", "resource_types"])
def test_schemas(user_http, schema):
    body = user_http.get(f"/v2/schemas/metadefs/{schema}").json()
    assert body["name"] in (schema, "resource_type_association",
                            "resource_type_associations")
    assert "properties" in body


def test_cli(cloud, unique):
    name = unique("clins")
    made = cloud.cli("image", "metadef", "namespace", "create", "--public",
                     "--description", "from the CLI", name)
    try:
        assert made["namespace"] == name
        listed = cloud.cli("image", "metadef", "namespace", "list")
        assert name in [n["namespace"] for n in listed]
        shown = cloud.cli("image", "metadef", "namespace", "show", name)
        assert shown["description"] == "from the CLI"
        types = cloud.cli("image", "metadef", "resource", "type", "list")
        assert "OS::Glance::Image" in [t["Name"] for t in types]
        cloud.cli("image", "metadef", "property", "create", "--name", "cli_prop",
                  "--title", "T", "--type", "string", "--schema", '{"enum": ["x"]}',
                  name)
        props = cloud.cli("image", "metadef", "property", "list", name)
        assert "cli_prop" in [p["name"] for p in props]
    finally:
        cloud.cli("image", "metadef", "namespace", "delete", name, parse=False)
