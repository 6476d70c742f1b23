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
    # a number past the id column's range (was the database's overflow: a 500), or
    # written in other digits, names no hypervisor, service or aggregate
    for huge in ("9" * 25, str(2 ** 31), "\u0661"):
        assert_fault(nova.request(admin, "GET", f"/os-hypervisors/{huge}"), 404,
                     "itemNotFound")
        assert_fault(nova.request(admin, "DELETE", f"/os-services/{huge}"), 404,
                     "itemNotFound")
        assert_fault(nova.request(admin, "GET", f"/os-aggregates/{huge}"), 404,
                     "itemNotFound")


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
    assert body["floating_ips"] == 50  # legacy key before 2.36: Neutron's quota
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


def test_limits_follow_quotas_and_usage(cloud, admin, member, nova):
    """``openstack limits show --absolute`` says what ``openstack quota show`` says
    (Nova's quotas, and Neutron's for the network proxies before 2.36) and counts the
    project's servers and security groups."""
    project = member.project_id_
    cloud.cli("quota", "set", "--instances", "4", "--cores", "9", "--ram", "4096",
              "--key-pairs", "7", "--server-groups", "3", "--server-group-members", "5",
              "--properties", "11", "--floating-ips", "6", "--secgroups", "8",
              "--secgroup-rules", "33", project, parse=False)
    quota = cloud.cli("quota", "show", project)
    quota = quota if isinstance(quota, dict) else {r["Resource"]: r["Limit"] for r in quota}
    assert quota["instances"] == 4 and quota["floating_ips"] == 6
    made = nova.request(member, "POST", "/servers", version="2.37", json={"server": {
        "name": "lim-1", "imageRef": next(iter(admin.image.images(name="cirros"))).id,
        "flavorRef": "42", "networks": "none"}})
    assert made.status_code == 202, made.text
    wait_status(nova, member, made.json()["server"]["id"], "ACTIVE")
    member.network.create_security_group(name="lim-sg")
    groups = len(list(member.network.security_groups(project_id=project)))

    rows = cloud.cli("limits", "show", "--absolute", "--project", project)
    shown = {r["Name"]: r["Value"] for r in rows}
    assert shown["instances"] == quota["instances"] == 4
    assert shown["total_cores"] == quota["cores"] == 9
    assert shown["total_ram"] == quota["ram"] == 4096
    assert shown["keypairs"] == quota["key-pairs"] == 7
    assert shown["server_groups"] == 3 and shown["server_group_members"] == 5
    assert shown["server_meta"] == quota["properties"] == 11
    flavor = nova.request(admin, "GET", "/flavors/42").json()["flavor"]
    assert shown["instances_used"] == 1
    assert shown["total_cores_used"] == flavor["vcpus"]
    assert shown["total_ram_used"] == flavor["ram"]

    old = nova.request(admin, "GET", "/limits", params={"tenant_id": project}).json()
    absolute = old["limits"]["absolute"]
    assert absolute["maxTotalFloatingIps"] == quota["floating_ips"] == 6
    assert absolute["maxSecurityGroups"] == quota["security_groups"] == 8
    assert absolute["maxSecurityGroupRules"] == quota["security_group_rules"] == 33
    assert absolute["totalSecurityGroupsUsed"] == groups >= 1
    assert absolute["totalFloatingIpsUsed"] == 0
    assert absolute["maxImageMeta"] == 11 and absolute["maxPersonality"] == 5
    sets = nova.request(admin, "GET", f"/os-quota-sets/{project}").json()["quota_set"]
    assert (sets["floating_ips"], sets["security_groups"]) == (6, 8)
    for version, gone in (("2.36", {"maxTotalFloatingIps", "maxSecurityGroups",
                                    "totalSecurityGroupsUsed"}),
                          ("2.39", {"maxImageMeta"}),
                          ("2.57", {"maxPersonality", "maxPersonalitySize"})):
        absolute = nova.request(admin, "GET", "/limits", version=version,
                                params={"tenant_id": project}).json()["limits"]["absolute"]
        assert not gone & set(absolute), (version, absolute)
        assert absolute["maxTotalInstances"] == 4 and absolute["totalInstancesUsed"] == 1


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
