"""The scheduler: server group policies over the two fake hosts, the RAM filter,
disabled services, and rescheduling after agent-reported boot errors (on hosts the
test plays the agent of, in an availability zone of their own)."""
from __future__ import annotations

import uuid

import pytest

from tests.api.compute.conftest import assert_fault, wait_status


def host_of(nova, admin, sid):
    return nova.request(admin, "GET", f"/servers/{sid}").json()["server"][
        "OS-EXT-SRV-ATTR:host"]


def make_group(nova, demo, policy, version="2.64"):
    body = {"name": f"g-{policy}"}
    if version == "2.64":
        body["policy"] = policy
    else:
        body["policies"] = [policy]
    resp = nova.request(demo, "POST", "/os-server-groups", json={"server_group": body},
                        version=version)
    assert resp.status_code == 200, resp.text
    return resp.json()["server_group"]


def test_anti_affinity_spreads_then_no_valid_host(demo, admin, nova, boot):
    group = make_group(nova, demo, "anti-affinity")
    try:
        a = boot("aa-1", hints={"group": group["id"]})
        b = boot("aa-2", hints={"group": group["id"]})
        wait_status(nova, demo, a["id"], "ACTIVE")
        wait_status(nova, demo, b["id"], "ACTIVE")
        assert {host_of(nova, admin, a["id"]), host_of(nova, admin, b["id"])} == \
            {"fake-0", "fake-1"}
        c = boot("aa-3", hints={"group": group["id"]})
        body = wait_status(nova, demo, c["id"], "ERROR")
        assert body["fault"]["code"] == 500
        assert "No valid host was found" in body["fault"]["message"]
        members = nova.request(demo, "GET", f"/os-server-groups/{group['id']}",
                               version="2.64").json()["server_group"]["members"]
        assert set(members) == {a["id"], b["id"], c["id"]}
    finally:
        for s in demo.compute.servers():
            if s.name.startswith("aa-"):
                demo.compute.delete_server(s)
        nova.request(demo, "DELETE", f"/os-server-groups/{group['id']}")


@pytest.mark.parametrize("policy", ["affinity", "soft-affinity"])
def test_affinity_packs(demo, admin, nova, boot, policy):
    group = make_group(nova, demo, policy)
    try:
        ids = [boot(f"af-{i}", hints={"group": group["id"]})["id"] for i in range(3)]
        assert len({host_of(nova, admin, i) for i in ids}) == 1
    finally:
        for i in ids:
            nova.request(demo, "DELETE", f"/servers/{i}")
        nova.request(demo, "DELETE", f"/os-server-groups/{group['id']}")


def test_soft_anti_affinity_spreads(demo, admin, nova, boot):
    group = make_group(nova, demo, "soft-anti-affinity", version="2.15")
    assert group["policies"] == ["soft-anti-affinity"]
    try:
        ids = [boot(f"saa-{i}", hints={"group": group["id"]})["id"] for i in range(3)]
        hosts = [host_of(nova, admin, i) for i in ids]
        assert set(hosts) == {"fake-0", "fake-1"}
        for i in ids:
            assert nova.request(demo, "GET", f"/servers/{i}").json()["server"][
                "status"] != "ERROR"
    finally:
        for i in ids:
            nova.request(demo, "DELETE", f"/servers/{i}")
        nova.request(demo, "DELETE", f"/os-server-groups/{group['id']}")


def test_server_group_api(cloud, demo, nova):
    out = cloud.cli("server", "group", "create", "--policy", "anti-affinity",
                    "cli-group", cloud="kumo")
    try:
        assert out["policy"] == "anti-affinity"
        listed = nova.request(demo, "GET", "/os-server-groups").json()["server_groups"]
        assert out["id"] in [g["id"] for g in listed]
        resp = nova.request(demo, "POST", "/os-server-groups", version="2.64", json={
            "server_group": {"name": "x", "policy": "affinity",
                             "rules": {"max_server_per_host": 2}}})
        assert_fault(resp, 400, "badRequest")
        resp = nova.request(demo, "POST", "/os-server-groups", version="2.64", json={
            "server_group": {"name": "x", "policies": ["affinity"]}})
        assert_fault(resp, 400, "badRequest")
    finally:
        cloud.cli("server", "group", "delete", out["id"], cloud="kumo", parse=False)
    assert_fault(nova.request(demo, "GET", f"/os-server-groups/{out['id']}"), 404,
                 "itemNotFound")


def test_ram_filter(demo, admin, nova, boot, unique):
    flavor = admin.compute.create_flavor(name=unique("huge"), ram=64, vcpus=1, disk=10 ** 7)
    made = None
    try:
        made = boot("too-big", flavorRef=flavor.id)
        body = wait_status(nova, demo, made["id"], "ERROR")
        assert "No valid host" in body["fault"]["message"]
        assert not list(demo.network.ports(device_id=made["id"]))
    finally:
        if made:
            nova.request(demo, "DELETE", f"/servers/{made['id']}")
        admin.compute.delete_flavor(flavor)


def test_disabled_service_gets_nothing(cloud, demo, admin, nova, boot):
    cloud.cli("compute", "service", "set", "--disable", "--disable-reason", "test",
              "fake-0", "nova-compute", parse=False)
    try:
        rows = cloud.cli("compute", "service", "list")
        assert {r["Host"]: r["Status"] for r in rows}["fake-0"] == "disabled"
        ids = [boot(f"dis-{i}")["id"] for i in range(2)]
        assert {host_of(nova, admin, i) for i in ids} == {"fake-1"}
    finally:
        cloud.cli("compute", "service", "set", "--enable", "fake-0", "nova-compute",
                  parse=False)


class Ghosts:
    """Compute hosts in zone ``zone`` whose agent is the test itself."""

    def __init__(self, nova, admin, count):
        self.nova, self.admin = nova, admin
        self.zone = "z" + uuid.uuid4().hex[:8]
        self.hosts = [f"ghost-{self.zone}-{i}" for i in range(count)]
        self.beat()

    def beat(self):
        for h in self.hosts:
            resp = self.nova.agent(self.admin, "POST", "/hosts/heartbeat", json={
                "host": h, "hypervisor_type": "fake", "hypervisor_hostname": h,
                "vcpus": 4, "memory_mb": 4096, "local_gb": 40,
                "availability_zone": self.zone, "driver": "fake", "host_ip": "127.0.0.1"})
            assert resp.status_code == 204, resp.text

    def report(self, sid, host, **body):
        return self.nova.agent(self.admin, "POST", f"/instances/{sid}/status",
                               json={"host": host, **body})

    def remove(self):
        services = self.nova.request(self.admin, "GET", "/os-services",
                                     version="2.53").json()["services"]
        for s in services:
            if s["host"] in self.hosts:
                self.nova.request(self.admin, "DELETE", f"/os-services/{s['id']}",
                                  version="2.53")


def test_reschedule_then_error_when_no_host_left(demo, admin, nova, boot):
    ghosts = Ghosts(nova, admin, 2)
    try:
        made = boot("resched", availability_zone=ghosts.zone)
        first = host_of(nova, admin, made["id"])
        assert first in ghosts.hosts
        (port,) = admin.network.ports(device_id=made["id"])
        assert port.binding_host_id == first
        assert ghosts.report(made["id"], first, power_state="nostate", reboot_seq=0,
                             rebuild_seq=0, error="boom 1").status_code == 204
        second = host_of(nova, admin, made["id"])
        assert second in ghosts.hosts and second != first
        assert admin.network.get_port(port.id).binding_host_id == second
        assert ghosts.report(made["id"], first, power_state="nostate",
                             error="late").status_code == 409
        assert nova.request(demo, "GET", f"/servers/{made['id']}").json()["server"][
            "status"] == "BUILD"
        ghosts.report(made["id"], second, power_state="nostate", error="boom 2")
        body = wait_status(nova, demo, made["id"], "ERROR")
        assert "No valid host" in body["fault"]["message"]
        assert "boom 2" in body["fault"]["message"]
    finally:
        nova.request(demo, "DELETE", f"/servers/{made['id']}")
        ghosts.remove()


def test_max_attempts_then_error(demo, admin, nova, boot):
    ghosts = Ghosts(nova, admin, 4)
    try:
        made = boot("retries", availability_zone=ghosts.zone)
        tried = []
        for i in range(3):
            host = host_of(nova, admin, made["id"])
            assert host not in tried
            tried.append(host)
            ghosts.report(made["id"], host, power_state="nostate", error=f"fail {i}")
        body = wait_status(nova, admin, made["id"], "ERROR")
        assert "Exceeded maximum number of retries" in body["fault"]["message"]
        assert body["fault"]["details"]
        mine = nova.request(demo, "GET", f"/servers/{made['id']}").json()["server"]
        assert "details" not in mine["fault"]
    finally:
        nova.request(demo, "DELETE", f"/servers/{made['id']}")
        ghosts.remove()


def test_status_report_drives_states(demo, admin, nova, boot):
    ghosts = Ghosts(nova, admin, 1)
    host = ghosts.hosts[0]
    try:
        made = boot("ghost-run", availability_zone=ghosts.zone)
        sid = made["id"]
        ghosts.report(sid, host, power_state="running", reboot_seq=0, rebuild_seq=0,
                      console="cirros-init: up\n")
        assert wait_status(nova, demo, sid, "ACTIVE")["OS-EXT-STS:power_state"] == 1
        nova.request(demo, "POST", f"/servers/{sid}/action", json={"reboot": {
            "type": "SOFT"}})
        ghosts.report(sid, host, power_state="running", reboot_seq=0, rebuild_seq=0)
        assert nova.request(demo, "GET", f"/servers/{sid}").json()["server"][
            "status"] == "REBOOT"
        ghosts.report(sid, host, power_state="running", reboot_seq=1, rebuild_seq=0)
        wait_status(nova, demo, sid, "ACTIVE")
        ghosts.report(sid, host, power_state="shutdown", reboot_seq=1, rebuild_seq=0)
        wait_status(nova, demo, sid, "SHUTOFF")
        assert ghosts.report(str(uuid.uuid4()), host, power_state="running").status_code \
            == 404
        assert nova.agent(demo, "POST", f"/instances/{sid}/status",
                          json={"host": host}).status_code == 403
    finally:
        nova.request(demo, "DELETE", f"/servers/{made['id']}")
        ghosts.remove()


def test_actions_on_unplaced_server_409(demo, admin, nova, boot, unique):
    flavor = admin.compute.create_flavor(name=unique("huge"), ram=64, vcpus=1, disk=10 ** 7)
    made = None
    try:
        made = boot("unplaced", flavorRef=flavor.id)
        wait_status(nova, demo, made["id"], "ERROR")
        for body in ({"os-stop": None}, {"reboot": {"type": "HARD"}}):
            resp = nova.request(demo, "POST", f"/servers/{made['id']}/action", json=body)
            assert_fault(resp, 409, "conflictingRequest")
    finally:
        if made:
            nova.request(demo, "DELETE", f"/servers/{made['id']}")
        admin.compute.delete_flavor(flavor)


def test_forced_host_places_the_server_where_asked_by_admins_only(demo, admin, nova, boot,
                                                                  image_id, net):
    # Nova: availability_zone "<zone>:<host>" puts the server on that host (admins only;
    # kumo up --hosts relies on it: --availability-zone nova:<host>)
    for host in ("fake-1", "fake-1", "fake-0"):
        made = boot(f"forced-{host}", conn=admin, availability_zone=f"nova:{host}")
        assert host_of(nova, admin, made["id"]) == host
    body = {"server": {"name": "forced-x", "imageRef": image_id, "flavorRef": "42",
                       "networks": [{"uuid": net[0].id}],
                       "availability_zone": "nova:fake-0"}}
    assert_fault(nova.request(demo, "POST", "/servers", json=body), 403, "forbidden")
    body["server"]["availability_zone"] = "nova:no-such-host"
    assert_fault(nova.request(admin, "POST", "/servers", json=body), 400, "badRequest")
    assert not [s for s in admin.compute.servers(all_projects=True)
                if s.name == "forced-x"]
