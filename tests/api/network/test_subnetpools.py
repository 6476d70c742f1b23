"""Subnet pools and address scopes (Networking API v2.0 "Subnet pools", "Address
scopes", "Default Subnetpools")."""
from __future__ import annotations

from tests.api.network.conftest import assert_fault


def test_subnetpool_allocation(demo, neutron, unique):
    pool = demo.network.create_subnet_pool(name=unique("pool"), prefixes=["10.100.0.0/16"],
                                           default_prefixlen=24, max_prefixlen=28)
    network = demo.network.create_network(name=unique("net"))
    try:
        assert pool.ip_version == 4 and pool.minimum_prefix_length == 16
        first = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                           subnetpool_id=pool.id)
        second = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                            subnetpool_id=pool.id, prefixlen=28)
        third = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                           subnetpool_id=pool.id, cidr="10.100.9.0/24")
        assert (first.cidr, second.cidr, third.cidr) == (
            "10.100.0.0/24", "10.100.1.0/28", "10.100.9.0/24")
        assert first.subnet_pool_id == pool.id and first.gateway_ip == "10.100.0.1"

        def create(**body):
            return neutron.request(demo, "POST", "/v2.0/subnets", json={"subnet": {
                "network_id": network.id, "ip_version": 4, "subnetpool_id": pool.id,
                **body}})
        assert_fault(create(prefixlen=8), 400, "InvalidInput")
        assert_fault(create(cidr="10.100.9.0/25"), 409, "SubnetAllocationError")
        assert_fault(create(cidr="10.200.0.0/24"), 400, "InvalidInput")
        assert_fault(create(ip_version=6), 400, "InvalidInput")
        assert_fault(neutron.request(demo, "DELETE", f"/v2.0/subnetpools/{pool.id}"),
                     409, "SubnetPoolInUse")
        resp = neutron.request(demo, "PUT", f"/v2.0/subnetpools/{pool.id}", json={
            "subnetpool": {"prefixes": ["10.101.0.0/16"]}})
        assert_fault(resp, 400, "IllegalSubnetPoolPrefixUpdate")
        pool = demo.network.update_subnet_pool(pool, prefixes=["10.100.0.0/16",
                                                               "10.101.0.0/16"])
        assert pool.prefixes == ["10.100.0.0/15"] and pool.revision_number == 1
        assert pool.id in [p.id for p in demo.network.subnet_pools(ip_version=4)]
    finally:
        for s in demo.network.subnets(network_id=network.id):
            demo.network.delete_subnet(s)
        demo.network.delete_network(network)
        demo.network.delete_subnet_pool(pool)


def test_pool_exhaustion(demo, neutron, unique):
    pool = demo.network.create_subnet_pool(name=unique("tiny"), prefixes=["10.120.0.0/30"])
    network = demo.network.create_network(name=unique("net"))
    try:
        demo.network.create_subnet(network_id=network.id, ip_version=4,
                                   subnetpool_id=pool.id)
        other_net = demo.network.create_network(name=unique("net"))
        resp = neutron.request(demo, "POST", "/v2.0/subnets", json={"subnet": {
            "network_id": other_net.id, "ip_version": 4, "subnetpool_id": pool.id}})
        assert_fault(resp, 409, "SubnetAllocationError")
        demo.network.delete_network(other_net)
    finally:
        for s in demo.network.subnets(network_id=network.id):
            demo.network.delete_subnet(s)
        demo.network.delete_network(network)
        demo.network.delete_subnet_pool(pool)


def test_address_scopes_and_default_pool(admin, demo, other, neutron, unique):
    scope = demo.network.create_address_scope(name=unique("scope"), ip_version=4)
    assert scope.ip_version == 4 and scope.is_shared is False
    assert_fault(neutron.request(other, "GET", f"/v2.0/address-scopes/{scope.id}"), 404,
                 "AddressScopeNotFound")
    assert_fault(neutron.request(demo, "POST", "/v2.0/address-scopes", json={
        "address_scope": {"ip_version": 4, "shared": True}}), 403, "PolicyNotAuthorized")
    pool = demo.network.create_subnet_pool(name=unique("p"), prefixes=["10.130.0.0/16"],
                                           address_scope_id=scope.id)
    resp = neutron.request(demo, "POST", "/v2.0/subnetpools", json={"subnetpool": {
        "prefixes": ["10.130.5.0/24"], "address_scope_id": scope.id}})
    assert_fault(resp, 400, "InvalidInput")  # overlaps within the scope
    assert_fault(neutron.request(demo, "DELETE", f"/v2.0/address-scopes/{scope.id}"),
                 409, "AddressScopeInUse")
    assert_fault(neutron.request(demo, "POST", "/v2.0/subnetpools", json={"subnetpool": {
        "prefixes": ["10.140.0.0/16"], "is_default": True}}), 403, "PolicyNotAuthorized")
    # the first start made the shared default IPv4 pool: a second default of the same
    # IP version is Neutron's 400 InvalidInput ("A default subnetpool for this IP
    # family has already been set")
    boot = admin.network.find_subnet_pool("shared-default-subnetpool-v4",
                                          ignore_missing=False)
    assert boot.is_default is True
    resp = neutron.request(admin, "POST", "/v2.0/subnetpools", json={"subnetpool": {
        "prefixes": ["10.150.0.0/16"], "is_default": True}})
    assert "A default subnetpool for this IP family has already been set" in \
        assert_fault(resp, 400, "InvalidInput")
    assert len([p for p in admin.network.subnet_pools(is_default=True)
                if p.ip_version == 4]) == 1
    # this test's own default instead (the bootstrapped one restored at the end: the
    # test servers are shared)
    admin.network.update_subnet_pool(boot, is_default=False)
    default = network = None
    try:
        default = admin.network.create_subnet_pool(name=unique("def"), prefixes=[
            "10.150.0.0/16"], default_prefixlen=26, is_default=True, shared=True)
        network = demo.network.create_network(name=unique("net"))
        assert_fault(neutron.request(admin, "POST", "/v2.0/subnetpools", json={
            "subnetpool": {"prefixes": ["10.160.0.0/16"], "is_default": True}}),
            400, "InvalidInput")
        assert_fault(neutron.request(admin, "PUT", f"/v2.0/subnetpools/{boot.id}", json={
            "subnetpool": {"is_default": True}}), 400, "InvalidInput")
        resp = neutron.request(demo, "POST", "/v2.0/subnets", json={"subnet": {
            "network_id": network.id, "ip_version": 4, "use_default_subnetpool": True}})
        assert resp.status_code == 201, resp.text
        assert resp.json()["subnet"]["cidr"] == "10.150.0.0/26"
        assert default.id in [p.id for p in other.network.subnet_pools()]
        assert pool.id not in [p.id for p in other.network.subnet_pools()]
        demo.network.delete_subnet(resp.json()["subnet"]["id"])
    finally:
        if network is not None:
            demo.network.delete_network(network)
        if default is not None:
            admin.network.delete_subnet_pool(default)
        admin.network.update_subnet_pool(boot, is_default=True)
        demo.network.delete_subnet_pool(pool)
        demo.network.delete_address_scope(scope)


def test_subnetpool_cli(cloud, unique):
    name = unique("clipool")
    pool = cloud.cli("subnet", "pool", "create", "--pool-prefix", "10.170.0.0/16",
                     "--default-prefix-length", "24", name, cloud="kumo")
    assert pool["prefixes"] == ["10.170.0.0/16"] and pool["default_prefixlen"] == 24
    shown = cloud.cli("subnet", "pool", "show", name, cloud="kumo")
    assert shown["id"] == pool["id"]
    cloud.cli("subnet", "pool", "delete", name, cloud="kumo", parse=False)
