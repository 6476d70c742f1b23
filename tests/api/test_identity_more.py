"""Endpoint groups and the project endpoint filter (``OS-EP-FILTER``), the policies
API, domain configuration, unified limits, region auto-creation and name lengths:
openstacksdk, the ``openstack`` CLI and httpx."""
from __future__ import annotations

import httpx

from tests.api.helpers import assert_fault

EP = "/v3/OS-EP-FILTER"


def _catalog_endpoint_ids(api, person):
    token, body = api.token(person.name, person.password,
                            {"project": {"id": person.project_id}})
    return {e["id"] for s in body["catalog"] for e in s["endpoints"]}, token


def test_endpoint_filter_narrows_the_catalog(cloud, api, admin, make_user, unique):
    person = make_user()
    everything, _ = _catalog_endpoint_ids(api, person)
    svc = admin.identity.create_service(type=unique("svc"), name=unique("svc"))
    region = unique("region")
    # An endpoint in a region that does not exist creates the region.
    public = admin.identity.create_endpoint(service_id=svc.id, interface="public",
                                            url="http://x.example/v1", region_id=region)
    internal = admin.identity.create_endpoint(service_id=svc.id, interface="internal",
                                              url="http://x.example/v1", region_id=region)
    assert admin.identity.get_region(region).id == region
    full, _ = _catalog_endpoint_ids(api, person)
    assert {public.id, internal.id} <= full

    # A direct association: only that endpoint remains.
    path = f"{EP}/projects/{person.project_id}/endpoints/{public.id}"
    assert api.put(path, conn=admin).status_code == 204
    assert api.get(path, conn=admin).status_code == 204
    assert api.head(path, conn=admin).status_code == 204
    narrowed, token = _catalog_endpoint_ids(api, person)
    assert narrowed == {public.id}
    resp = api.get("/v3/auth/catalog", token=token)
    assert {e["id"] for s in resp.json()["catalog"] for e in s["endpoints"]} == {public.id}
    listed = api.get(f"{EP}/projects/{person.project_id}/endpoints", conn=admin).json()
    assert [e["id"] for e in listed["endpoints"]] == [public.id]
    projects = api.get(f"{EP}/endpoints/{public.id}/projects", conn=admin).json()
    assert [p["id"] for p in projects["projects"]] == [person.project_id]

    # An endpoint group adds what its filters select.
    resp = api.post(f"{EP}/endpoint_groups", conn=admin, json={"endpoint_group": {
        "name": unique("eg"), "description": "internal of svc",
        "filters": {"service_id": svc.id, "interface": "internal"}}})
    assert resp.status_code == 201, resp.text
    group = resp.json()["endpoint_group"]
    ep_ids = {e["id"] for e in api.get(f"{EP}/endpoint_groups/{group['id']}/endpoints",
                                       conn=admin).json()["endpoints"]}
    assert ep_ids == {internal.id}
    gp = f"{EP}/endpoint_groups/{group['id']}/projects/{person.project_id}"
    assert api.put(gp, conn=admin).status_code == 204
    assert api.get(gp, conn=admin).json()["project"]["id"] == person.project_id
    narrowed, _ = _catalog_endpoint_ids(api, person)
    assert narrowed == {public.id, internal.id}
    groups = api.get(f"{EP}/projects/{person.project_id}/endpoint_groups", conn=admin)
    assert [g["id"] for g in groups.json()["endpoint_groups"]] == [group["id"]]
    resp = api.patch(f"{EP}/endpoint_groups/{group['id']}", conn=admin,
                     json={"endpoint_group": {"name": "renamed"}})
    assert resp.json()["endpoint_group"]["name"] == "renamed"

    # Removing the associations gives the whole catalog back.
    assert api.delete(gp, conn=admin).status_code == 204
    assert api.delete(path, conn=admin).status_code == 204
    assert_fault(api.get(path, conn=admin), 404, "Not Found")
    back, _ = _catalog_endpoint_ids(api, person)
    assert back == full
    assert api.delete(f"{EP}/endpoint_groups/{group['id']}", conn=admin).status_code == 204
    assert_fault(api.get(f"{EP}/endpoint_groups/{group['id']}", conn=admin), 404,
                 "Not Found")
    assert everything <= back
    admin.identity.delete_endpoint(public)
    admin.identity.delete_endpoint(internal)
    admin.identity.delete_service(svc)


def test_endpoint_filter_errors_and_policy(api, admin, demo, ids, unique):
    bad = api.post(f"{EP}/endpoint_groups", conn=admin, json={"endpoint_group": {
        "name": "x", "filters": {"colour": "blue"}}})
    assert_fault(bad, 400, "Bad Request")
    assert api.get(f"{EP}/endpoint_groups", conn=admin).json()["endpoint_groups"] == [] or \
        all(g["name"] != "x" for g in api.get(f"{EP}/endpoint_groups",
                                              conn=admin).json()["endpoint_groups"])
    resp = api.put(f"{EP}/projects/{ids['demo_project']}/endpoints/{'0' * 32}", conn=admin)
    assert_fault(resp, 404, "Not Found")
    assert_fault(api.get(f"{EP}/endpoint_groups", conn=demo), 403, "Forbidden")


def test_endpoint_groups_with_the_cli(cloud, ids, unique):
    name = unique("eg")
    made = cloud.cli("endpoint", "group", "create", name, _filters_file(cloud, unique))
    assert made["name"] == name
    cloud.cli("endpoint", "group", "add", "project", made["id"], ids["demo_project"],
              parse=False)
    listed = cloud.cli("endpoint", "group", "list", "--project", ids["demo_project"])
    assert made["id"] in {g["ID"] for g in listed}
    cloud.cli("endpoint", "group", "remove", "project", made["id"], ids["demo_project"],
              parse=False)
    cloud.cli("endpoint", "group", "delete", made["id"], parse=False)


def _filters_file(cloud, unique):
    path = cloud.state_dir.parent / f"{unique('filters')}.json"
    path.write_text('{"interface": "public"}')
    return str(path)


def test_policies_api(cloud, api, admin, demo):
    resp = api.post("/v3/policies", conn=admin, json={"policy": {
        "type": "application/json", "blob": '{"default": ""}'}})
    assert resp.status_code == 201, resp.text
    policy = resp.json()["policy"]
    assert policy["blob"] == '{"default": ""}' and policy["links"]["self"].endswith(
        policy["id"])
    sdk = admin.identity.get_policy(policy["id"])
    assert sdk.type == "application/json"
    resp = api.patch(f"/v3/policies/{policy['id']}", conn=admin,
                     json={"policy": {"blob": "{}"}})
    assert resp.json()["policy"]["blob"] == "{}"
    assert policy["id"] in {p.id for p in admin.identity.policies()}
    assert_fault(api.post("/v3/policies", conn=admin, json={"policy": {"type": "x"}}),
                 400, "Bad Request")
    assert_fault(api.get("/v3/policies", conn=demo), 403, "Forbidden")
    listed = cloud.cli("policy", "list")
    assert policy["id"] in {p["ID"] for p in listed}
    admin.identity.delete_policy(policy["id"])
    assert_fault(api.get(f"/v3/policies/{policy['id']}", conn=admin), 404, "Not Found")


def test_domain_config(api, admin, unique):
    domain = admin.identity.create_domain(name=unique("dom"))
    base = f"/v3/domains/{domain.id}/config"
    assert_fault(api.get(base, conn=admin), 404, "Not Found")
    config = {"identity": {"driver": "ldap"},
              "ldap": {"url": "ldap://ldap.example", "user_tree_dn": "ou=Users",
                       "password": "hidden"}}
    resp = api.put(base, conn=admin, json={"config": config})
    assert resp.status_code == 201, resp.text
    shown = resp.json()["config"]
    assert shown["identity"] == {"driver": "ldap"}
    assert "password" not in shown["ldap"]  # sensitive: stored, never shown
    assert api.put(base, conn=admin, json={"config": config}).status_code == 200
    assert api.get(f"{base}/ldap", conn=admin).json()["config"]["ldap"]["url"] \
        == "ldap://ldap.example"
    assert api.get(f"{base}/ldap/url", conn=admin).json() == {
        "config": {"url": "ldap://ldap.example"}}
    resp = api.patch(f"{base}/ldap", conn=admin,
                     json={"config": {"ldap": {"url": "ldap://other"}}})
    assert resp.status_code == 200 and resp.json()["config"]["ldap"]["url"] == "ldap://other"
    resp = api.patch(f"{base}/ldap/url", conn=admin,
                     json={"config": {"ldap": {"user_tree_dn": "x"}}})
    assert_fault(resp, 400, "Bad Request")
    resp = api.patch(f"{base}/ldap/url", conn=admin, json={"config": {"user_tree_dn": "x"}})
    assert_fault(resp, 400, "Bad Request")
    # one option: the body names the option alone; the reply is the whole configuration
    # (the reference's "Update domain group option configuration"; Tempest's
    # test_create_update_and_delete_domain_config_groups_and_opts)
    resp = api.patch(f"{base}/identity/driver", conn=admin, json={"config": {"driver": "sql"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["config"]["identity"] == {"driver": "sql"}
    assert resp.json()["config"]["ldap"]["url"] == "ldap://other"
    resp = api.patch(base, conn=admin, json={"config": {"nova": {"x": 1}}})
    assert_fault(resp, 403, "Forbidden")
    resp = api.put(base, conn=admin, json={"config": {"ldap": {"not_an_option": 1}}})
    assert_fault(resp, 403, "Forbidden")
    assert api.get(f"{base}/ldap/url", conn=admin).json()["config"]["url"] == "ldap://other"
    assert api.delete(f"{base}/ldap/url", conn=admin).status_code == 204
    assert_fault(api.get(f"{base}/ldap/url", conn=admin), 404, "Not Found")
    defaults = api.get("/v3/domains/config/ldap/default", conn=admin).json()["config"]
    assert defaults["ldap"]["url"] == "ldap://localhost"
    assert api.get("/v3/domains/config/identity/driver/default", conn=admin).json() == {
        "config": {"driver": "sql"}}
    assert api.delete(base, conn=admin).status_code == 204
    assert_fault(api.get(base, conn=admin), 404, "Not Found")
    admin.identity.update_domain(domain, enabled=False)
    admin.identity.delete_domain(domain)


def test_unified_limits(cloud, api, admin, demo, ids, unique):
    svc = admin.identity.create_service(type=unique("svc"), name=unique("svc"))
    resource = unique("cores")
    resp = api.post("/v3/registered_limits", conn=admin, json={"registered_limits": [
        {"service_id": svc.id, "region_id": "RegionOne", "resource_name": resource,
         "default_limit": 10, "description": "cores"}]})
    assert resp.status_code == 201, resp.text
    reg = resp.json()["registered_limits"][0]
    assert reg["default_limit"] == 10 and reg["region_id"] == "RegionOne"
    dup = api.post("/v3/registered_limits", conn=admin, json={"registered_limits": [
        {"service_id": svc.id, "region_id": "RegionOne", "resource_name": resource,
         "default_limit": 5}]})
    assert_fault(dup, 409, "Conflict")
    bad = api.post("/v3/registered_limits", conn=admin, json={"registered_limits": [
        {"service_id": "0" * 32, "resource_name": "x", "default_limit": 5}]})
    assert_fault(bad, 400, "Bad Request")
    listed = api.get("/v3/registered_limits", conn=demo,
                     params={"service_id": svc.id}).json()["registered_limits"]
    assert [r["id"] for r in listed] == [reg["id"]]
    resp = api.patch(f"/v3/registered_limits/{reg['id']}", conn=admin,
                     json={"registered_limit": {"default_limit": 20}})
    assert resp.json()["registered_limit"]["default_limit"] == 20

    resp = api.post("/v3/limits", conn=admin, json={"limits": [
        {"service_id": svc.id, "region_id": "RegionOne", "project_id": ids["demo_project"],
         "resource_name": resource, "resource_limit": 5}]})
    assert resp.status_code == 201, resp.text
    limit = resp.json()["limits"][0]
    assert limit["project_id"] == ids["demo_project"] and limit["resource_limit"] == 5
    no_reg = api.post("/v3/limits", conn=admin, json={"limits": [
        {"service_id": svc.id, "project_id": ids["demo_project"],
         "resource_name": unique("none"), "resource_limit": 1}]})
    assert_fault(no_reg, 403, "Forbidden")
    # The demo member sees its project's limit; the model is flat.
    resp = api.get("/v3/limits", conn=demo)
    assert resp.status_code == 200, resp.text
    mine = resp.json()["limits"]
    assert limit["id"] in {m["id"] for m in mine}
    assert api.get(f"/v3/limits/{limit['id']}", conn=demo).status_code == 200
    model = api.get("/v3/limits/model", conn=demo).json()["model"]
    assert model["name"] == "flat"
    assert_fault(api.post("/v3/limits", conn=demo, json={"limits": [
        {"service_id": svc.id, "project_id": ids["demo_project"],
         "resource_name": resource, "resource_limit": 1}]}), 403, "Forbidden")
    resp = api.patch(f"/v3/limits/{limit['id']}", conn=admin,
                     json={"limit": {"resource_limit": 7}})
    assert resp.json()["limit"]["resource_limit"] == 7
    # A registered limit that limits use cannot go.
    assert_fault(api.delete(f"/v3/registered_limits/{reg['id']}", conn=admin), 403,
                 "Forbidden")
    cli_limits = cloud.cli("limit", "list", "--service", svc.id)
    assert [c["ID"] for c in cli_limits] == [limit["id"]]
    assert api.delete(f"/v3/limits/{limit['id']}", conn=admin).status_code == 204
    assert api.delete(f"/v3/registered_limits/{reg['id']}", conn=admin).status_code == 204
    admin.identity.delete_service(svc)


def test_domain_name_length_is_64(cloud, api, admin, unique):
    with httpx.Client(timeout=60, headers={
            "X-Auth-Token": admin.session.get_token()}) as http:
        resp = http.post(f"{cloud.url}/identity/v3/domains",
                         json={"domain": {"name": "d" * 65}})
        assert_fault(resp, 400, "Bad Request")
        name = unique("d").ljust(64, "x")
        resp = http.post(f"{cloud.url}/identity/v3/domains", json={"domain": {"name": name}})
        assert resp.status_code == 201, resp.text
        domain_id = resp.json()["domain"]["id"]
        http.patch(f"{cloud.url}/identity/v3/domains/{domain_id}",
                   json={"domain": {"enabled": False}})
        assert http.delete(f"{cloud.url}/identity/v3/domains/{domain_id}").status_code == 204


def test_oauth1_consumers(cloud, api, admin, demo):
    resp = api.post("/v3/OS-OAUTH1/consumers", conn=admin,
                    json={"consumer": {"description": "my app"}})
    assert resp.status_code == 201, resp.text
    consumer = resp.json()["consumer"]
    assert consumer["secret"] and consumer["description"] == "my app"
    shown = api.get(f"/v3/OS-OAUTH1/consumers/{consumer['id']}", conn=admin).json()
    assert "secret" not in shown["consumer"]
    resp = api.patch(f"/v3/OS-OAUTH1/consumers/{consumer['id']}", conn=admin,
                     json={"consumer": {"secret": "mine"}})
    assert_fault(resp, 400, "Bad Request")
    resp = api.patch(f"/v3/OS-OAUTH1/consumers/{consumer['id']}", conn=admin,
                     json={"consumer": {"description": "renamed"}})
    assert resp.json()["consumer"]["description"] == "renamed"
    assert_fault(api.get("/v3/OS-OAUTH1/consumers", conn=demo), 403, "Forbidden")
    # (the CLI's consumer commands need oauthlib, which Kumo does not install: httpx)
    with httpx.Client(timeout=60, headers={"X-Auth-Token": admin.session.get_token()}) as h:
        listed = h.get(f"{cloud.url}/identity/v3/OS-OAUTH1/consumers").json()["consumers"]
    assert consumer["id"] in {c["id"] for c in listed}
    assert all("secret" not in c for c in listed)
    assert api.delete(f"/v3/OS-OAUTH1/consumers/{consumer['id']}",
                      conn=admin).status_code == 204
    assert_fault(api.get(f"/v3/OS-OAUTH1/consumers/{consumer['id']}", conn=admin), 404,
                 "Not Found")
