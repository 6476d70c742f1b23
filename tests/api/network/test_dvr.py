"""Distributed routers (Networking API v2.0 extension ``dvr``), the server side: who may
make them, converting one, and the ports DVR makes (``sg-`` per internal subnet on the
SNAT host, ``fg-`` per host with a floating IP), with the per-host feed a ``dvr`` agent
gets. L3 agents are fake heartbeats with ``configurations.agent_mode``; each test
deletes the agents and resources it made."""
from __future__ import annotations

import uuid

import pytest

from tests.api.network.test_agents_az import base, heartbeat
from tests.api.network.test_security_groups import call, fault

SNAT = "network:router_centralized_snat"
FG = "network:floatingip_agent_gateway"


def l3_agent(conn, host: str, mode: str) -> dict:
    resp = heartbeat(conn, host=host, agent_type="L3 agent", binary="neutron-l3-agent",
                     configurations={"agent_mode": mode, "routers": 0})
    assert resp.status_code == 200, resp.text
    return resp.json()["agent"]


@pytest.fixture
def agents(admin):
    made: list[str] = []

    def make(mode: str) -> dict:
        agent = l3_agent(admin, f"dvrhost-{uuid.uuid4().hex[:8]}", mode)
        made.append(agent["id"])
        return agent

    yield make
    for agent_id in made:
        call(admin, "DELETE", f"/agents/{agent_id}")


@pytest.fixture
def dvr_net(admin, unique):
    """A network with a subnet; its leftovers are removed after."""
    made = []

    def make(cidr: str):
        net = admin.network.create_network(name=unique("dvr-net"))
        sub = admin.network.create_subnet(network_id=net.id, ip_version=4, cidr=cidr)
        made.append(net)
        return net, sub

    yield make
    for net in made:
        for port in admin.network.ports(network_id=net.id):
            if port.device_owner.startswith("compute:"):
                admin.network.delete_port(port, ignore_missing=True)
        admin.network.delete_network(net, ignore_missing=True)


def state(admin, host: str) -> dict:
    resp = admin.session.get(base(admin) + f"/kumo/v1/state?host={host}", raise_exc=False)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_agent_mode_is_shown(admin, agents):
    agent = agents("dvr_snat")
    shown = admin.network.get_agent(agent["id"])
    assert shown.configuration["agent_mode"] == "dvr_snat"


def test_distributed_is_admin_only(demo, admin, unique):
    resp = call(demo, "POST", "/routers", json={"router": {"name": unique("dvr"),
                                                           "distributed": True}})
    assert resp.status_code == 403, resp.text
    assert "NeutronError" in resp.json()
    router = admin.network.create_router(name=unique("dvr"), is_distributed=True)
    try:
        assert admin.network.get_router(router.id).is_distributed is True
        resp = call(demo, "PUT", f"/routers/{router.id}", json={"router": {
            "distributed": False}})
        assert resp.status_code in (403, 404), resp.text
    finally:
        admin.network.delete_router(router)


def test_distributed_router_ports_and_feed(admin, agents, dvr_net, unique):
    snat_agent, compute_agent = agents("dvr_snat"), agents("dvr")
    legacy_agent = agents("legacy")  # hosts legacy routers only
    public = admin.network.find_network("public", ignore_missing=False)
    net, sub = dvr_net("10.78.1.0/24")
    router = admin.network.create_router(name=unique("dvr-r"), is_distributed=True,
                                         external_gateway_info={"network_id": public.id})
    fip = None
    try:
        admin.network.add_interface_to_router(router, subnet_id=sub.id)
        # the centralized part goes to the dvr_snat agent, never a dvr or legacy one
        hosting = [a.id for a in admin.network.routers_hosting_l3_agents(router.id)]
        assert hosting == [snat_agent["id"]], (hosting, snat_agent, legacy_agent)
        snat_host = snat_agent["host"]
        ports = {p.device_owner: p for p in admin.network.ports(device_id=router.id)}
        assert ports["network:router_gateway"].binding_host_id == snat_host
        assert ports["network:router_interface"].binding_host_id == ""
        sg = ports[SNAT]
        assert sg.network_id == net.id and sg.binding_host_id == snat_host
        assert sg.fixed_ips[0]["subnet_id"] == sub.id
        assert sg.fixed_ips[0]["ip_address"] != sub.gateway_ip

        # a server's port on the compute host: the router is in that host's feed, with
        # the host's distributed MAC; a floating IP makes the host's fg- port
        vm = admin.network.create_port(network_id=net.id, device_owner="compute:nova",
                                       device_id=str(uuid.uuid4()),
                                       binding_host_id=compute_agent["host"])
        snap = state(admin, compute_agent["host"])
        item = next(r for r in snap["routers"] if r["id"] == router.id)
        assert item["distributed"] is True
        assert item["dvr_host_mac"].startswith("fa:16:3f:")
        assert [p["port_id"] for p in item["snat_ports"]] == [sg.id]
        other_mac = next(r for r in state(admin, snat_host)["routers"]
                         if r["id"] == router.id)["dvr_host_mac"]
        assert other_mac and other_mac != item["dvr_host_mac"]
        assert not [p for p in admin.network.ports(network_id=public.id)
                    if p.device_owner == FG and p.binding_host_id == compute_agent["host"]]
        fip = admin.network.create_ip(floating_network_id=public.id, port_id=vm.id)
        fgs = [p for p in admin.network.ports(network_id=public.id)
               if p.device_owner == FG and p.binding_host_id == compute_agent["host"]]
        assert len(fgs) == 1 and fgs[0].device_id == compute_agent["id"]
        snap = state(admin, compute_agent["host"])
        assert fip.id in {f["id"] for f in snap["floatingips"]}
        assert fgs[0].id in {p["id"] for p in snap["ports"]}
        # the fg- port is DVR's: DELETE /ports of an sg- port is refused
        fault(call(admin, "DELETE", f"/ports/{sg.id}"), 409, "ServicePortInUse")
        admin.network.update_ip(fip, port_id=None)
        assert not [p for p in admin.network.ports(network_id=public.id)
                    if p.device_owner == FG and p.binding_host_id == compute_agent["host"]]
        admin.network.update_ip(fip, port_id=vm.id)
        assert [p for p in admin.network.ports(network_id=public.id)
                if p.device_owner == FG and p.binding_host_id == compute_agent["host"]]
        admin.network.delete_ip(fip)
        fip = None
        assert not [p for p in admin.network.ports(network_id=public.id)
                    if p.device_owner == FG and p.binding_host_id == compute_agent["host"]]

        # converting an up router: 409, nothing changed
        resp = call(admin, "PUT", f"/routers/{router.id}",
                    json={"router": {"distributed": False}})
        fault(resp, 409, "RouterConversionConflict")
        assert admin.network.get_router(router.id).is_distributed is True
        # down, it converts: the sg- port goes, the interface is bound again
        admin.network.update_router(router, is_admin_state_up=False)
        admin.network.update_router(router, is_distributed=False)
        ports = {p.device_owner: p for p in admin.network.ports(device_id=router.id)}
        assert SNAT not in ports
        host = ports["network:router_gateway"].binding_host_id
        assert ports["network:router_interface"].binding_host_id == host != ""
        # and back
        admin.network.update_router(router, is_distributed=True)
        ports = {p.device_owner: p for p in admin.network.ports(device_id=router.id)}
        assert ports[SNAT].binding_host_id == ports["network:router_gateway"].binding_host_id
        assert ports["network:router_interface"].binding_host_id == ""
        admin.network.update_router(router, is_admin_state_up=True)

        # removing the interface removes its sg- port
        admin.network.remove_interface_from_router(router, subnet_id=sub.id)
        assert not [p for p in admin.network.ports(device_id=router.id)
                    if p.device_owner == SNAT]
    finally:
        if fip is not None:
            admin.network.delete_ip(fip, ignore_missing=True)
        try:
            admin.network.remove_interface_from_router(router, subnet_id=sub.id)
        except Exception:  # noqa: BLE001 - already removed
            pass
        admin.network.delete_router(router, ignore_missing=True)


def test_legacy_router_never_on_a_dvr_agent(admin, agents, unique):
    compute_agent = agents("dvr")
    agents("legacy")  # an agent that may host it
    public = admin.network.find_network("public", ignore_missing=False)
    router = admin.network.create_router(name=unique("legacy-r"),
                                         external_gateway_info={"network_id": public.id})
    try:
        hosting = [a.id for a in admin.network.routers_hosting_l3_agents(router.id)]
        assert hosting and compute_agent["id"] not in hosting, hosting
        gw = next(admin.network.ports(device_id=router.id,
                                      device_owner="network:router_gateway"))
        assert gw.binding_host_id != compute_agent["host"]
    finally:
        admin.network.delete_router(router)
