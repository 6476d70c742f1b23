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
