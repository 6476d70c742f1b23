"""Routers' ``availability_zones`` (the zones of the L3 agents hosting them, extension
router_availability_zone) and IPv6 prefix delegation refused with a clear Neutron 400."""
from __future__ import annotations

from tests.api.network.conftest import assert_fault


def _heartbeat(neutron, admin, host: str, zone: str) -> None:
    resp = neutron.request(admin, "POST", "/kumo/v1/agents/heartbeat", json={"agent": {
        "host": host, "agent_type": "L3 agent", "binary": "neutron-l3-agent",
        "availability_zone": zone, "configurations": {"agent_mode": "legacy"}}})
    assert resp.status_code in (200, 204), resp.text


def test_router_availability_zones(admin, demo, neutron, unique):
    assert demo.network.find_extension("router_availability_zone") is not None
    zone, host = unique("az"), unique("l3-az-host")
    _heartbeat(neutron, admin, host, zone)
    router = demo.network.create_router(name=unique("r"), availability_zone_hints=[zone])
    try:
        assert router.availability_zone_hints == [zone]
        assert router.availability_zones == [zone]
        assert demo.network.get_router(router.id).availability_zones == [zone]
        listed = [r for r in demo.network.routers(id=router.id)]
        assert listed[0].availability_zones == [zone]
        shown = neutron.request(demo, "GET", f"/v2.0/routers/{router.id}",
                                params={"fields": "availability_zones"}).json()
        assert shown == {"router": {"availability_zones": [zone]}}
    finally:
        demo.network.delete_router(router)
        for agent in admin.network.agents(host=host):  # the zone goes with the agent
            admin.network.delete_agent(agent)


def test_ipv6_prefix_delegation_is_refused(demo, net, neutron):
    network, _ = net
    resp = neutron.request(demo, "POST", "/v2.0/subnets", json={"subnet": {
        "network_id": network.id, "ip_version": 6, "subnetpool_id": "prefix_delegation",
        "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}})
    message = assert_fault(resp, 400, "InvalidInput")
    assert "prefix delegation is not supported" in message
    assert [s.ip_version for s in demo.network.subnets(network_id=network.id)] == [4]
