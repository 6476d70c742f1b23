"""Routers over the Networking API v2.0 (openstacksdk, raw calls and the openstack CLI):
lifecycle, gateway, interfaces by subnet and by port, routes, errors, policy and
project isolation, the bootstrapped router1 and the data-plane snapshot."""
from __future__ import annotations

import pytest
from openstack import exceptions as sdk_exc

from tests.api.network.conftest import assert_fault

IF_OWNER = "network:router_interface"
GW_OWNER = "network:router_gateway"


@pytest.fixture(scope="session")
def public(admin):
    return admin.network.find_network("public")


@pytest.fixture
def lan(demo, unique):
    """A demo network with subnet 10.20.0.0/24 (gateway 10.20.0.1); removed at the end
    (router interfaces are removed by the tests' own cleanup)."""
    network = demo.network.create_network(name=unique("lan"))
    subnet = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                        cidr="10.20.0.0/24", name=unique("lan-sub"))
    yield network, subnet
    for port in demo.network.ports(network_id=network.id):
        if port.device_owner != IF_OWNER:
            demo.network.delete_port(port, ignore_missing=True)
    demo.network.delete_network(network, ignore_missing=True)


@pytest.fixture
def router(demo, unique):
    """A demo router; its interfaces and the router are removed at the end."""
    made = demo.network.create_router(name=unique("r"))
    yield made
    if demo.network.find_router(made.id) is None:
        return
    for port in demo.network.ports(device_id=made.id, device_owner=IF_OWNER):
        demo.network.remove_interface_from_router(made, port=port.id)
    demo.network.delete_router(made)


def test_bootstrap_router1(admin, demo, public):
    routers = list(demo.network.routers(name="router1"))
    assert len(routers) == 1
    r1 = routers[0]
    assert r1.project_id == demo.current_project_id
    gw = r1.external_gateway_info
    assert gw["network_id"] == public.id and gw["enable_snat"] is True
    assert gw["external_fixed_ips"][0]["ip_address"].startswith("172.24.4.")
    private = demo.network.find_subnet("private-subnet")
    ifaces = list(admin.network.ports(device_id=r1.id, device_owner=IF_OWNER))
    assert any(ip == {"subnet_id": private.id, "ip_address": private.gateway_ip}
               for p in ifaces for ip in p.fixed_ips)
    gw_ports = list(admin.network.ports(device_id=r1.id, device_owner=GW_OWNER))
    assert len(gw_ports) == 1 and gw_ports[0].project_id == ""


def test_lifecycle_and_defaults(demo, neutron, unique):
    name = unique("r")
    r = demo.network.create_router(name=name, description="d")
    try:
        assert r.status == "ACTIVE" and r.is_admin_state_up is True
        assert r.external_gateway_info is None and r.routes == []
        # the hosting L3 agents' zones: none while unhosted, "nova" if an agent hosts it
        assert r.availability_zones in ([], ["nova"]) and r.flavor_id is None
        assert r.revision_number == 0 and r.project_id == demo.current_project_id
        body = neutron.request(demo, "GET", f"/v2.0/routers/{r.id}").json()["router"]
        assert "distributed" not in body and "ha" not in body  # admin-only attributes
        assert body["tenant_id"] == body["project_id"]
        r2 = demo.network.update_router(r, name=name + "-2", admin_state_up=False)
        assert r2.name == name + "-2" and r2.is_admin_state_up is False
        assert r2.revision_number == 1
        assert [x.id for x in demo.network.routers(name=name + "-2")] == [r.id]
    finally:
        demo.network.delete_router(r)
    with pytest.raises(sdk_exc.NotFoundException):
        demo.network.get_router(r.id)


def test_distributed_and_ha_are_admin_only(admin, demo, neutron, unique):
    for attr in ("distributed", "ha"):
        resp = neutron.request(demo, "POST", "/v2.0/routers",
                               json={"router": {"name": unique("x"), attr: True}})
        assert_fault(resp, 403, "PolicyNotAuthorized")
    r = admin.network.create_router(name=unique("r"), ha=True)
    try:
        assert r.is_ha is True and r.is_distributed is False
    finally:
        admin.network.delete_router(r)


def test_gateway_set_snat_fixed_ips_and_clear(admin, demo, neutron, public, router):
    r = demo.network.update_router(router, external_gateway_info={"network_id": public.id})
    gw = r.external_gateway_info
    assert gw["enable_snat"] is True and len(gw["external_fixed_ips"]) == 1
    ports = list(admin.network.ports(device_id=r.id, device_owner=GW_OWNER))
    assert len(ports) == 1 and ports[0].network_id == public.id
    assert ports[0].project_id == ""
    resp = neutron.request(demo, "PUT", f"/v2.0/routers/{r.id}", json={"router": {
        "external_gateway_info": {"network_id": public.id, "enable_snat": False}}})
    assert_fault(resp, 403, "PolicyNotAuthorized")
    resp = neutron.request(demo, "PUT", f"/v2.0/routers/{r.id}", json={"router": {
        "external_gateway_info": {"network_id": public.id, "external_fixed_ips": [
            {"ip_address": "172.24.4.200"}]}}})
    assert_fault(resp, 403, "PolicyNotAuthorized")
    subnet_id = gw["external_fixed_ips"][0]["subnet_id"]
    r = admin.network.update_router(r, external_gateway_info={
        "network_id": public.id, "enable_snat": False,
        "external_fixed_ips": [{"subnet_id": subnet_id, "ip_address": "172.24.4.200"}]})
    assert r.external_gateway_info == {
        "network_id": public.id, "enable_snat": False, "qos_policy_id": None,
        "external_fixed_ips": [{"subnet_id": subnet_id, "ip_address": "172.24.4.200"}]}
    r = demo.network.update_router(r, external_gateway_info={})
    assert r.external_gateway_info is None
    assert not list(admin.network.ports(device_id=r.id, device_owner=GW_OWNER))


def test_gateway_errors(demo, neutron, lan, router):
    network, _ = lan
    resp = neutron.request(demo, "PUT", f"/v2.0/routers/{router.id}", json={"router": {
        "external_gateway_info": {"network_id": network.id}}})
    assert "not an external network" in assert_fault(resp, 400, "BadRequest")
    resp = neutron.request(demo, "POST", "/v2.0/routers", json={"router": {
        "name": "bad-gw", "external_gateway_info": {"network_id": network.id}}})
    assert_fault(resp, 400, "BadRequest")
    assert not list(demo.network.routers(name="bad-gw"))
    resp = neutron.request(demo, "PUT", f"/v2.0/routers/{router.id}", json={"router": {
        "external_gateway_info": {"network_id": "0" * 8 + "-0000-0000-0000-" + "0" * 12}}})
    assert_fault(resp, 404, "NetworkNotFound")


def test_interface_by_subnet(admin, demo, neutron, lan, router):
    network, subnet = lan
    info = demo.network.add_interface_to_router(router, subnet=subnet.id)
    assert set(info) == {"id", "tenant_id", "project_id", "port_id", "subnet_id",
                         "subnet_ids", "network_id"}
    assert info["id"] == router.id and info["subnet_ids"] == [subnet.id]
    assert info["network_id"] == network.id and info["project_id"] == router.project_id
    port = demo.network.get_port(info["port_id"])
    assert port.device_owner == IF_OWNER and port.device_id == router.id
    assert port.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "10.20.0.1"}]
    resp = neutron.request(demo, "PUT", f"/v2.0/routers/{router.id}/add_router_interface",
                           json={"subnet_id": subnet.id})
    assert "already has a port" in assert_fault(resp, 400, "BadRequest")
    resp = neutron.request(demo, "DELETE", f"/v2.0/routers/{router.id}")
    assert_fault(resp, 409, "RouterInUse")
    gone = demo.network.remove_interface_from_router(router, subnet=subnet.id)
    assert gone == info
    assert demo.network.find_port(info["port_id"]) is None
    resp = neutron.request(demo, "PUT",
                           f"/v2.0/routers/{router.id}/remove_router_interface",
                           json={"subnet_id": subnet.id})
    assert_fault(resp, 404, "RouterInterfaceNotFoundForSubnet")


def test_interface_errors(demo, neutron, lan, router, unique):
    network, subnet = lan
    url = f"/v2.0/routers/{router.id}/add_router_interface"
    port = demo.network.create_port(network_id=network.id)
    assert_fault(neutron.request(demo, "PUT", url, json={}), 400, "BadRequest")
    resp = neutron.request(demo, "PUT", url, json={"subnet_id": subnet.id,
                                                   "port_id": port.id})
    assert_fault(resp, 400, "BadRequest")
    no_gw = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                       cidr="10.21.0.0/24", gateway_ip=None)
    resp = neutron.request(demo, "PUT", url, json={"subnet_id": no_gw.id})
    assert "gateway IP" in assert_fault(resp, 400, "BadRequest")
    resp = neutron.request(demo, "PUT", url, json={"subnet_id": "nope"})
    assert_fault(resp, 404, "SubnetNotFound")
    resp = neutron.request(demo, "PUT", url, json={"port_id": "nope"})
    assert_fault(resp, 404, "PortNotFound")
    used = demo.network.create_port(network_id=network.id, device_id="vm-1",
                                    device_owner="compute:nova")
    resp = neutron.request(demo, "PUT", url, json={"port_id": used.id})
    assert_fault(resp, 409, "PortInUse")
    # The subnet's gateway IP held by another router's interface: 409.
    demo.network.add_interface_to_router(router, subnet=subnet.id)
    other = demo.network.create_router(name=unique("r2"))
    try:
        resp = neutron.request(demo, "PUT",
                               f"/v2.0/routers/{other.id}/add_router_interface",
                               json={"subnet_id": subnet.id})
        assert_fault(resp, 409, "IpAddressAlreadyAllocated")
        assert not list(demo.network.ports(device_id=other.id))
    finally:
        demo.network.delete_router(other)
    resp = neutron.request(demo, "PUT",
                           f"/v2.0/routers/{router.id}/remove_router_interface",
                           json={"port_id": port.id})
    assert_fault(resp, 404, "RouterInterfaceNotFound")


def test_interface_by_port(demo, neutron, lan, router):
    network, subnet = lan
    port = demo.network.create_port(network_id=network.id,
                                    fixed_ips=[{"subnet_id": subnet.id,
                                                "ip_address": "10.20.0.254"}])
    info = demo.network.add_interface_to_router(router, port=port.id)
    assert info["port_id"] == port.id and info["subnet_id"] == subnet.id
    shown = demo.network.get_port(port.id)
    assert shown.device_owner == IF_OWNER and shown.device_id == router.id
    resp = neutron.request(demo, "PUT",
                           f"/v2.0/routers/{router.id}/remove_router_interface",
                           json={"port_id": port.id, "subnet_id": "other"})
    assert_fault(resp, 400, "SubnetMismatchForPort")
    demo.network.remove_interface_from_router(router, port=port.id)
    assert demo.network.find_port(port.id) is None


def test_router_ports_cannot_be_deleted_directly(admin, demo, neutron, lan, router,
                                                 public):
    _, subnet = lan
    info = demo.network.add_interface_to_router(router, subnet=subnet.id)
    resp = neutron.request(demo, "DELETE", f"/v2.0/subnets/{subnet.id}")
    assert_fault(resp, 409, "SubnetInUse")
    resp = neutron.request(demo, "DELETE", f"/v2.0/ports/{info['port_id']}")
    assert_fault(resp, 409, "ServicePortInUse")
    demo.network.update_router(router, external_gateway_info={"network_id": public.id})
    gw = next(iter(admin.network.ports(device_id=router.id, device_owner=GW_OWNER)))
    resp = neutron.request(admin, "DELETE", f"/v2.0/ports/{gw.id}")
    assert_fault(resp, 409, "ServicePortInUse")


def test_routes(demo, neutron, lan, router):
    _, subnet = lan
    demo.network.add_interface_to_router(router, subnet=subnet.id)
    url = f"/v2.0/routers/{router.id}"
    routes = [{"destination": "192.168.50.0/24", "nexthop": "10.20.0.10"}]
    r = demo.network.update_router(router, routes=routes)
    assert r.routes == routes
    for bad, reason in (("10.99.0.1", "not connected"), ("10.20.0.1", "used by router")):
        resp = neutron.request(demo, "PUT", url, json={"router": {"routes": [
            {"destination": "192.168.60.0/24", "nexthop": bad}]}})
        assert reason in assert_fault(resp, 400, "InvalidRoutes")
    resp = neutron.request(demo, "PUT", url, json={"router": {"routes": [
        {"destination": "192.168.60.1/24", "nexthop": "10.20.0.10"}]}})
    assert_fault(resp, 400, "HTTPBadRequest")
    assert demo.network.get_router(router.id).routes == routes
    resp = neutron.request(demo, "PUT", url + "/remove_router_interface",
                           json={"subnet_id": subnet.id})
    assert_fault(resp, 409, "RouterInterfaceInUseByRoute")
    # extraroute-atomic
    extra = {"destination": "192.168.70.0/24", "nexthop": "10.20.0.11"}
    resp = neutron.request(demo, "PUT", url + "/add_extraroutes",
                           json={"router": {"routes": [extra]}})
    assert resp.status_code == 200 and resp.json()["router"]["routes"] == routes + [extra]
    resp = neutron.request(demo, "PUT", url + "/remove_extraroutes",
                           json={"router": {"routes": routes}})
    assert resp.json()["router"]["routes"] == [extra]
    demo.network.update_router(router, routes=[])
    demo.network.remove_interface_from_router(router, subnet=subnet.id)


def test_policy_and_isolation(demo, other, neutron, make_user, connect, ids, router, lan):
    _, subnet = lan
    for method, path, body in (
            ("GET", f"/v2.0/routers/{router.id}", None),
            ("PUT", f"/v2.0/routers/{router.id}", {"router": {"name": "x"}}),
            ("DELETE", f"/v2.0/routers/{router.id}", None),
            ("PUT", f"/v2.0/routers/{router.id}/add_router_interface",
             {"subnet_id": subnet.id})):
        assert_fault(neutron.request(other, method, path, json=body), 404, "RouterNotFound")
    assert router.id not in {r.id for r in other.network.routers()}
    # other's router cannot take demo's subnet
    theirs = other.network.create_router(name="theirs")
    try:
        resp = neutron.request(other, "PUT",
                               f"/v2.0/routers/{theirs.id}/add_router_interface",
                               json={"subnet_id": subnet.id})
        assert_fault(resp, 404, "SubnetNotFound")
    finally:
        other.network.delete_router(theirs)
    reader = connect(make_user("reader", project_id=ids["demo_project"]))
    assert router.id in {r.id for r in reader.network.routers()}
    resp = neutron.request(reader, "POST", "/v2.0/routers", json={"router": {"name": "x"}})
    assert_fault(resp, 403, "PolicyNotAuthorized")
    resp = neutron.request(reader, "PUT", f"/v2.0/routers/{router.id}",
                           json={"router": {"name": "x"}})
    assert_fault(resp, 403, "PolicyNotAuthorized")


def test_tags_filters_and_extensions(demo, neutron, router):
    demo.network.set_tags(router, ["red", "blue"])
    assert [r.id for r in demo.network.routers(tags="red")] == [router.id]
    body = neutron.request(demo, "GET", f"/v2.0/routers?id={router.id}&fields=name").json()
    assert body["routers"] == [{"name": router.name}]
    aliases = {e["alias"] for e in neutron.request(demo, "GET",
                                                   "/v2.0/extensions").json()["extensions"]}
    assert {"router", "ext-gw-mode", "extraroute", "dvr", "l3-ha",
            "router_availability_zone", "fip-port-details", "l3_agent_scheduler"} <= aliases
    assert "floating-ip-port-forwarding" not in aliases


def test_snapshot_has_routers(admin, neutron, demo, lan, router, public):
    _, subnet = lan
    demo.network.update_router(router, external_gateway_info={"network_id": public.id})
    demo.network.add_interface_to_router(router, subnet=subnet.id)
    state = neutron.request(admin, "GET", "/kumo/v1/state").json()
    mine = next(r for r in state["routers"] if r["id"] == router.id)
    assert mine["enable_snat"] is True and mine["gateway"]["network_id"] == public.id
    assert mine["interfaces"][0]["fixed_ips"][0]["cidr"] == "10.20.0.0/24"
    assert mine["interfaces"][0]["fixed_ips"][0]["ip_address"] == "10.20.0.1"
    demo.network.remove_interface_from_router(router, subnet=subnet.id)
    demo.network.update_router(router, external_gateway_info=None)


def test_cli(cloud, unique):
    name = unique("cli-r")
    net = cloud.cli("network", "create", unique("cli-net"), cloud="kumo")
    sub = cloud.cli("subnet", "create", "--network", net["id"], "--subnet-range",
                    "10.30.0.0/24", unique("cli-sub"), cloud="kumo")
    r = cloud.cli("router", "create", name, cloud="kumo")
    assert r["status"] == "ACTIVE"
    cloud.cli("router", "add", "subnet", name, sub["id"], cloud="kumo", parse=False)
    cloud.cli("router", "set", "--external-gateway", "public", name, cloud="kumo",
              parse=False)
    shown = cloud.cli("router", "show", name, cloud="kumo")
    assert shown["external_gateway_info"]["network_id"]
    assert any(i["subnet_id"] == sub["id"] for i in shown["interfaces_info"])
    cloud.cli("router", "unset", "--external-gateway", name, cloud="kumo", parse=False)
    cloud.cli("router", "remove", "subnet", name, sub["id"], cloud="kumo", parse=False)
    cloud.cli("router", "delete", name, cloud="kumo", parse=False)
    cloud.cli("network", "delete", net["id"], cloud="kumo", parse=False)


def test_quota(admin, neutron, make_user, connect, public):
    person = make_user("member")
    conn = connect(person)
    resp = neutron.request(admin, "PUT", f"/v2.0/quotas/{person.project_id}",
                           json={"quota": {"router": 0, "floatingip": 0}})
    assert resp.status_code == 200, resp.text
    resp = neutron.request(conn, "POST", "/v2.0/routers", json={"router": {"name": "q"}})
    assert_fault(resp, 409, "OverQuota")
    resp = neutron.request(conn, "POST", "/v2.0/floatingips", json={
        "floatingip": {"floating_network_id": public.id}})
    assert_fault(resp, 409, "OverQuota")
    assert not list(conn.network.routers()) and not list(conn.network.ips())
