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
