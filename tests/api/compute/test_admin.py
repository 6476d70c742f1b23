"""Operator views: hypervisors, compute services, availability zones, quotas, limits and
usage (CLI and raw calls per microversion)."""
from __future__ import annotations

from tests.api.compute.conftest import assert_fault, wait_status


def test_hypervisor_cli_and_views(cloud, admin, demo, nova):
    rows = cloud.cli("hypervisor", "list")
    names = {r["Hypervisor Hostname"] for r in rows}
    assert {"fake-0", "fake-1"} <= names
    old = nova.request(admin, "GET", "/os-hypervisors/detail").json()["hypervisors"]
    fake0 = next(h for h in old if h["hypervisor_hostname"] == "fake-0")
    assert isinstance(fake0["id"], int) and fake0["vcpus"] > 0 and fake0["state"] == "up"
    assert fake0["service"]["host"] == "fake-0"
    new = nova.request(admin, "GET", "/os-hypervisors/detail", version="2.88").json()
    fake0 = next(h for h in new["hypervisors"] if h["hypervisor_hostname"] == "fake-0")
    assert len(fake0["id"]) == 36 and "vcpus" not in fake0
    shown = nova.request(admin, "GET", f"/os-hypervisors/{fake0['id']}", version="2.88")
    assert shown.json()["hypervisor"]["hypervisor_hostname"] == "fake-0"
    stats = nova.request(admin, "GET", "/os-hypervisors/statistics").json()
    assert stats["hypervisor_statistics"]["count"] >= 2
    assert_fault(nova.request(admin, "GET", "/os-hypervisors/statistics", version="2.88"),
                 404, "itemNotFound")
    assert_fault(nova.request(demo, "GET", "/os-hypervisors"), 403, "forbidden")
    assert_fault(nova.request(admin, "GET", "/os-hypervisors/99999"), 404, "itemNotFound")


def test_running_vms_counts(admin, demo, nova, boot):
    made = boot("adm-count")
    wait_status(nova, demo, made["id"], "ACTIVE")
    host = nova.request(admin, "GET", f"/servers/{made['id']}").json()["server"][
        "OS-EXT-SRV-ATTR:host"]
    hyps = nova.request(admin, "GET", "/os-hypervisors/detail").json()["hypervisors"]
    mine = next(h for h in hyps if h["hypervisor_hostname"] == host)
    assert mine["running_vms"] >= 1 and mine["memory_mb_used"] >= 128


def test_compute_service_list(cloud, admin, nova):
    rows = cloud.cli("compute", "service", "list")
    mine = {r["Host"]: r for r in rows}
    assert mine["fake-0"]["Binary"] == "nova-compute"
    assert mine["fake-0"]["State"] == "up" and mine["fake-0"]["Zone"] == "nova"
    services = nova.request(admin, "GET", "/os-services", version="2.53").json()
    fake1 = next(s for s in services["services"] if s["host"] == "fake-1")
    resp = nova.request(admin, "PUT", f"/os-services/{fake1['id']}", version="2.53",
                        json={"status": "disabled", "disabled_reason": "r"})
    assert resp.json()["service"]["status"] == "disabled"
    resp = nova.request(admin, "PUT", f"/os-services/{fake1['id']}", version="2.53",
                        json={"status": "enabled"})
    assert resp.json()["service"]["status"] == "enabled"
    assert_fault(nova.request(admin, "PUT", f"/os-services/{fake1['id']}", version="2.53",
                              json={"status": "enabled", "disabled_reason": "x"}), 400,
                 "badRequest")
    assert_fault(nova.request(admin, "DELETE", "/os-services/nope", version="2.53"), 404,
                 "itemNotFound")


def test_availability_zones(cloud, admin, demo, nova):
    zones = nova.request(demo, "GET", "/os-availability-zone").json()
    nova_zone = next(z for z in zones["availabilityZoneInfo"] if z["zoneName"] == "nova")
    assert nova_zone["zoneState"] == {"available": True} and nova_zone["hosts"] is None
    detail = nova.request(admin, "GET", "/os-availability-zone/detail").json()
    nova_zone = next(z for z in detail["availabilityZoneInfo"] if z["zoneName"] == "nova")
    assert nova_zone["hosts"]["fake-0"]["nova-compute"]["active"] is True
    assert_fault(nova.request(demo, "GET", "/os-availability-zone/detail"), 403,
                 "forbidden")
    rows = cloud.cli("availability", "zone", "list", "--compute", cloud="kumo")
    assert "nova" in [r["Zone Name"] for r in rows]


def test_quotas_and_limits(cloud, admin, member, nova):
    project = member.project_id_
    body = nova.request(member, "GET", f"/os-quota-sets/{project}").json()["quota_set"]
    assert body["instances"] == 10 and body["cores"] == 20 and body["ram"] == 51200
    assert body["floating_ips"] == 10  # legacy key before 2.36
    new = nova.request(member, "GET", f"/os-quota-sets/{project}", version="2.57").json()
    assert "floating_ips" not in new["quota_set"] and "injected_files" not in new[
        "quota_set"]
    assert_fault(nova.request(member, "PUT", f"/os-quota-sets/{project}",
                              json={"quota_set": {"cores": 5}}), 403, "forbidden")
    cloud.cli("quota", "set", "--cores", "7", project, parse=False)
    detail = nova.request(member, "GET", f"/os-quota-sets/{project}/detail").json()
    assert detail["quota_set"]["cores"] == {"limit": 7, "in_use": 0, "reserved": 0}
    limits = nova.request(member, "GET", "/limits").json()["limits"]
    assert limits["rate"] == [] and limits["absolute"]["maxTotalCores"] == 7
    assert limits["absolute"]["totalInstancesUsed"] == 0
    assert nova.request(admin, "DELETE", f"/os-quota-sets/{project}").status_code == 202
    assert nova.request(member, "GET", "/limits").json()["limits"]["absolute"][
        "maxTotalCores"] == 20
    defaults = nova.request(member, "GET", f"/os-quota-sets/{project}/defaults").json()
    assert defaults["quota_set"]["key_pairs"] == 100
    out = cloud.cli("limits", "show", "--absolute", cloud="kumo")
    assert {r["Name"]: r["Value"] for r in out}["instances"] == 10


def test_usage(admin, demo, nova, boot):
    made = boot("adm-usage")
    wait_status(nova, demo, made["id"], "ACTIVE")
    project = demo.current_project_id
    resp = nova.request(demo, "GET", f"/os-simple-tenant-usage/{project}",
                        params={"start": "2000-01-01T00:00:00", "end": "2100-01-01T00:00:00"})
    usage = resp.json()["tenant_usage"]
    assert usage["tenant_id"] == project
    assert made["id"] in [s["instance_id"] for s in usage["server_usages"]]
    listed = nova.request(admin, "GET", "/os-simple-tenant-usage").json()
    assert "tenant_usages" in listed
    assert_fault(nova.request(demo, "GET", "/os-simple-tenant-usage"), 403, "forbidden")
    assert_fault(nova.request(demo, "GET", f"/os-simple-tenant-usage/{project}",
                              params={"start": "2100-01-01T00:00:00",
                                      "end": "2000-01-01T00:00:00"}), 400, "badRequest")


def test_hypervisor_servers(admin, demo, nova, boot):
    made = boot("adm-hyp")
    host = nova.request(admin, "GET", f"/servers/{made['id']}").json()["server"][
        "OS-EXT-SRV-ATTR:host"]
    resp = nova.request(admin, "GET", "/os-hypervisors", version="2.53",
                        params={"with_servers": "true", "hypervisor_hostname_pattern": host})
    (hyp,) = resp.json()["hypervisors"]
    assert made["id"] in [s["uuid"] for s in hyp["servers"]]
    old = nova.request(admin, "GET", f"/os-hypervisors/{host}/servers").json()
    assert made["id"] in [s["uuid"] for h in old["hypervisors"] for s in h.get("servers", [])]
