"""The agents' routes under /compute/kumo/v1: the state snapshot in the contract's
shape, the change feed, and their admin-only policy."""
from __future__ import annotations

from tests.api.compute.conftest import wait_status

INSTANCE_KEYS = {"id", "name", "display_name", "hostname", "project_id", "user_id", "host",
                 "image", "flavor", "power", "reboot_seq", "reboot_type", "rebuild_seq",
                 "ports", "user_data", "revision", "volumes", "snapshot", "rescue",
                 "config_drive"}


def test_state_shape(admin, demo, nova, boot, net):
    made = boot("feed-srv")
    wait_status(nova, demo, made["id"], "ACTIVE")
    host = nova.request(admin, "GET", f"/servers/{made['id']}").json()["server"][
        "OS-EXT-SRV-ATTR:host"]
    state = nova.agent(admin, "GET", "/state", params={"host": host}).json()
    (inst,) = [i for i in state["instances"] if i["id"] == made["id"]]
    assert set(inst) == INSTANCE_KEYS
    assert inst["name"].startswith("instance-") and len(inst["name"]) == 17
    assert inst["flavor"] == {"vcpus": 1, "ram": 128, "disk": 1}
    assert inst["image"]["kumo_rootfs"] == "tar"
    assert set(inst["image"]) == {"id", "container_format", "disk_format", "size",
                                  "checksum", "kumo_rootfs"}
    (port,) = inst["ports"]
    assert set(port) == {"id", "mac_address", "mtu", "network_id", "fixed_ips"}
    assert set(port["fixed_ips"][0]) == {"subnet_id", "ip_address", "cidr", "gateway_ip"}
    assert port["fixed_ips"][0]["cidr"] == "10.77.0.0/28"
    assert inst["power"] == "on" and inst["revision"] <= state["revision"]
    other = "fake-1" if host == "fake-0" else "fake-0"
    assert made["id"] not in [i["id"] for i in nova.agent(
        admin, "GET", "/state", params={"host": other}).json()["instances"]]


def test_changes_feed(admin, demo, nova, boot):
    since = nova.agent(admin, "GET", "/state").json()["revision"]
    made = boot("feed-chg")
    host = nova.request(admin, "GET", f"/servers/{made['id']}").json()["server"][
        "OS-EXT-SRV-ATTR:host"]
    out = nova.agent(admin, "GET", "/changes", params={"since": since, "host": host,
                                                        "wait": 5}).json()
    assert made["id"] in [c["resource_id"] for c in out["changes"]]
    assert out["revision"] > since
    nova.request(demo, "DELETE", f"/servers/{made['id']}")
    later = nova.agent(admin, "GET", "/changes", params={"since": out["revision"],
                                                          "host": host, "wait": 5}).json()
    ops = [(c["resource_id"], c["op"]) for c in later["changes"]]
    assert (made["id"], "delete") in ops
    empty = nova.agent(admin, "GET", "/changes", params={
        "since": later["revision"], "host": "nobody", "wait": 0}).json()
    assert empty == {"revision": later["revision"], "changes": []}


def test_agent_routes_are_admin_only(demo, nova):
    assert nova.agent(demo, "GET", "/state").status_code == 403
    assert nova.agent(demo, "GET", "/changes").status_code == 403
    assert nova.agent(demo, "POST", "/hosts/heartbeat", json={"host": "x"}).status_code \
        == 403
