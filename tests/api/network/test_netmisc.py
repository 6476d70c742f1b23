"""Networking "misc" (issue 14): the accepted-and-wrong fixes, IP availability,
service providers, segments, with openstacksdk and the openstack CLI."""
from __future__ import annotations

import pytest
from openstack import exceptions as sdk_exc

from tests.api.network.conftest import assert_fault


def test_mtu_given_as_a_string_by_the_cli(cloud, demo, unique):
    created = cloud.cli("network", "create", unique("mtu"), "--mtu", "1400", cloud="kumo")
    try:
        assert created["mtu"] == 1400
        cloud.cli("network", "set", "--mtu", "1300", created["id"], parse=False,
                  cloud="kumo")
        assert demo.network.get_network(created["id"]).mtu == 1300
    finally:
        demo.network.delete_network(created["id"])


def test_mtu_string_raw_and_bad_values(demo, neutron, unique):
    resp = neutron.request(demo, "POST", "/v2.0/networks",
                           json={"network": {"name": unique("m"), "mtu": "1280"}})
    assert resp.status_code == 201, resp.text
    net = resp.json()["network"]
    try:
        assert net["mtu"] == 1280
        for bad in ("abc", 10, "67"):
            resp = neutron.request(demo, "PUT", f"/v2.0/networks/{net['id']}",
                                   json={"network": {"mtu": bad}})
            assert_fault(resp, 400, "HTTPBadRequest")
        assert demo.network.get_network(net["id"]).mtu == 1280
        resp = neutron.request(demo, "PUT", f"/v2.0/networks/{net['id']}",
                               json={"network": {"mtu": "9999"}})
        assert resp.status_code == 400
    finally:
        demo.network.delete_network(net["id"])


def test_subnets_of_one_network_come_from_one_pool_and_give_its_scope(admin, cloud, unique):
    scope = admin.network.create_address_scope(name=unique("as"), ip_version=4)
    pool_a = admin.network.create_subnet_pool(name=unique("pa"), prefixes=["10.70.0.0/16"],
                                              default_prefixlen=24,
                                              address_scope_id=scope.id)
    pool_b = admin.network.create_subnet_pool(name=unique("pb"), prefixes=["10.71.0.0/16"],
                                              default_prefixlen=24)
    net = admin.network.create_network(name=unique("n"))
    try:
        assert net.ipv4_address_scope_id is None and net.ipv6_address_scope_id is None
        admin.network.create_subnet(network_id=net.id, ip_version=4,
                                    subnetpool_id=pool_a.id)
        shown = admin.network.get_network(net.id)
        assert shown.ipv4_address_scope_id == scope.id
        assert shown.ipv6_address_scope_id is None
        listed = cloud.cli("network", "show", net.id)
        assert listed["ipv4_address_scope"] == scope.id
        # a second subnet from another pool, or from none, is Neutron's 400
        with pytest.raises(sdk_exc.BadRequestException, match="same subnet pool"):
            admin.network.create_subnet(network_id=net.id, ip_version=4,
                                        subnetpool_id=pool_b.id)
        with pytest.raises(sdk_exc.BadRequestException, match="same subnet pool"):
            admin.network.create_subnet(network_id=net.id, ip_version=4,
                                        cidr="192.168.77.0/24")
        # the same pool is fine; IPv6 is judged on its own
        admin.network.create_subnet(network_id=net.id, ip_version=4,
                                    subnetpool_id=pool_a.id)
        admin.network.create_subnet(network_id=net.id, ip_version=6, cidr="fd00:77::/64")
        assert len(admin.network.get_network(net.id).subnet_ids) == 3
    finally:
        admin.network.delete_network(net)
        admin.network.delete_subnet_pool(pool_a)
        admin.network.delete_subnet_pool(pool_b)
        admin.network.delete_address_scope(scope)


def test_ip_availability_counts_pools_and_allocations(admin, demo, cloud, neutron, net):
    network, subnet = net  # a /28: 13 addresses in the pool (gateway .1)
    demo.network.create_port(network_id=network.id)
    demo.network.create_port(network_id=network.id)
    shown = admin.network.get_network_ip_availability(network.id)
    assert shown.network_name == network.name
    assert shown.project_id == network.project_id
    assert shown.total_ips == 13
    used = shown.used_ips
    assert used >= 2  # the two ports (and the DHCP port once made)
    [sub] = shown.subnet_ip_availability
    assert sub["subnet_id"] == subnet.id and sub["cidr"] == "10.9.0.0/28"
    assert sub["total_ips"] == 13 and sub["used_ips"] == used and sub["ip_version"] == 4
    listed = [a for a in admin.network.network_ip_availabilities(network_id=network.id)]
    assert [a.network_id for a in listed] == [network.id]
    assert list(admin.network.network_ip_availabilities(network_id=network.id,
                                                       ip_version=6)) == []
    # the CLI (list defaults to IPv4 networks)
    rows = cloud.cli("ip", "availability", "list", "--project", network.project_id)
    assert network.id in {r["Network ID"] for r in rows}
    cli = cloud.cli("ip", "availability", "show", network.id)
    assert cli["total_ips"] == 13
    # admin only by default: a member sees nothing, a show is a 404
    assert list(demo.network.network_ip_availabilities()) == []
    resp = neutron.request(demo, "GET", f"/v2.0/network-ip-availabilities/{network.id}")
    assert_fault(resp, 404, "NetworkIPAvailabilityNotFound")


def test_segments_are_a_read_only_view_of_each_network(admin, demo, cloud, neutron,
                                                       unique):
    net = admin.network.create_network(name=unique("seg"))
    try:
        [seg] = list(admin.network.segments(network_id=net.id))
        assert seg.network_id == net.id
        assert seg.network_type == "vxlan" == net.provider_network_type
        assert seg.segmentation_id == net.provider_segmentation_id
        assert seg.physical_network is None
        assert admin.network.get_segment(seg.id).network_id == net.id
        vxlan = {s.id for s in admin.network.segments(network_type="vxlan")}
        assert net.id in vxlan
        flat = list(admin.network.segments(physical_network="public"))
        assert flat and all(s.network_type == "flat" for s in flat)
        rows = cloud.cli("network", "segment", "list", "--network", net.id)
        assert [r["ID"] for r in rows] == [seg.id]
        assert cloud.cli("network", "segment", "show", seg.id)["segmentation_id"] \
            == net.provider_segmentation_id
        # changes are refused and change nothing
        resp = neutron.request(admin, "POST", "/v2.0/segments", json={"segment": {
            "network_id": net.id, "network_type": "vxlan", "segmentation_id": 4000}})
        assert resp.status_code == 400, resp.text
        resp = neutron.request(admin, "PUT", f"/v2.0/segments/{seg.id}",
                               json={"segment": {"name": "x"}})
        assert resp.status_code == 400
        resp = neutron.request(admin, "DELETE", f"/v2.0/segments/{seg.id}")
        assert resp.status_code == 409
        assert len(list(admin.network.segments(network_id=net.id))) == 1
        # admin only: a member sees none
        assert list(demo.network.segments()) == []
        assert_fault(neutron.request(demo, "GET", f"/v2.0/segments/{seg.id}"), 404,
                     "SegmentNotFound")
        assert neutron.request(demo, "POST", "/v2.0/segments", json={"segment": {
            "network_id": net.id}}).status_code == 403
    finally:
        admin.network.delete_network(net)


def test_service_providers_and_extensions(admin, demo, cloud):
    providers = list(demo.network.service_providers())
    assert {(p.service_type, p.name) for p in providers} >= {("L3_ROUTER_NAT",
                                                              "single_node")}
    assert [p for p in providers if p.is_default]
    rows = cloud.cli("network", "service", "provider", "list")
    assert "L3_ROUTER_NAT" in {r["Service Type"] for r in rows}
    aliases = {e.alias for e in admin.network.extensions()}
    assert {"network-ip-availability", "segment", "service-type"} <= aliases


# the definition checks of test_definitions.py, over the views' definitions
from kumo.network import definitions_misc  # noqa: E402
from tests.api.network import test_definitions as _defs  # noqa: E402

MISC_PATHS = {"segments": "segments",
              "network_ip_availabilities": "network-ip-availabilities",
              "address_groups": "address-groups"}
MISC = list(definitions_misc.ALL.values())


@pytest.fixture
def misc_paths(monkeypatch):
    monkeypatch.setattr(_defs, "PATHS", {**_defs.PATHS, **MISC_PATHS})


@pytest.mark.parametrize("definition", MISC, ids=[d.collection for d in MISC])
def test_views_filters_sort_keys_and_fields(admin, demo, neutron, definition, misc_paths):
    assert set(MISC_PATHS) == set(definitions_misc.ALL)
    _defs.test_every_filter_and_sort_key_is_accepted(admin, neutron, definition)
    _defs.test_items_carry_exactly_the_definitions_attributes(admin, demo, neutron,
                                                             definition)


def test_security_group_shared_by_rbac(demo, other, cloud, neutron, unique):
    sg = demo.network.create_security_group(name=unique("shared-sg"))
    demo.network.create_security_group_rule(security_group_id=sg.id, direction="ingress",
                                            ethertype="IPv4", protocol="tcp",
                                            port_range_min=22, port_range_max=22)
    other_project = other.current_project_id
    net = other.network.create_network(name=unique("n"))
    other.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.72.0.0/24")
    port = None
    try:
        with pytest.raises(sdk_exc.NotFoundException):
            other.network.get_security_group(sg.id)
        policy = cloud.cli("network", "rbac", "create", "--type", "security_group",
                           "--action", "access_as_shared", "--target-project",
                           other_project, sg.id, cloud="kumo")
        assert policy["object_type"] == "security_group"
        seen = other.network.get_security_group(sg.id)
        assert seen.name == sg.name and len(seen.security_group_rules) >= 1
        assert sg.id in {r.security_group_id for r in other.network.security_group_rules(
            security_group_id=sg.id)}
        port = other.network.create_port(network_id=net.id, security_group_ids=[sg.id])
        assert port.security_group_ids == [sg.id]
        # the owner cannot unshare while the other project's port is in the group
        resp = neutron.request(demo, "DELETE", f"/v2.0/rbac-policies/{policy['id']}")
        assert_fault(resp, 409, "RbacPolicyInUse")
        # the target may not change the group
        with pytest.raises(sdk_exc.HttpException):
            other.network.update_security_group(sg.id, name="mine")
        other.network.delete_port(port)
        port = None
        demo.network.delete_rbac_policy(policy["id"])
        with pytest.raises(sdk_exc.NotFoundException):
            other.network.get_security_group(sg.id)
        # a bad action for the type is a 400
        resp = neutron.request(demo, "POST", "/v2.0/rbac-policies", json={"rbac_policy": {
            "object_type": "security_group", "object_id": sg.id,
            "action": "access_as_external", "target_tenant": other_project}})
        assert resp.status_code == 400
        # deleting the group takes its policies with it
        demo.network.create_rbac_policy(object_type="security_group", object_id=sg.id,
                                        action="access_as_shared",
                                        target_project_id=other_project)
        demo.network.delete_security_group(sg)
        assert list(demo.network.rbac_policies(object_id=sg.id)) == []
    finally:
        if port is not None:
            other.network.delete_port(port)
        other.network.delete_network(net)
        demo.network.delete_security_group(sg.id, ignore_missing=True)


def _heartbeat(conn, **agent):
    url = conn.network.get_endpoint().rstrip("/")
    base = url[:-len("/v2.0")] if url.endswith("/v2.0") else url
    resp = conn.session.post(base + "/kumo/v1/agents/heartbeat", json={"agent": agent},
                             raise_exc=False)
    assert resp.status_code == 200, resp.text
    return resp.json()["agent"]


def test_availability_zone_hints_validated_and_honoured(admin, demo, cloud, neutron,
                                                        unique):
    zone, host = unique("az"), unique("azhost")
    agents = [_heartbeat(admin, host=host, agent_type=t, availability_zone=zone,
                         configurations={}) for t in ("DHCP agent", "L3 agent")]
    made = []
    try:
        zones = {(z.name, z.resource) for z in admin.network.availability_zones()}
        assert {(zone, "network"), (zone, "router"), ("nova", "network")} <= zones
        rows = cloud.cli("availability", "zone", "list", "--network")
        assert zone in {r["Zone Name"] for r in rows}
        # unknown zones are Neutron's 404 and create nothing
        for path, body in (("networks", {"network": {"name": unique("n")}}),
                           ("routers", {"router": {"name": unique("r")}})):
            key = next(iter(body))
            body[key]["availability_zone_hints"] = ["no-such-zone"]
            assert_fault(neutron.request(demo, "POST", f"/v2.0/{path}", json=body), 404,
                         "AvailabilityZoneNotFound")
        net = demo.network.create_network(name=unique("n"),
                                          availability_zone_hints=[zone])
        made.append(("network", net))
        assert net.availability_zone_hints == [zone]
        # the hints cannot change afterwards (Neutron: not updatable)
        resp = neutron.request(demo, "PUT", f"/v2.0/networks/{net.id}",
                               json={"network": {"availability_zone_hints": ["nova"]}})
        assert resp.status_code == 400
        # a router with the zone's hint is hosted by that zone's L3 agent only
        router = admin.network.create_router(name=unique("r"),
                                             availability_zone_hints=[zone])
        made.append(("router", router))
        hosting = [a.id for a in admin.network.routers_hosting_l3_agents(router.id)]
        assert hosting == [agents[1]["id"]]
        cli = cloud.cli("router", "create", unique("r"), "--availability-zone-hint", zone)
        made.append(("router", admin.network.get_router(cli["id"])))
        assert cli["availability_zone_hints"] == [zone]
    finally:
        for kind, obj in reversed(made):
            getattr(admin.network, f"delete_{kind}")(obj, ignore_missing=True)
        for a in agents:
            admin.network.delete_agent(a["id"], ignore_missing=True)


def test_address_groups(demo, other, cloud, neutron, unique):
    ag = demo.network.create_address_group(name=unique("ag"), description="d",
                                           addresses=["10.1.0.5", "10.2.0.0/16"])
    try:
        assert ag.addresses == ["10.1.0.5/32", "10.2.0.0/16"]
        ag = demo.network.add_addresses_to_address_group(ag, ["192.168.0.0/24"])
        assert "192.168.0.0/24" in ag.addresses
        ag = demo.network.remove_addresses_from_address_group(ag, ["10.1.0.5/32"])
        assert ag.addresses == ["10.2.0.0/16", "192.168.0.0/24"]
        base = f"/v2.0/address-groups/{ag.id}"
        resp = neutron.request(demo, "PUT", base + "/add_addresses",
                               json={"addresses": ["10.2.0.0/16"]})
        assert_fault(resp, 400, "AddressesAlreadyExist")
        resp = neutron.request(demo, "PUT", base + "/remove_addresses",
                               json={"addresses": ["10.9.9.9/32"]})
        assert_fault(resp, 400, "AddressesNotFound")
        resp = neutron.request(demo, "PUT", base + "/add_addresses",
                               json={"addresses": ["not-an-ip"]})
        assert resp.status_code == 400
        assert demo.network.get_address_group(ag.id).addresses == ["10.2.0.0/16",
                                                                    "192.168.0.0/24"]
        shown = cloud.cli("address", "group", "show", ag.id, cloud="kumo")
        assert shown["name"] == ag.name
        cloud.cli("address", "group", "set", "--address", "172.16.0.0/12", ag.id,
                  parse=False, cloud="kumo")
        assert "172.16.0.0/12" in demo.network.get_address_group(ag.id).addresses
        assert [g.id for g in demo.network.address_groups(name=ag.name)] == [ag.id]
        # other projects neither see nor change it
        assert_fault(neutron.request(other, "GET", base), 404, "AddressGroupNotFound")
        assert_fault(neutron.request(other, "PUT", base + "/add_addresses",
                                     json={"addresses": ["1.1.1.1"]}), 404,
                     "AddressGroupNotFound")
        # rules naming one: tests/api/network/test_sg_remote_address_group.py
    finally:
        demo.network.delete_address_group(ag.id, ignore_missing=True)
    assert list(demo.network.address_groups(name=ag.name)) == []
