"""The dashboard's forms over plain HTTP, checked against the APIs with openstacksdk:
key pairs, security groups and rules, floating IPs, subnets, router interfaces and
gateway, launching several servers with a key, groups and user data, power actions."""
from __future__ import annotations

import base64
import re

import pytest

from tests.browser.conftest import csrf_of, http_login
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def member(dash_cloud, users):
    client = http_login(dash_cloud, users["demo"])
    yield client
    client.close()


def post(client, path: str, data: dict, page: str | None = None):
    """POST ``data`` to ``path`` with the CSRF token of ``page`` (default ``path``)."""
    token = csrf_of(client.get(page or path).text)
    resp = client.post(path, data={**data, "csrf_token": token})
    assert resp.status_code == 200, resp.text
    return resp


def flash(resp) -> list[str]:
    return re.findall(r'class="flash[^"]*"[^>]*>([^<]*)<', resp.text)


def test_key_pairs(member, demo_conn):
    resp = post(member, "/dashboard/project/key_pairs", {"name": "dash-key"})
    assert "BEGIN" in re.search(r'<pre id="private-key">([^<]*)</pre>', resp.text).group(1)
    assert demo_conn.compute.find_keypair("dash-key") is not None
    # shown once: the next page has no private key
    assert "private-key" not in member.get("/dashboard/project/key_pairs").text
    post(member, "/dashboard/project/key_pairs/dash-key/delete", {},
         "/dashboard/project/key_pairs")
    assert demo_conn.compute.find_keypair("dash-key") is None


def test_security_group_and_rules(member, demo_conn):
    resp = post(member, "/dashboard/project/security_groups", {"name": "dash-sg",
                                                               "description": "web"})
    group = demo_conn.network.find_security_group("dash-sg")
    assert resp.url.path == f"/dashboard/project/security_groups/{group.id}"
    post(member, resp.url.path, {"direction": "ingress", "ethertype": "IPv4",
                                 "protocol": "tcp", "port_range_min": "22",
                                 "port_range_max": "22", "remote_ip_prefix": "0.0.0.0/0"})
    rules = [r for r in demo_conn.network.security_group_rules(security_group_id=group.id)
             if r.protocol == "tcp"]
    assert [(r.port_range_min, r.port_range_max, r.remote_ip_prefix) for r in rules] == \
        [(22, 22, "0.0.0.0/0")]
    # a bad rule: the API's message, nothing made
    resp = post(member, resp.url.path, {"direction": "ingress", "ethertype": "IPv4",
                                        "protocol": "tcp", "port_range_min": "99999"})
    assert any(m.startswith("Error: ") for m in flash(resp)), resp.text
    post(member, f"/dashboard/project/security_group_rules/{rules[0].id}/delete",
         {"group_id": group.id}, f"/dashboard/project/security_groups/{group.id}")
    assert not [r for r in demo_conn.network.security_group_rules(
        security_group_id=group.id) if r.protocol == "tcp"]
    post(member, f"/dashboard/project/security_groups/{group.id}/delete", {},
         "/dashboard/project/security_groups")
    assert demo_conn.network.find_security_group("dash-sg") is None


def test_router_interfaces_gateway_and_floating_ips(member, demo_conn):
    post(member, "/dashboard/project/networks", {"name": "dash-net", "cidr": "10.91.0.0/24",
                                                 "enable_dhcp": "1"})
    net = demo_conn.network.find_network("dash-net")
    post(member, f"/dashboard/project/networks/{net.id}/subnets",
         {"subnet_name": "second", "cidr": "10.92.0.0/24"},
         f"/dashboard/project/networks/{net.id}")
    subnets = {s.name: s for s in demo_conn.network.subnets(network_id=net.id)}
    assert set(subnets) == {"dash-net-subnet", "second"}
    assert subnets["dash-net-subnet"].is_dhcp_enabled and not subnets["second"].is_dhcp_enabled
    resp = post(member, "/dashboard/project/routers", {"name": "dash-router"})
    router = demo_conn.network.find_router("dash-router")
    assert not router.external_gateway_info
    post(member, f"/dashboard/project/routers/{router.id}/interfaces",
         {"subnet_id": subnets["dash-net-subnet"].id}, resp.url.path)
    public = demo_conn.network.find_network("public")
    post(member, f"/dashboard/project/routers/{router.id}/gateway",
         {"external_network": public.id}, resp.url.path)
    assert demo_conn.network.get_router(router.id).external_gateway_info["network_id"] == \
        public.id
    page = member.get(resp.url.path).text
    assert "10.91.0.1" in page and "gateway" in page

    # floating IPs: allocate, release
    resp = post(member, "/dashboard/project/floating_ips", {"floating_network_id": public.id})
    address = re.search(r"Allocated (\S+)\.", resp.text).group(1)
    fip = next(demo_conn.network.ips(floating_ip_address=address))
    post(member, f"/dashboard/project/floating_ips/{fip.id}/release", {},
         "/dashboard/project/floating_ips")
    assert not list(demo_conn.network.ips(floating_ip_address=address))

    # undo: gateway cleared, interface removed, subnet and network deleted
    post(member, f"/dashboard/project/routers/{router.id}/gateway",
         {"external_network": ""}, resp.url.path)
    assert not demo_conn.network.get_router(router.id).external_gateway_info
    port = next(demo_conn.network.ports(device_id=router.id))
    post(member, f"/dashboard/project/routers/{router.id}/interfaces/remove",
         {"port_id": port.id}, f"/dashboard/project/routers/{router.id}")
    post(member, f"/dashboard/project/routers/{router.id}/delete", {},
         "/dashboard/project/routers")
    post(member, f"/dashboard/project/subnets/{subnets['second'].id}/delete", {},
         "/dashboard/project/networks")
    post(member, f"/dashboard/project/networks/{net.id}/delete", {},
         "/dashboard/project/networks")
    assert demo_conn.network.find_network("dash-net") is None
    assert demo_conn.network.find_router("dash-router") is None


def test_launch_several_with_key_groups_user_data_then_power_actions(member, demo_conn,
                                                                    dash_cloud):
    demo_conn.compute.create_keypair(name="dash-launch-key")
    image = demo_conn.image.find_image("cirros")
    flavor = demo_conn.compute.find_flavor("m1.tiny")
    net = demo_conn.network.find_network("private")
    resp = post(member, "/dashboard/project/instances/launch", {
        "name": "dash-many", "count": "2", "image": image.id, "flavor": flavor.id,
        "networks": net.id, "key_name": "dash-launch-key", "security_groups": "default",
        "user_data": "#!/bin/sh\necho hi\n"})
    assert "Launching 2 instance(s) named dash-many." in flash(resp)

    def both_active():
        mine = [s for s in demo_conn.compute.servers() if s.name.startswith("dash-many")]
        return mine if len(mine) == 2 and all(s.status == "ACTIVE" for s in mine) else None
    servers = wait_for(both_active, "two servers ACTIVE", 60)
    one = demo_conn.compute.get_server(servers[0].id)
    assert one.key_name == "dash-launch-key"
    admin = dash_cloud.connect("kumo-admin")  # user data is shown to admins only
    shown = admin.compute.get(f"/servers/{one.id}", microversion="2.47").json()["server"]
    admin.close()
    assert base64.b64decode(shown["OS-EXT-SRV-ATTR:user_data"]).decode() == \
        "#!/bin/sh\necho hi\n"
    assert {g["name"] for g in shown["security_groups"]} == {"default"}
    action = f"/dashboard/project/instances/{one.id}/action"
    post(member, action, {"action": "stop"}, "/dashboard/project/instances")
    wait_for(lambda: demo_conn.compute.get_server(one.id).status == "SHUTOFF", "SHUTOFF")
    assert "Start" in member.get("/dashboard/project/instances").text
    post(member, action, {"action": "start"}, "/dashboard/project/instances")
    wait_for(lambda: demo_conn.compute.get_server(one.id).status == "ACTIVE", "ACTIVE")
    post(member, action, {"action": "reboot"}, "/dashboard/project/instances")
    wait_for(lambda: demo_conn.compute.get_server(one.id).status == "ACTIVE" and
             not demo_conn.compute.get_server(one.id).task_state, "rebooted")
    for s in servers:
        post(member, f"/dashboard/project/instances/{s.id}/action", {"action": "delete"},
             "/dashboard/project/instances")
    wait_for(lambda: not [s for s in demo_conn.compute.servers()
                          if s.name.startswith("dash-many")], "both deleted")
    demo_conn.compute.delete_keypair("dash-launch-key")


def test_volumes_page_says_when_there_is_no_block_storage(member, demo_conn):
    page = member.get("/dashboard/project/volumes")
    assert page.status_code == 200
    if "block-storage" not in {s["type"] for s in demo_conn.session.auth.get_access(
            demo_conn.session).service_catalog.catalog}:
        assert "Block storage is not available on this cloud." in page.text


def test_ports(member, demo_conn):
    net = demo_conn.network.find_network("private")
    resp = post(member, "/dashboard/project/ports", {"name": "dash-port",
                                                     "network_id": net.id})
    assert any(m.startswith("Port dash-port created") for m in flash(resp)), resp.text
    port = demo_conn.network.find_port("dash-port")
    post(member, f"/dashboard/project/ports/{port.id}/delete", {},
         "/dashboard/project/ports")
    assert demo_conn.network.find_port("dash-port") is None


def test_unknown_pages_are_404(member):
    resp = member.get("/dashboard/no/such/page")
    assert resp.status_code == 404 and "There is no such page." in resp.text
