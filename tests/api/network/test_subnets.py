"""Subnets (Networking API v2.0 "Subnets"): defaults, validation, IPv6, deletion."""
from __future__ import annotations

from tests.api.network.conftest import assert_fault


def test_bootstrap_subnets(admin, demo):
    public = admin.network.find_network("public")
    sub = admin.network.find_subnet("public-subnet")
    assert sub.network_id == public.id and sub.cidr == "172.24.4.0/24"
    assert sub.gateway_ip == "172.24.4.1" and sub.is_dhcp_enabled is False
    assert sub.allocation_pools == [{"start": "172.24.4.2", "end": "172.24.4.254"}]
    private = demo.network.find_network("private")
    assert private.subnet_ids == [demo.network.find_subnet("private-subnet").id]
    assert demo.network.find_subnet("private-subnet").cidr == "10.0.0.0/26"


def test_subnet_crud_defaults(demo, unique):
    network = demo.network.create_network(name=unique("net"))
    try:
        sub = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                         cidr="192.168.50.0/24", name="s1",
                                         dns_nameservers=["8.8.8.8"],
                                         host_routes=[{"destination": "10.1.0.0/16",
                                                       "nexthop": "192.168.50.9"}])
        assert sub.gateway_ip == "192.168.50.1"
        assert sub.allocation_pools == [{"start": "192.168.50.2", "end": "192.168.50.254"}]
        assert sub.is_dhcp_enabled is True and sub.ip_version == 4
        assert sub.dns_nameservers == ["8.8.8.8"] and sub.revision_number == 0
        assert demo.network.get_network(network.id).subnet_ids == [sub.id]
        sub = demo.network.update_subnet(sub, name="s2", gateway_ip=None,
                                         allocation_pools=[{"start": "192.168.50.1",
                                                            "end": "192.168.50.20"}])
        assert sub.name == "s2" and sub.gateway_ip is None and sub.revision_number == 1
        assert [s.id for s in demo.network.subnets(network_id=network.id)] == [sub.id]
        assert [s.id for s in demo.network.subnets(cidr="192.168.50.0/24",
                                                   network_id=network.id)] == [sub.id]
        demo.network.delete_subnet(sub)
        assert demo.network.get_network(network.id).subnet_ids == []
    finally:
        demo.network.delete_network(network)


def test_subnet_no_gateway_and_ipv6(demo, unique):
    network = demo.network.create_network(name=unique("net"))
    try:
        none = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                          cidr="10.20.0.0/29", gateway_ip=None)
        assert none.gateway_ip is None
        assert none.allocation_pools == [{"start": "10.20.0.1", "end": "10.20.0.6"}]
        v6 = demo.network.create_subnet(network_id=network.id, ip_version=6,
                                        cidr="fd00:1::/64", ipv6_ra_mode="slaac",
                                        ipv6_address_mode="slaac")
        assert v6.gateway_ip == "fd00:1::1"
        assert v6.allocation_pools == [{"start": "fd00:1::2",
                                        "end": "fd00:1::ffff:ffff:ffff:ffff"}]
        port = demo.network.create_port(network_id=network.id,
                                        mac_address="fa:16:3e:11:22:33")
        ips = {ip["subnet_id"]: ip["ip_address"] for ip in port.fixed_ips}
        assert ips == {none.id: "10.20.0.1", v6.id: "fd00:1::f816:3eff:fe11:2233"}
        demo.network.delete_port(port)
    finally:
        for s in demo.network.subnets(network_id=network.id):
            demo.network.delete_subnet(s)
        demo.network.delete_network(network)


def test_subnet_validation_errors(demo, neutron, net):
    network, subnet = net

    def create(**body):
        body.setdefault("network_id", network.id)
        return neutron.request(demo, "POST", "/v2.0/subnets", json={"subnet": body})
    assert_fault(create(ip_version=4, cidr="10.9.0.0/24"), 400, "InvalidInput")  # overlap
    assert_fault(create(ip_version=6, cidr="10.77.0.0/24"), 400, "InvalidInput")
    assert_fault(create(ip_version=4, cidr="10.77.0.5/24"), 400, "InvalidInput")
    assert_fault(create(ip_version=4, cidr="10.77.0.0/24", gateway_ip="10.78.0.1"),
                 400, "InvalidInput")
    assert_fault(create(ip_version=4, cidr="10.77.0.0/24", ipv6_ra_mode="slaac"),
                 400, "InvalidInput")
    assert_fault(create(ip_version=6, cidr="fd00:9::/80", ipv6_address_mode="slaac"),
                 400, "InvalidInput")
    assert_fault(create(ip_version=4, cidr="10.77.0.0/24",
                        allocation_pools=[{"start": "10.77.1.2", "end": "10.77.1.9"}]),
                 400, "OutOfBoundsAllocationPool")
    assert_fault(create(ip_version=4, cidr="10.77.0.0/24",
                        allocation_pools=[{"start": "10.77.0.9", "end": "10.77.0.2"}]),
                 400, "InvalidAllocationPool")
    assert_fault(create(ip_version=4, cidr="10.77.0.0/24",
                        allocation_pools=[{"start": "10.77.0.2", "end": "10.77.0.9"},
                                          {"start": "10.77.0.5", "end": "10.77.0.20"}]),
                 400, "OverlappingAllocationPools")
    assert_fault(create(ip_version=4, cidr="10.77.0.0/24",
                        allocation_pools=[{"start": "10.77.0.1", "end": "10.77.0.9"}]),
                 409, "GatewayConflictWithAllocationPools")
    assert_fault(create(ip_version=4, cidr="10.77.0.0/24", bogus=1), 400, "HTTPBadRequest")
    assert_fault(create(ip_version=4, cidr="10.77.0.0/24", network_id="nope"),
                 404, "NetworkNotFound")
    # nothing was created by the failures
    assert [s.id for s in demo.network.subnets(network_id=network.id)] == [subnet.id]


def test_subnet_in_use(demo, neutron, net):
    network, subnet = net
    port = demo.network.create_port(network_id=network.id)
    assert_fault(neutron.request(demo, "DELETE", f"/v2.0/subnets/{subnet.id}"),
                 409, "SubnetInUse")
    assert_fault(neutron.request(demo, "DELETE", f"/v2.0/networks/{network.id}"),
                 409, "NetworkInUse")
    demo.network.delete_port(port)
    demo.network.delete_subnet(subnet)


def test_network_delete_removes_subnets_and_dhcp_ports(admin, demo, unique):
    network = demo.network.create_network(name=unique("net"))
    subnet = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                        cidr="10.30.0.0/24")
    dhcp = admin.network.create_port(network_id=network.id, device_owner="network:dhcp",
                                     project_id=network.project_id)
    demo.network.delete_network(network)
    assert demo.network.find_subnet(subnet.id) is None
    assert admin.network.find_port(dhcp.id) is None


def test_subnet_policy(demo, admin, other, neutron, net):
    network, subnet = net
    # another project's private subnet is invisible
    assert_fault(neutron.request(other, "GET", f"/v2.0/subnets/{subnet.id}"),
                 404, "SubnetNotFound")
    assert subnet.id not in [s.id for s in other.network.subnets()]
    # a shared network's subnets are visible but only its owner adds subnets
    public = admin.network.find_network("public")
    assert admin.network.find_subnet("public-subnet").id in [
        s.id for s in demo.network.subnets(network_id=public.id)]
    assert_fault(neutron.request(demo, "POST", "/v2.0/subnets", json={"subnet": {
        "network_id": public.id, "ip_version": 4, "cidr": "10.99.0.0/24"}}),
        403, "PolicyNotAuthorized")
    assert_fault(neutron.request(other, "POST", "/v2.0/subnets", json={"subnet": {
        "network_id": network.id, "ip_version": 4, "cidr": "10.99.0.0/24"}}),
        404, "NetworkNotFound")
    # admin sees all
    assert admin.network.get_subnet(subnet.id).id == subnet.id


def test_subnet_if_match_and_fields(demo, neutron, net):
    _, subnet = net
    resp = neutron.request(demo, "PUT", f"/v2.0/subnets/{subnet.id}",
                           json={"subnet": {"name": "x"}},
                           headers={"If-Match": "revision_number=7"})
    assert_fault(resp, 412, "RevisionNumberConstraintFailed")
    resp = neutron.request(demo, "GET", f"/v2.0/subnets/{subnet.id}",
                           params={"fields": ["id", "cidr"]})
    assert resp.json()["subnet"] == {"id": subnet.id, "cidr": "10.9.0.0/28"}


def test_subnet_cli(cloud, unique):
    name = unique("cli")
    net = cloud.cli("network", "create", name, cloud="kumo")
    sub = cloud.cli("subnet", "create", "--network", name, "--subnet-range",
                    "10.40.0.0/24", "--allocation-pool", "start=10.40.0.10,end=10.40.0.20",
                    "--dns-nameserver", "1.1.1.1", name, cloud="kumo")
    assert sub["cidr"] == "10.40.0.0/24" and sub["gateway_ip"] == "10.40.0.1"
    listed = cloud.cli("subnet", "list", "--network", name, cloud="kumo")
    assert [s["ID"] for s in listed] == [sub["id"]]
    cloud.cli("subnet", "delete", sub["id"], cloud="kumo", parse=False)
    cloud.cli("network", "delete", net["id"], cloud="kumo", parse=False)


def test_pool_update_moves_allocation_and_gateway_in_use(admin, demo, neutron, net):
    network, subnet = net
    subnet = demo.network.update_subnet(subnet, allocation_pools=[
        {"start": "10.9.0.10", "end": "10.9.0.11"}])
    ports = [demo.network.create_port(network_id=network.id) for _ in range(2)]
    assert [p.fixed_ips[0]["ip_address"] for p in ports] == ["10.9.0.10", "10.9.0.11"]
    resp = neutron.request(demo, "POST", "/v2.0/ports",
                           json={"port": {"network_id": network.id}})
    assert_fault(resp, 409, "IpAddressGenerationFailure")
    router_port = admin.network.create_port(
        network_id=network.id, device_owner="network:router_interface",
        project_id=network.project_id, fixed_ips=[{"ip_address": "10.9.0.1"}])
    resp = neutron.request(demo, "PUT", f"/v2.0/subnets/{subnet.id}",
                           json={"subnet": {"gateway_ip": "10.9.0.3"}})
    assert_fault(resp, 409, "GatewayIpInUse")
    admin.network.delete_port(router_port)


def test_delete_auto_address_subnet_with_ports(demo, neutron, unique):
    """An IPv6 SLAAC or DHCPv6-stateless subnet is deleted even while ports hold
    addresses on it: they lose those addresses and keep the rest, as Neutron (Tempest's
    test_create_delete_slaac_subnet_with_ports); a stateful one stays in use (409), and a
    router interface keeps an auto-address subnet in use."""
    network = demo.network.create_network(name=unique("net"))
    router = None
    try:
        v4 = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                        cidr="10.21.0.0/28")
        made = {}
        for i, mode in enumerate(("slaac", "dhcpv6-stateless", "dhcpv6-stateful")):
            made[mode] = demo.network.create_subnet(
                network_id=network.id, ip_version=6, cidr=f"fd00:2{i}::/64",
                ipv6_ra_mode=mode, ipv6_address_mode=mode)
        port = demo.network.create_port(network_id=network.id)
        assert len(port.fixed_ips) == 4
        for mode in ("slaac", "dhcpv6-stateless"):
            demo.network.delete_subnet(made[mode])
        port = demo.network.get_port(port.id)
        assert {ip["subnet_id"] for ip in port.fixed_ips} == {v4.id,
                                                              made["dhcpv6-stateful"].id}
        assert_fault(neutron.request(demo, "DELETE",
                                     f"/v2.0/subnets/{made['dhcpv6-stateful'].id}"),
                     409, "SubnetInUse")
        demo.network.delete_port(port)
        slaac = demo.network.create_subnet(network_id=network.id, ip_version=6,
                                           cidr="fd00:29::/64", ipv6_ra_mode="slaac",
                                           ipv6_address_mode="slaac")
        router = demo.network.create_router(name=unique("r"))
        demo.network.add_interface_to_router(router, subnet_id=slaac.id)
        assert_fault(neutron.request(demo, "DELETE", f"/v2.0/subnets/{slaac.id}"), 409,
                     "SubnetInUse")
        demo.network.remove_interface_from_router(router, subnet_id=slaac.id)
    finally:
        if router is not None:
            demo.network.delete_router(router)
        for p in demo.network.ports(network_id=network.id):
            if p.device_owner != "network:dhcp":
                demo.network.delete_port(p)
        for s in demo.network.subnets(network_id=network.id):
            demo.network.delete_subnet(s)
        demo.network.delete_network(network)

