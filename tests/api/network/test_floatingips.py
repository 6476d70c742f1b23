"""Floating IPs over the Networking API v2.0 (openstacksdk, raw calls and the openstack
CLI): allocation on the external network, association through a router,
disassociation, release, every error case, policy and project isolation."""
from __future__ import annotations

import ipaddress

import pytest
from openstack import exceptions as sdk_exc

from tests.api.network.conftest import assert_fault

FIP_OWNER = "network:floatingip"
PUBLIC_CIDR = ipaddress.ip_network("172.24.4.0/24")


@pytest.fixture(scope="session")
def public(admin):
    return admin.network.find_network("public")


@pytest.fixture
def routed(demo, public, unique):
    """A demo network 10.40.0.0/24 routed to ``public`` by a router, and a port on it.
    Yields ``(network, subnet, router, port)``; everything is removed at the end."""
    network = demo.network.create_network(name=unique("fipnet"))
    subnet = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                        cidr="10.40.0.0/24")
    router = demo.network.create_router(name=unique("fiprouter"),
                                        external_gateway_info={"network_id": public.id})
    demo.network.add_interface_to_router(router, subnet=subnet.id)
    port = demo.network.create_port(network_id=network.id)
    yield network, subnet, router, port
    for fip in demo.network.ips():
        if fip.port_id and fip.router_id == router.id:
            demo.network.update_ip(fip, port_id=None)
    demo.network.remove_interface_from_router(router, subnet=subnet.id)
    demo.network.delete_router(router)
    for p in demo.network.ports(network_id=network.id):
        demo.network.delete_port(p, ignore_missing=True)
    demo.network.delete_network(network)


def test_create_show_delete(admin, demo, public):
    fip = demo.network.create_ip(floating_network_id=public.id, description="d")
    try:
        assert ipaddress.ip_address(fip.floating_ip_address) in PUBLIC_CIDR
        assert fip.status == "DOWN" and fip.port_id is None and fip.router_id is None
        assert fip.fixed_ip_address is None and fip.project_id == demo.current_project_id
        assert fip.port_details is None and fip.description == "d"
        shown = demo.network.get_ip(fip.id)
        assert shown.floating_network_id == public.id
        ports = list(admin.network.ports(device_id=fip.id, device_owner=FIP_OWNER))
        assert len(ports) == 1 and ports[0].project_id == ""
        assert ports[0].fixed_ips[0]["ip_address"] == fip.floating_ip_address
        assert fip.id in {f.id for f in demo.network.ips(
            floating_ip_address=fip.floating_ip_address)}
    finally:
        demo.network.delete_ip(fip)
    with pytest.raises(sdk_exc.NotFoundException):
        demo.network.get_ip(fip.id)
    assert not list(admin.network.ports(device_id=fip.id))


def test_create_errors(admin, demo, neutron, public, unique):
    network = demo.network.create_network(name=unique("int"))
    try:
        resp = neutron.request(demo, "POST", "/v2.0/floatingips",
                               json={"floatingip": {"floating_network_id": network.id}})
        assert "not a valid external network" in assert_fault(resp, 400, "BadRequest")
    finally:
        demo.network.delete_network(network)
    resp = neutron.request(demo, "POST", "/v2.0/floatingips", json={"floatingip": {
        "floating_network_id": "00000000-0000-0000-0000-000000000000"}})
    assert_fault(resp, 404, "NetworkNotFound")
    resp = neutron.request(demo, "POST", "/v2.0/floatingips", json={"floatingip": {}})
    assert_fault(resp, 400, "HTTPBadRequest")
    # Choosing the address is admin-only (Neutron's default policy).
    resp = neutron.request(demo, "POST", "/v2.0/floatingips", json={"floatingip": {
        "floating_network_id": public.id, "floating_ip_address": "172.24.4.150"}})
    assert_fault(resp, 403, "PolicyNotAuthorized")
    resp = neutron.request(admin, "POST", "/v2.0/floatingips", json={"floatingip": {
        "floating_network_id": public.id, "floating_ip_address": "not-an-ip"}})
    assert_fault(resp, 400, "HTTPBadRequest")


def test_address_taken_and_released(admin, public):
    fip = admin.network.create_ip(floating_network_id=public.id,
                                  floating_ip_address="172.24.4.151")
    assert fip.floating_ip_address == "172.24.4.151"
    resp = admin.network.post("/floatingips", json={"floatingip": {
        "floating_network_id": public.id, "floating_ip_address": "172.24.4.151"}})
    assert_fault(resp, 409, "IpAddressAlreadyAllocated")
    admin.network.delete_ip(fip)
    again = admin.network.create_ip(floating_network_id=public.id,
                                    floating_ip_address="172.24.4.151")
    admin.network.delete_ip(again)


def test_associate_and_disassociate(demo, neutron, public, routed):
    network, subnet, router, port = routed
    fixed = port.fixed_ips[0]["ip_address"]
    fip = demo.network.create_ip(floating_network_id=public.id)
    try:
        fip = demo.network.update_ip(fip, port_id=port.id)
        assert fip.port_id == port.id and fip.fixed_ip_address == fixed
        assert fip.router_id == router.id and fip.status == "DOWN"
        details = fip.port_details
        assert details["network_id"] == network.id
        assert details["mac_address"] == port.mac_address
        assert set(details) == {"name", "network_id", "mac_address", "admin_state_up",
                                "status", "device_id", "device_owner"}
        body = neutron.request(demo, "GET", f"/v2.0/floatingips/{fip.id}").json()
        assert body["floatingip"]["port_forwardings"] == []
        assert [f.id for f in demo.network.ips(port_id=port.id)] == [fip.id]
        # The interface and the gateway the association needs cannot go.
        resp = neutron.request(demo, "PUT",
                               f"/v2.0/routers/{router.id}/remove_router_interface",
                               json={"subnet_id": subnet.id})
        assert_fault(resp, 409, "RouterInterfaceInUseByFloatingIP")
        resp = neutron.request(demo, "PUT", f"/v2.0/routers/{router.id}",
                               json={"router": {"external_gateway_info": {}}})
        assert_fault(resp, 409, "RouterExternalGatewayInUseByFloatingIp")
        # A second floating IP for the same fixed IP is refused.
        second = demo.network.create_ip(floating_network_id=public.id)
        try:
            resp = neutron.request(demo, "PUT", f"/v2.0/floatingips/{second.id}",
                                   json={"floatingip": {"port_id": port.id}})
            assert_fault(resp, 409, "FloatingIPPortAlreadyAssociated")
        finally:
            demo.network.delete_ip(second)
        fip = demo.network.update_ip(fip, port_id=None)
        assert fip.port_id is None and fip.router_id is None
        assert fip.fixed_ip_address is None and fip.port_details is None
    finally:
        demo.network.delete_ip(fip)


def test_create_associated(demo, public, routed):
    _, _, router, port = routed
    fixed = port.fixed_ips[0]["ip_address"]
    fip = demo.network.create_ip(floating_network_id=public.id, port_id=port.id,
                                 fixed_ip_address=fixed)
    try:
        assert fip.router_id == router.id and fip.fixed_ip_address == fixed
    finally:
        demo.network.delete_ip(fip)


def test_associate_errors(demo, neutron, public, routed, unique):
    network, _, _, port = routed
    fip = demo.network.create_ip(floating_network_id=public.id)
    url = f"/v2.0/floatingips/{fip.id}"
    lonely = demo.network.create_network(name=unique("lonely"))
    try:
        resp = neutron.request(demo, "PUT", url, json={"floatingip": {
            "port_id": port.id, "fixed_ip_address": "10.40.0.222"}})
        assert "does not have fixed ip" in assert_fault(resp, 400, "BadRequest")
        resp = neutron.request(demo, "PUT", url, json={"floatingip": {"port_id": "nope"}})
        assert_fault(resp, 404, "PortNotFound")
        sub = demo.network.create_subnet(network_id=lonely.id, ip_version=4,
                                         cidr="10.41.0.0/24")
        unrouted = demo.network.create_port(network_id=lonely.id)
        resp = neutron.request(demo, "PUT", url,
                               json={"floatingip": {"port_id": unrouted.id}})
        message = assert_fault(resp, 404, "ExternalGatewayForFloatingIPNotFound")
        assert sub.id in message
        dhcp_like = demo.network.create_port(network_id=network.id,
                                             device_owner="network:dhcp")
        resp = neutron.request(demo, "PUT", url,
                               json={"floatingip": {"port_id": dhcp_like.id}})
        assert_fault(resp, 400, "BadRequest")
        assert demo.network.get_ip(fip.id).port_id is None
    finally:
        demo.network.delete_ip(fip)
        for p in demo.network.ports(network_id=lonely.id):
            demo.network.delete_port(p)
        demo.network.delete_network(lonely)


def test_deleting_the_port_disassociates(demo, public, routed):
    network, subnet, router, _ = routed
    port = demo.network.create_port(network_id=network.id)
    fip = demo.network.create_ip(floating_network_id=public.id, port_id=port.id)
    try:
        demo.network.delete_port(port)
        shown = demo.network.get_ip(fip.id)
        assert shown.port_id is None and shown.router_id is None
        assert shown.fixed_ip_address is None
        # Nothing holds the interface or the gateway any more.
        demo.network.remove_interface_from_router(router, subnet=subnet.id)
        demo.network.add_interface_to_router(router, subnet=subnet.id)
    finally:
        demo.network.delete_ip(fip)


def test_isolation_and_reader(demo, other, neutron, make_user, connect, ids, public):
    fip = demo.network.create_ip(floating_network_id=public.id)
    try:
        for method, body in (("GET", None), ("PUT", {"floatingip": {"port_id": None}}),
                             ("DELETE", None)):
            resp = neutron.request(other, method, f"/v2.0/floatingips/{fip.id}", json=body)
            assert_fault(resp, 404, "FloatingIPNotFound")
        assert fip.id not in {f.id for f in other.network.ips()}
        reader = connect(make_user("reader", project_id=ids["demo_project"]))
        assert fip.id in {f.id for f in reader.network.ips()}
        resp = neutron.request(reader, "DELETE", f"/v2.0/floatingips/{fip.id}")
        assert_fault(resp, 403, "PolicyNotAuthorized")
        resp = neutron.request(reader, "POST", "/v2.0/floatingips", json={
            "floatingip": {"floating_network_id": public.id}})
        assert_fault(resp, 403, "PolicyNotAuthorized")
    finally:
        demo.network.delete_ip(fip)


def test_snapshot_and_tags(admin, demo, neutron, public, routed):
    _, _, router, port = routed
    fip = demo.network.create_ip(floating_network_id=public.id, port_id=port.id)
    try:
        demo.network.set_tags(fip, ["web"])
        assert [f.id for f in demo.network.ips(tags="web")] == [fip.id]
        state = neutron.request(admin, "GET", "/kumo/v1/state").json()
        mine = next(f for f in state["floatingips"] if f["id"] == fip.id)
        assert mine["router_id"] == router.id and mine["port_id"] == port.id
        assert mine["fixed_ip_address"] == port.fixed_ips[0]["ip_address"]
    finally:
        demo.network.delete_ip(fip)


def test_cli(cloud, demo, routed):
    _, _, router, port = routed
    fip = cloud.cli("floating", "ip", "create", "public", cloud="kumo")
    assert ipaddress.ip_address(fip["floating_ip_address"]) in PUBLIC_CIDR
    cloud.cli("floating", "ip", "set", "--port", port.id, fip["id"], cloud="kumo",
              parse=False)
    shown = cloud.cli("floating", "ip", "show", fip["id"], cloud="kumo")
    assert shown["port_id"] == port.id and shown["router_id"] == router.id
    listed = cloud.cli("floating", "ip", "list", "--port", port.id, cloud="kumo")
    assert [f["ID"] for f in listed] == [fip["id"]]
    cloud.cli("floating", "ip", "unset", "--port", fip["id"], cloud="kumo", parse=False)
    assert cloud.cli("floating", "ip", "show", fip["id"], cloud="kumo")["port_id"] is None
    cloud.cli("floating", "ip", "delete", fip["id"], cloud="kumo", parse=False)
