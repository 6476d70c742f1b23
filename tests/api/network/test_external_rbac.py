"""External networks as Neutron shows them, the ``'*'`` RBAC policies that ``shared``
and ``router:external`` make, deleting an external network with floating IPs, and
agents listed by a non-admin (openstacksdk, the CLI and httpx)."""
from __future__ import annotations

import httpx
import pytest

from tests.api.network.conftest import assert_fault


@pytest.fixture(scope="module")
def demo_http(cloud, demo):
    with httpx.Client(base_url=cloud.url + "/networking", timeout=60,
                      headers={"X-Auth-Token": demo.session.get_token()}) as client:
        yield client


def _wildcards(admin, network_id: str) -> list[tuple[str, str]]:
    return sorted((p.action, p.target_project_id) for p in admin.network.rbac_policies(
        object_id=network_id))


def test_external_network_visibility(demo, demo_http, net):
    external = list(demo.network.networks(is_router_external=True))
    assert "public" in [n.name for n in external]
    assert all(n.is_router_external for n in external)
    public = next(n for n in external if n.name == "public")
    subnets = demo_http.get("/v2.0/subnets", params={"network_id": public.id}).json()
    assert subnets["subnets"], "subnets of an external network are visible"
    assert all(s["router:external"] is True for s in subnets["subnets"])
    own = demo_http.get(f"/v2.0/subnets/{net[1].id}").json()["subnet"]
    assert own["router:external"] is False
    aliases = [e["alias"] for e in demo_http.get("/v2.0/extensions").json()["extensions"]]
    assert "subnet-external-network" in aliases
    assert_fault(demo_http.post("/v2.0/subnets", json={"subnet": {
        "network_id": net[0].id, "cidr": "10.9.1.0/28", "ip_version": 4,
        "router:external": True}}), 400, "HTTPBadRequest")


def test_public_has_wildcard_external_policy(admin):
    public = admin.network.find_network("public")
    assert ("access_as_external", "*") in _wildcards(admin, public.id)


def test_flags_make_wildcard_policies(cloud, admin, demo, unique):
    network = admin.network.create_network(name=unique("wild"), shared=True)
    try:
        assert _wildcards(admin, network.id) == [("access_as_shared", "*")]
        assert network.id in [n.id for n in demo.network.networks()]
        admin.network.update_network(network, shared=False)
        assert _wildcards(admin, network.id) == []
        assert network.id not in [n.id for n in demo.network.networks()]
        cloud.cli("network", "set", "--external", network.id, parse=False)
        assert _wildcards(admin, network.id) == [("access_as_external", "*")]
        assert network.id in [n.id for n in demo.network.networks()]
        listed = cloud.cli("network", "rbac", "list", "--long")
        assert network.id in [p["Object ID"] for p in listed]
        cloud.cli("network", "set", "--internal", network.id, parse=False)
        assert _wildcards(admin, network.id) == []
        assert network.id not in [n.id for n in demo.network.networks()]
        admin.network.update_network(network, shared=True, is_router_external=True)
        assert _wildcards(admin, network.id) == [("access_as_external", "*"),
                                                 ("access_as_shared", "*")]
        admin.network.update_network(network, shared=True)  # already there: no second
        assert len(_wildcards(admin, network.id)) == 2
    finally:
        admin.network.delete_network(network, ignore_missing=True)
    assert _wildcards(admin, network.id) == []


def test_delete_external_network_with_floating_ips(cloud, admin, demo, unique):
    network = admin.network.create_network(name=unique("ext"), is_router_external=True)
    try:
        admin.network.create_subnet(network_id=network.id, ip_version=4,
                                    cidr="198.51.100.0/28", enable_dhcp=False)
        fip = demo.network.create_ip(floating_network_id=network.id)
        # associated with a port: the network stays in use (409), nothing changes
        inner = demo.network.create_network(name=unique("inner"))
        inner_sub = demo.network.create_subnet(network_id=inner.id, ip_version=4,
                                               cidr="10.66.0.0/28")
        port = demo.network.create_port(network_id=inner.id)
        router = demo.network.create_router(name=unique("r"),
                                            external_gateway_info={"network_id": network.id})
        demo.network.add_interface_to_router(router, subnet_id=inner_sub.id)
        demo.network.update_ip(fip, port_id=port.id)
        resp = admin.session.request(cloud.url + f"/networking/v2.0/networks/{network.id}",
                                     "DELETE", raise_exc=False)
        assert_fault(resp, 409, "NetworkInUse")
        assert admin.network.get_network(network.id).is_router_external
        assert demo.network.get_ip(fip.id).port_id == port.id
        # not associated: it goes with the network, as Neutron's
        # delete_disassociated_floatingips (Tempest's
        # test_delete_external_networks_with_floating_ip)
        demo.network.update_ip(fip, port_id=None)
        demo.network.remove_interface_from_router(router, subnet_id=inner_sub.id)
        demo.network.delete_router(router)
        demo.network.delete_port(port)
        demo.network.delete_network(inner)
        admin.network.delete_network(network)
        assert demo.network.find_ip(fip.id) is None
        assert not list(admin.network.subnets(network_id=network.id))
    finally:
        admin.network.delete_network(network, ignore_missing=True)


def test_agents_by_non_admin(demo_http):
    # Neutron filters a list by the per-item policy: empty, not a 403
    for path in ("/v2.0/agents", "/v2.0/agents?agent_type=L3%20agent"):
        resp = demo_http.get(path)
        assert resp.status_code == 200 and resp.json() == {"agents": []}
