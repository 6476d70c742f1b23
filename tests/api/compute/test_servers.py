"""Servers: create (networks, ports, security groups, counts, tags, user data), list
filters, show per microversion and role, update, delete with port clean-up, and the
create errors (400/403/409)."""
from __future__ import annotations

import base64

from tests.api.compute.conftest import assert_fault, wait_for, wait_status


def test_cli_create_show_list_delete(cloud, demo, net, unique):
    name = unique("srv")
    out = cloud.cli("server", "create", "--image", "cirros", "--flavor", "m1.tiny",
                    "--network", net[0].name, "--wait", name, cloud="kumo")
    assert out["status"] == "ACTIVE"
    shown = cloud.cli("server", "show", name, cloud="kumo")
    assert shown["status"] == "ACTIVE" and shown["flavor"]
    assert net[0].name in str(shown["addresses"])
    rows = cloud.cli("server", "list", cloud="kumo")
    assert name in [r["Name"] for r in rows]
    cloud.cli("server", "delete", "--wait", name, cloud="kumo", parse=False)
    assert name not in [r["Name"] for r in cloud.cli("server", "list", cloud="kumo")]


def test_sdk_create_ports_and_addresses(demo, nova, net, image_id, unique):
    server = demo.compute.create_server(name=unique("srv"), image_id=image_id,
                                        flavor_id="42", networks=[{"uuid": net[0].id}])
    server = demo.compute.wait_for_server(server, status="ACTIVE", wait=30, interval=0.2)
    ports = list(demo.network.ports(device_id=server.id))
    assert len(ports) == 1
    port = ports[0]
    assert port.device_owner == "compute:nova"
    (addr,) = server.addresses[net[0].name]
    assert addr["addr"] == port.fixed_ips[0]["ip_address"]
    assert addr["OS-EXT-IPS-MAC:mac_addr"] == port.mac_address
    assert addr["OS-EXT-IPS:type"] == "fixed"
    default = next(iter(demo.network.security_groups(name="default",
                                                     project_id=demo.current_project_id)))
    assert port.security_group_ids == [default.id]
    demo.compute.delete_server(server)
    assert wait_for(lambda: not list(demo.network.ports(device_id=server.id)))


def test_admin_sees_binding_and_ext_attrs(admin, demo, nova, boot):
    made = boot("srv-ext")
    body = wait_status(nova, admin, made["id"], "ACTIVE", version="2.3")
    assert body["OS-EXT-SRV-ATTR:host"] in ("fake-0", "fake-1")
    assert body["OS-EXT-SRV-ATTR:instance_name"].startswith("instance-")
    assert body["OS-EXT-STS:vm_state"] == "active"
    assert body["OS-EXT-STS:power_state"] == 1
    (port,) = admin.network.ports(device_id=made["id"])
    assert port.binding_host_id == body["OS-EXT-SRV-ATTR:host"]
    mine = nova.request(demo, "GET", f"/servers/{made['id']}", version="2.3").json()
    assert "OS-EXT-SRV-ATTR:host" not in mine["server"]
    assert mine["server"]["hostId"]


def test_flavor_by_microversion(demo, nova, boot):
    made = boot("srv-fl")
    old = nova.request(demo, "GET", f"/servers/{made['id']}").json()["server"]
    assert old["flavor"]["id"] == "42"
    new = nova.request(demo, "GET", f"/servers/{made['id']}", version="2.47").json()
    assert new["server"]["flavor"]["original_name"] == "m1.nano"
    assert new["server"]["flavor"]["ram"] == 128


def test_given_port_is_unbound_on_delete(demo, nova, net, boot):
    port = demo.network.create_port(network_id=net[0].id)
    made = boot("srv-port", networks=[{"port": port.id}])
    wait_status(nova, demo, made["id"], "ACTIVE")
    assert demo.network.get_port(port.id).device_id == made["id"]
    resp = nova.request(demo, "POST", "/servers", json={"server": {
        "name": "again", "imageRef": made and demo.compute.get_server(made["id"]).image.id,
        "flavorRef": "42", "networks": [{"port": port.id}]}})
    assert_fault(resp, 409, "conflictingRequest")
    assert nova.request(demo, "DELETE", f"/servers/{made['id']}").status_code == 204
    kept = demo.network.get_port(port.id)
    assert kept.device_id == "" and kept.device_owner == ""


def test_fixed_ip_and_security_group_by_name(demo, nova, net, boot, unique):
    group = demo.network.create_security_group(name=unique("sg"))
    try:
        made = boot("srv-ip", networks=[{"uuid": net[0].id, "fixed_ip": "10.77.0.9"}],
                    security_groups=[{"name": group.name}])
        (port,) = demo.network.ports(device_id=made["id"])
        assert port.fixed_ips[0]["ip_address"] == "10.77.0.9"
        assert port.security_group_ids == [group.id]
        assert made["security_groups"] == [{"name": group.name}]
        nova.request(demo, "DELETE", f"/servers/{made['id']}")
    finally:
        wait_for(lambda: not list(demo.network.ports(device_id=made["id"])))
        demo.network.delete_security_group(group)


def test_networks_none_and_auto(demo, nova, boot, net):
    made = boot("srv-none", version="2.37", networks="none")
    body = wait_status(nova, demo, made["id"], "ACTIVE")
    assert body["addresses"] == {}
    resp = nova.request(demo, "POST", "/servers", version="2.37", json={"server": {
        "name": "x", "imageRef": body["image"]["id"], "flavorRef": "42"}})
    assert_fault(resp, 400, "badRequest")


def test_create_errors(demo, nova, image_id, net):
    def post(**attrs):
        body = {"name": "bad", "imageRef": image_id, "flavorRef": "42",
                "networks": [{"uuid": net[0].id}], **attrs}
        return nova.request(demo, "POST", "/servers", json={"server": body})
    assert "Flavor" in assert_fault(post(flavorRef="nope"), 400, "badRequest")
    assert "image" in assert_fault(post(imageRef="0" * 8 + "-0000-0000-0000-" + "0" * 12),
                                   400, "badRequest")
    assert "Network" in assert_fault(post(networks=[{"uuid": "a" * 8 + "-0000-0000-0000-"
                                                     + "0" * 12}]), 400, "badRequest")
    assert "base 64" in assert_fault(post(user_data="%%%not-base64"), 400, "badRequest")
    assert "key_name" in assert_fault(post(key_name="missing"), 400, "badRequest")
    assert_fault(post(security_groups=[{"name": "no-such-group"}]), 400, "badRequest")
    assert_fault(post(availability_zone="nowhere"), 400, "badRequest")
    assert_fault(post(min_count=3, max_count=2), 400, "badRequest")
    assert_fault(post(networks=[{"uuid": net[0].id, "fixed_ip": "300.1.1.1"}]), 400,
                 "badRequest")
    assert not [s for s in demo.compute.servers() if s.name == "bad"]
    assert not [p for p in demo.network.ports(network_id=net[0].id)
                if p.device_owner == "compute:nova"]


def test_quota_403(member, nova, admin, image_id, unique):
    project = member.project_id_
    network = member.network.create_network(name=unique("qn"))
    member.network.create_subnet(network_id=network.id, ip_version=4, cidr="10.78.0.0/28")
    resp = nova.request(admin, "PUT", f"/os-quota-sets/{project}",
                        json={"quota_set": {"instances": 1}})
    assert resp.json()["quota_set"]["instances"] == 1
    body = {"name": "q", "imageRef": image_id, "flavorRef": "42",
            "networks": [{"uuid": network.id}]}
    first = nova.request(member, "POST", "/servers", json={"server": body})
    assert first.status_code == 202
    msg = assert_fault(nova.request(member, "POST", "/servers", json={"server": body}),
                       403, "forbidden")
    assert msg.startswith("Quota exceeded for instances: Requested 1, but already used 1 "
                          "of 1 instances")
    nova.request(member, "DELETE", f"/servers/{first.json()['server']['id']}")
    wait_for(lambda: not list(member.network.ports(device_owner="compute:nova")))
    member.network.delete_network(network)


def test_min_max_count_and_reservation(demo, nova, boot):
    out = boot("multi", min_count=2, max_count=2, return_reservation_id=True)
    rid = out["reservation_id"]
    servers = nova.request(demo, "GET", "/servers/detail",
                           params={"reservation_id": rid}).json()["servers"]
    try:
        assert sorted(s["name"] for s in servers) == ["multi-1", "multi-2"]
    finally:
        for s in servers:
            nova.request(demo, "DELETE", f"/servers/{s['id']}")


def test_user_data_metadata_tags(demo, nova, boot, admin):
    data = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
    made = boot("srv-ud", version="2.52", user_data=data, metadata={"role": "web"},
                tags=["a", "b"])
    body = nova.request(admin, "GET", f"/servers/{made['id']}", version="2.52").json()
    server = body["server"]
    assert server["metadata"] == {"role": "web"} and server["tags"] == ["a", "b"]
    assert server["OS-EXT-SRV-ATTR:user_data"] == data
    found = nova.request(demo, "GET", "/servers", version="2.52",
                         params={"tags": "a,b"}).json()["servers"]
    assert [s["id"] for s in found] == [made["id"]]
    assert_fault(nova.request(demo, "POST", "/servers", version="2.51", json={"server": {
        "name": "x", "imageRef": server["image"]["id"], "flavorRef": "42", "tags": ["a"],
        "networks": "none"}}), 400, "badRequest")


def test_list_filters(demo, admin, nova, boot):
    a = boot("flt-alpha")
    b = boot("flt-beta")
    wait_status(nova, demo, a["id"], "ACTIVE")
    wait_status(nova, demo, b["id"], "ACTIVE")

    def names(conn=demo, **params):
        return sorted(s["name"] for s in nova.request(
            conn, "GET", "/servers/detail", params=params).json()["servers"])
    assert names(name="^flt-al") == ["flt-alpha"]
    assert "flt-beta" in names(status="ACTIVE")
    assert "flt-beta" not in names(status="SHUTOFF")
    assert "flt-alpha" in names(flavor="42")
    assert_fault(nova.request(demo, "GET", "/servers", version="2.38",
                              params={"status": "WRONG"}), 400, "badRequest")
    assert "flt-alpha" not in names(admin)
    assert "flt-alpha" in names(admin, all_tenants="1")
    host = nova.request(admin, "GET", f"/servers/{a['id']}").json()["server"][
        "OS-EXT-SRV-ATTR:host"]
    assert "flt-alpha" in names(admin, all_tenants="1", host=host)
    ip = next(iter(nova.request(demo, "GET", f"/servers/{a['id']}").json()["server"][
        "addresses"].values()))[0]["addr"]
    assert names(ip=ip.replace(".", r"\.") + "$") == ["flt-alpha"]
    page = nova.request(demo, "GET", "/servers", params={"limit": 1}).json()
    assert len(page["servers"]) == 1 and page["servers_links"]
    marker = page["servers"][0]["id"]
    nxt = nova.request(demo, "GET", "/servers", params={"limit": 1, "marker": marker})
    assert nxt.json()["servers"][0]["id"] != marker
    assert_fault(nova.request(demo, "GET", "/servers", params={"marker": "nope"}), 400,
                 "badRequest")


def test_changes_since_shows_deleted(demo, nova, boot):
    made = boot("srv-gone")
    since = nova.request(demo, "GET", f"/servers/{made['id']}").json()["server"]["created"]
    assert nova.request(demo, "DELETE", f"/servers/{made['id']}").status_code == 204
    assert_fault(nova.request(demo, "GET", f"/servers/{made['id']}"), 404, "itemNotFound")
    gone = nova.request(demo, "GET", "/servers/detail",
                        params={"changes-since": since}).json()["servers"]
    assert [s["status"] for s in gone if s["id"] == made["id"]] == ["DELETED"]


def test_update_name_description(demo, nova, boot):
    made = boot("srv-upd")
    resp = nova.request(demo, "PUT", f"/servers/{made['id']}", version="2.19",
                        json={"server": {"name": "renamed", "description": "d"}})
    assert resp.json()["server"]["name"] == "renamed"
    assert resp.json()["server"]["description"] == "d"
    assert_fault(nova.request(demo, "PUT", f"/servers/{made['id']}",
                              json={"server": {"description": "d"}}), 400, "badRequest")


def test_other_project_cannot_see(member, nova, boot):
    made = boot("srv-private")
    assert_fault(nova.request(member, "GET", f"/servers/{made['id']}"), 404,
                 "itemNotFound")
    assert_fault(nova.request(member, "DELETE", f"/servers/{made['id']}"), 404,
                 "itemNotFound")


def test_access_ips_stored_and_shown(demo, nova, boot, image_id):
    """accessIPv4/accessIPv6 as given at create, changed by update and rebuild, shown in
    show/detail and by openstacksdk (Tempest's test_verify_server_details and
    test_update_access_server_address)."""
    made = boot("srv-access", accessIPv4="1.1.1.1", accessIPv6="0000:0000:0000:0000:"
                "0000:babe:220.12.22.2")
    sid = made["id"]
    body = nova.request(demo, "GET", f"/servers/{sid}").json()["server"]
    assert body["accessIPv4"] == "1.1.1.1"
    assert body["accessIPv6"] == "::babe:dc0c:1602"  # normalized, as Nova stores it
    sdk = demo.compute.get_server(sid)
    assert sdk.access_ipv4 == "1.1.1.1"
    resp = nova.request(demo, "PUT", f"/servers/{sid}",
                        json={"server": {"accessIPv4": "4.3.2.1", "accessIPv6": "::babe:4.3.2.1"}})
    assert resp.status_code == 200
    assert resp.json()["server"]["accessIPv4"] == "4.3.2.1"
    assert resp.json()["server"]["accessIPv6"] == "::babe:403:201"
    listed = {s["id"]: s for s in nova.request(demo, "GET", "/servers/detail").json()["servers"]}
    assert listed[sid]["accessIPv4"] == "4.3.2.1"
    wait_status(nova, demo, sid, "ACTIVE")
    resp = nova.request(demo, "POST", f"/servers/{sid}/action", json={"rebuild": {
        "imageRef": image_id, "accessIPv4": "5.5.5.5"}})
    assert resp.status_code == 202, resp.text
    assert resp.json()["server"]["accessIPv4"] == "5.5.5.5"
    assert resp.json()["server"]["accessIPv6"] == "::babe:403:201"  # kept
    # a server made without them shows empty strings; a bad address is a 400
    plain = boot("srv-noaccess")
    body = nova.request(demo, "GET", f"/servers/{plain['id']}").json()["server"]
    assert (body["accessIPv4"], body["accessIPv6"]) == ("", "")
    assert_fault(nova.request(demo, "PUT", f"/servers/{sid}",
                              json={"server": {"accessIPv4": "not-an-ip"}}), 400, "badRequest")
    body = nova.request(demo, "GET", f"/servers/{sid}").json()["server"]
    assert body["accessIPv4"] == "5.5.5.5"
