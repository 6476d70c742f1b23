"""Host aggregates (with availability zones the scheduler honours), os-hosts,
diagnostics, server password (with the metadata service's POST), external events and
the instance usage audit log."""
from __future__ import annotations

import hashlib
import hmac

import httpx

from tests.api.compute.conftest import assert_fault, wait_status
from tests.api.compute.test_metadata import secret


def test_aggregate_crud_and_actions(cloud, admin, demo, nova, unique):
    name = unique("agg")
    resp = nova.request(admin, "POST", "/os-aggregates", json={"aggregate": {
        "name": name}}, version="2.41")
    assert resp.status_code == 200, resp.text
    agg = resp.json()["aggregate"]
    assert set(agg) == {"id", "name", "availability_zone", "created_at", "updated_at",
                        "deleted", "deleted_at", "uuid"}
    assert agg["availability_zone"] is None and agg["deleted"] is False
    aid = agg["id"]
    try:
        assert_fault(nova.request(demo, "GET", "/os-aggregates"), 403, "forbidden")
        assert_fault(nova.request(admin, "POST", "/os-aggregates", json={"aggregate": {
            "name": name}}), 409, "conflictingRequest")
        assert_fault(nova.request(admin, "POST", "/os-aggregates", json={"aggregate": {
            "name": ""}}), 400, "badRequest")
        listed = nova.request(admin, "GET", "/os-aggregates").json()["aggregates"]
        assert [a for a in listed if a["id"] == aid][0]["hosts"] == []
        # the CLI (openstacksdk underneath)
        out = cloud.cli("aggregate", "show", str(aid))
        assert out["name"] == name
        resp = nova.request(admin, "POST", f"/os-aggregates/{aid}/action", json={
            "add_host": {"host": "fake-0"}})
        assert resp.status_code == 200 and resp.json()["aggregate"]["hosts"] == ["fake-0"]
        assert_fault(nova.request(admin, "POST", f"/os-aggregates/{aid}/action", json={
            "add_host": {"host": "fake-0"}}), 409, "conflictingRequest")
        assert_fault(nova.request(admin, "POST", f"/os-aggregates/{aid}/action", json={
            "add_host": {"host": "nope"}}), 404, "itemNotFound")
        assert_fault(nova.request(admin, "DELETE", f"/os-aggregates/{aid}"), 400,
                     "badRequest")
        resp = nova.request(admin, "POST", f"/os-aggregates/{aid}/action", json={
            "set_metadata": {"metadata": {"ssd": "true", "gone": None}}})
        assert resp.json()["aggregate"]["metadata"] == {"ssd": "true"}
        resp = nova.request(admin, "PUT", f"/os-aggregates/{aid}", json={"aggregate": {
            "name": name + "-2"}})
        assert resp.json()["aggregate"]["name"] == name + "-2"
        assert resp.json()["aggregate"]["updated_at"] is not None
        assert_fault(nova.request(admin, "POST", f"/os-aggregates/{aid}/action", json={
            "remove_host": {"host": "fake-1"}}), 404, "itemNotFound")
        resp = nova.request(admin, "POST", f"/os-aggregates/{aid}/action", json={
            "remove_host": {"host": "fake-0"}})
        assert resp.json()["aggregate"]["hosts"] == []
        assert_fault(nova.request(admin, "GET", "/os-aggregates/999999"), 404,
                     "itemNotFound")
        assert_fault(nova.request(admin, "POST", f"/os-aggregates/{aid}/action", json={
            "nope": {}}), 400, "badRequest")
    finally:
        assert nova.request(admin, "DELETE", f"/os-aggregates/{aid}").status_code == 200
    assert_fault(nova.request(admin, "GET", f"/os-aggregates/{aid}"), 404,
                 "itemNotFound")


def test_availability_zone_aggregate_schedules(admin, demo, nova, boot, unique):
    zone = unique("az")
    agg = admin.compute.create_aggregate(name=unique("azagg"), availability_zone=zone)
    try:
        admin.compute.add_host_to_aggregate(agg, "fake-1")
        zones = {z["zoneName"]: z for z in nova.request(
            demo, "GET", "/os-availability-zone").json()["availabilityZoneInfo"]}
        assert zone in zones
        detail = nova.request(admin, "GET", "/os-availability-zone/detail").json()[
            "availabilityZoneInfo"]
        assert [list(z["hosts"]) for z in detail if z["zoneName"] == zone] == [["fake-1"]]
        shown = nova.request(admin, "GET", f"/os-aggregates/{agg.id}").json()["aggregate"]
        assert shown["availability_zone"] == zone
        assert shown["metadata"] == {"availability_zone": zone}
        for i in range(2):
            made = boot(f"az-{i}", availability_zone=zone)
            body = wait_status(nova, demo, made["id"], "ACTIVE")
            assert body["OS-EXT-AZ:availability_zone"] == zone
            assert nova.request(admin, "GET", f"/servers/{made['id']}").json()[
                "server"]["OS-EXT-SRV-ATTR:host"] == "fake-1"
        # a host is in one zone only
        other = admin.compute.create_aggregate(name=unique("azagg2"),
                                               availability_zone=zone + "-b")
        try:
            assert_fault(nova.request(admin, "POST", f"/os-aggregates/{other.id}/action",
                                      json={"add_host": {"host": "fake-1"}}), 409,
                         "conflictingRequest")
        finally:
            admin.compute.delete_aggregate(other)
    finally:
        for server in demo.compute.servers():
            if server.name.startswith("az-"):
                demo.compute.delete_server(server)
                demo.compute.wait_for_delete(server)
        admin.compute.remove_host_from_aggregate(agg, "fake-1")
        admin.compute.delete_aggregate(agg)


def test_os_hosts(admin, demo, nova):
    hosts = nova.request(admin, "GET", "/os-hosts").json()["hosts"]
    assert {"host_name": "fake-0", "service": "compute", "zone": "nova"} in hosts
    assert_fault(nova.request(admin, "GET", "/os-hosts", version="2.43"), 404,
                 "itemNotFound")
    assert_fault(nova.request(demo, "GET", "/os-hosts"), 403, "forbidden")
    body = nova.request(admin, "GET", "/os-hosts/fake-0").json()["host"]
    assert [r["resource"]["project"] for r in body[:3]] == [
        "(total)", "(used_now)", "(used_max)"]
    assert body[0]["resource"]["cpu"] > 0
    assert_fault(nova.request(admin, "GET", "/os-hosts/nope"), 404, "itemNotFound")
    resp = nova.request(admin, "PUT", "/os-hosts/fake-0", json={"status": "disable"})
    assert resp.json() == {"host": "fake-0", "status": "disabled"}
    resp = nova.request(admin, "PUT", "/os-hosts/fake-0", json={"status": "enable"})
    assert resp.json() == {"host": "fake-0", "status": "enabled"}
    assert_fault(nova.request(admin, "PUT", "/os-hosts/fake-0", json={
        "maintenance_mode": "enable"}), 501, "notImplemented")
    assert_fault(nova.request(admin, "GET", "/os-hosts/fake-0/reboot"), 501,
                 "notImplemented")


def test_diagnostics_and_password(cloud, admin, demo, nova, boot):
    made = boot("ops-diag")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    assert_fault(nova.request(demo, "GET", f"/servers/{sid}/diagnostics"), 403,
                 "forbidden")
    body = nova.request(admin, "GET", f"/servers/{sid}/diagnostics", version="2.48").json()
    assert body["state"] == "running" and body["driver"] == "fake"
    assert body["num_cpus"] == len(body["cpu_details"]) and body["num_nics"] == 1
    assert body["memory_details"]["maximum"] > 0
    # password: empty, set once by the guest through the metadata service, cleared
    assert nova.request(demo, "GET", f"/servers/{sid}/os-server-password").json() == {
        "password": ""}
    sig = hmac.new(secret(cloud), sid.encode(), hashlib.sha256).hexdigest()
    headers = {"X-Instance-ID": sid, "X-Instance-ID-Signature": sig,
               "X-Tenant-ID": demo.current_project_id}
    url = cloud.url + "/metadata/openstack/latest/password"
    with httpx.Client(timeout=30) as client:
        assert client.post(url, content=b"c2VjcmV0", headers=headers).status_code == 200
        assert client.post(url, content=b"again", headers=headers).status_code == 409
        assert client.post(url, content=b"x" * 257, headers=headers).status_code == 400
    assert nova.request(demo, "GET", f"/servers/{sid}/os-server-password").json() == {
        "password": "c2VjcmV0"}
    assert nova.request(demo, "DELETE",
                        f"/servers/{sid}/os-server-password").status_code == 204
    assert nova.request(demo, "GET", f"/servers/{sid}/os-server-password").json() == {
        "password": ""}


def test_external_events(admin, demo, nova, boot):
    made = boot("ops-events")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    missing = "00000000-0000-4000-8000-000000000000"
    resp = nova.request(admin, "POST", "/os-server-external-events", json={"events": [
        {"name": "network-changed", "server_uuid": sid, "tag": "t"}]})
    assert resp.status_code == 200
    assert resp.json() == {"events": [{"name": "network-changed", "server_uuid": sid,
                                       "status": "completed", "tag": "t", "code": 200}]}
    resp = nova.request(admin, "POST", "/os-server-external-events", json={"events": [
        {"name": "network-vif-plugged", "server_uuid": sid},
        {"name": "network-vif-plugged", "server_uuid": missing}]})
    assert resp.status_code == 207
    assert [e["code"] for e in resp.json()["events"]] == [200, 404]
    assert_fault(nova.request(admin, "POST", "/os-server-external-events", json={
        "events": [{"name": "network-changed", "server_uuid": missing}]}), 404,
        "itemNotFound")
    assert_fault(nova.request(admin, "POST", "/os-server-external-events", json={
        "events": [{"name": "power-update", "server_uuid": sid}]}), 400, "badRequest")
    assert_fault(nova.request(demo, "POST", "/os-server-external-events", json={
        "events": [{"name": "network-changed", "server_uuid": sid}]}), 403, "forbidden")


def test_instance_usage_audit_log(admin, demo, nova):
    body = nova.request(admin, "GET", "/os-instance_usage_audit_log").json()[
        "instance_usage_audit_logs"]
    assert body["num_hosts"] >= 2 and body["num_hosts_done"] == 0
    assert body["overall_status"] == f"0 of {body['num_hosts']} hosts done. 0 errors."
    body = nova.request(admin, "GET", "/os-instance_usage_audit_log/"
                                      "2020-03-15 10:00:00").json()[
        "instance_usage_audit_log"]
    assert body["period_beginning"] == "2020-02-01 00:00:00"
    assert body["period_ending"] == "2020-03-01 00:00:00"
    assert_fault(nova.request(admin, "GET", "/os-instance_usage_audit_log/nope"), 400,
                 "badRequest")
    assert_fault(nova.request(demo, "GET", "/os-instance_usage_audit_log"), 403,
                 "forbidden")
