"""L3 HA on the controller (Networking API v2.0 extension ``l3-ha``): ``ha`` is
admin-only, an HA router is scheduled to several L3 agents with one
``network:router_ha_interface`` port each on the project's hidden HA network, its VRID
comes from 1..254 per HA network (the 255th is a 409 leaving nothing behind), legacy
<-> HA conversion needs ``admin_state_up=False`` (409 otherwise), the agents' VRRP
state shows as ``ha_state`` (``openstack network agent list --router R --long``), and
the manual failover moves the router's ports. L3 agents are fake (heartbeats), deleted
by each test; routers are made in a fresh project id so each test has its own HA
network."""
from __future__ import annotations

import uuid

import pytest

from tests.api.network.test_agents_az import base
from tests.api.network.test_l3_agent_scheduling import l3_agent
from tests.api.network.test_security_groups import call, fault

HA_OWNER = "network:router_ha_interface"


@pytest.fixture
def project():
    """A project id of this test only (admins may create routers for any)."""
    return uuid.uuid4().hex


@pytest.fixture
def agents(admin):
    """``make(n) -> [agent dict]``: fake alive L3 agents on fresh hosts; deleted after."""
    made: list[str] = []

    def make(n: int) -> list[dict]:
        out = [l3_agent(admin, f"hahost-{uuid.uuid4().hex[:8]}") for _ in range(n)]
        made.extend(a["id"] for a in out)
        return out

    yield make
    for agent_id in made:
        call(admin, "DELETE", f"/agents/{agent_id}")


@pytest.fixture
def routers(admin):
    """Router ids to delete at the end (with their interfaces)."""
    made: list[str] = []
    yield made
    for router_id in made:
        for p in admin.network.ports(device_id=router_id,
                                     device_owner="network:router_interface"):
            try:
                admin.network.remove_interface_from_router(router_id, port_id=p.id)
            except Exception:  # noqa: BLE001 - already gone
                pass
        admin.network.delete_router(router_id, ignore_missing=True)


def ha_ports(conn, router_id: str) -> list:
    return list(conn.network.ports(device_id=router_id, device_owner=HA_OWNER))


def ha_network(conn, project_id: str):
    return conn.network.find_network(f"HA network tenant {project_id}")


def report(conn, host: str, states: dict):
    return conn.session.post(base(conn) + "/kumo/v1/routers/ha_states",
                             json={"host": host, "states": states}, raise_exc=False)


def l3_agent_row(admin, host: str):
    return next(admin.network.agents(host=host, agent_type="L3 agent"))


def hosting(admin, router_id: str) -> dict[str, str | None]:
    """``{host: ha_state}`` of the agents hosting ``router_id`` (raw API)."""
    resp = call(admin, "GET", f"/routers/{router_id}/l3-agents")
    assert resp.status_code == 200, resp.text
    return {a["host"]: a["ha_state"] for a in resp.json()["agents"]}


def test_ha_is_admin_only(demo, admin, routers):
    resp = call(demo, "POST", "/routers", json={"router": {"name": "r", "ha": True}})
    fault(resp, 403, "PolicyNotAuthorized")
    resp = call(demo, "POST", "/routers", json={"router": {"name": "r"}})
    assert resp.status_code == 201, resp.text
    routers.append(resp.json()["router"]["id"])
    rid = resp.json()["router"]["id"]
    fault(call(demo, "PUT", f"/routers/{rid}", json={"router": {"ha": True}}), 403,
          "PolicyNotAuthorized")
    assert admin.network.get_router(rid).is_ha is False


def test_ha_router_scheduled_with_ha_ports_on_hidden_network(cloud, admin, demo, agents,
                                                              routers, unique):
    hosts = [a["host"] for a in agents(4)]
    demo_project = demo.current_project_id
    router = admin.network.create_router(name=unique("ha"), ha=True,
                                         project_id=demo_project)
    routers.append(router.id)
    assert router.is_ha is True
    states = hosting(admin, router.id)
    # max_l3_agents_per_router (3), none of them master yet
    assert len(states) == 3 and set(states.values()) == {"standby"}
    ports = ha_ports(admin, router.id)
    assert sorted(p.binding_host_id for p in ports) == sorted(states)
    assert all(p.project_id == "" and p.name == f"HA port tenant {demo_project}"
               for p in ports)
    net = ha_network(admin, demo_project)
    assert net is not None and net.project_id == ""
    assert {p.network_id for p in ports} == {net.id}
    subnet = next(admin.network.subnets(network_id=net.id))
    assert subnet.cidr == "169.254.192.0/18" and subnet.is_dhcp_enabled is False
    assert all(p.fixed_ips[0]["ip_address"].startswith("169.254.") for p in ports)
    # hidden from the project, as in Neutron
    assert demo.network.find_network(f"HA network tenant {demo_project}") is None
    assert net.id not in {n.id for n in demo.network.networks()}
    fault(call(demo, "GET", f"/networks/{net.id}"), 404, "NetworkNotFound")
    assert not list(demo.network.ports(device_owner=HA_OWNER))
    # the agents' reports show as HA State, the router's ports follow the master
    master = sorted(states)[1]
    for host in states:
        assert report(admin, host, {router.id: "active" if host == master
                                    else "standby"}).status_code == 200
    assert hosting(admin, router.id)[master] == "active"
    rows = cloud.cli("network", "agent", "list", "--router", router.id, "--long")
    shown = {r["Host"]: r["HA State"] for r in rows}
    assert shown == {h: ("active" if h == master else "standby") for h in states}
    # only the service side reports
    fault(report(demo, master, {router.id: "active"}), 403, "PolicyNotAuthorized")
    assert report(admin, master, {router.id: "bogus"}).status_code == 400
    # deleting the router removes its HA ports and, its project's last one, the network
    admin.network.delete_router(router)
    assert not ha_ports(admin, router.id)
    assert ha_network(admin, demo_project) is None


def test_master_report_binds_ports_and_manual_failover(admin, agents, routers, unique,
                                                       project):
    made = agents(3)
    public = admin.network.find_network("public")
    router = admin.network.create_router(
        name=unique("ha"), ha=True, project_id=project,
        external_gateway_info={"network_id": public.id})
    routers.append(router.id)
    gw = admin.network.get_port(admin.network.get_router(router.id)
                                .external_gateway_info["external_fixed_ips"] and
                                next(admin.network.ports(
                                    device_id=router.id,
                                    device_owner="network:router_gateway")).id)
    states = hosting(admin, router.id)
    assert len(states) == 3
    assert gw.binding_host_id in states
    master = sorted(states)[2]
    assert report(admin, master, {router.id: "active"}).status_code == 200
    assert admin.network.get_port(gw.id).binding_host_id == master
    # manual failover: take the router off the master's agent, then add it back
    master_agent = next(a for a in made if a["host"] == master)
    admin.network.remove_router_from_agent(master_agent["id"], router.id)
    states = hosting(admin, router.id)
    assert master not in states and len(states) == 2
    assert admin.network.get_port(gw.id).binding_host_id in states
    assert master not in {p.binding_host_id for p in ha_ports(admin, router.id)}
    fault(call(admin, "DELETE", f"/agents/{master_agent['id']}/l3-routers/{router.id}"),
          409, "RouterNotHostedByL3Agent")
    new_master = sorted(states)[0]
    assert report(admin, new_master, {router.id: "active"}).status_code == 200
    assert admin.network.get_port(gw.id).binding_host_id == new_master
    admin.network.add_router_to_agent(master_agent["id"], router.id)
    states = hosting(admin, router.id)
    assert states[master] == "standby" and states[new_master] == "active"
    assert len(ha_ports(admin, router.id)) == 3
    # disabling the master's agent drains it: the ports go to another agent, its
    # reports no longer make it master; enabling it brings it back as a standby
    admin.network.update_agent(l3_agent_row(admin, new_master), is_admin_state_up=False)
    states = hosting(admin, router.id)
    assert states[new_master] == "standby"
    assert admin.network.get_port(gw.id).binding_host_id not in (new_master, None, "")
    assert report(admin, new_master, {router.id: "active"}).status_code == 200
    assert hosting(admin, router.id)[new_master] == "standby"
    admin.network.update_agent(l3_agent_row(admin, new_master), is_admin_state_up=True)
    assert len(hosting(admin, router.id)) == 3
    # a legacy router still refuses a second agent
    legacy = admin.network.create_router(name=unique("legacy"), project_id=project)
    routers.append(legacy.id)
    first = hosting(admin, legacy.id)
    other = next(a for a in made if a["host"] not in first)
    fault(call(admin, "POST", f"/agents/{other['id']}/l3-routers",
               json={"router_id": legacy.id}), 409, "RouterHostedByL3Agent")


def test_conversion_needs_router_down(admin, agents, routers, unique, project):
    agents(2)
    router = admin.network.create_router(name=unique("conv"), project_id=project)
    routers.append(router.id)
    assert router.is_ha is False and len(hosting(admin, router.id)) == 1
    msg = fault(call(admin, "PUT", f"/routers/{router.id}", json={"router": {"ha": True}}),
                409, "HARouterAdminStateUp")
    assert "admin_state_up to False" in msg
    assert admin.network.get_router(router.id).is_ha is False
    assert ha_network(admin, project) is None and not ha_ports(admin, router.id)
    # the same value is no conversion
    resp = call(admin, "PUT", f"/routers/{router.id}", json={"router": {"ha": False}})
    assert resp.status_code == 200, resp.text
    admin.network.update_router(router.id, is_admin_state_up=False)
    up = admin.network.update_router(router.id, is_ha=True)
    assert up.is_ha is True
    assert len(hosting(admin, router.id)) >= 2
    assert len(ha_ports(admin, router.id)) == len(hosting(admin, router.id))
    assert ha_network(admin, project) is not None
    admin.network.update_router(router.id, is_admin_state_up=True)
    fault(call(admin, "PUT", f"/routers/{router.id}", json={"router": {"ha": False}}),
          409, "HARouterAdminStateUp")
    admin.network.update_router(router.id, is_admin_state_up=False)
    back = admin.network.update_router(router.id, is_ha=False)
    assert back.is_ha is False
    states = hosting(admin, router.id)
    assert len(states) == 1 and list(states.values()) == [None]
    assert not ha_ports(admin, router.id) and ha_network(admin, project) is None


def test_vrid_exhaustion_is_409_and_leaves_nothing(admin, routers, project):
    resp = call(admin, "PUT", f"/quotas/{project}", json={"quota": {"router": -1}})
    assert resp.status_code == 200, resp.text
    try:
        for i in range(254):
            resp = call(admin, "POST", "/routers", json={"router": {
                "name": f"vrid-{i}", "ha": True, "project_id": project}})
            assert resp.status_code == 201, resp.text
            routers.append(resp.json()["router"]["id"])
        net = ha_network(admin, project)
        before_ports = len(list(admin.network.ports(network_id=net.id)))
        msg = fault(call(admin, "POST", "/routers", json={"router": {
            "name": "vrid-255", "ha": True, "project_id": project}}), 409,
            "NoVRIDAvailable")
        assert "254" in msg
        assert len(list(admin.network.routers(project_id=project))) == 254
        assert len(list(admin.network.ports(network_id=net.id))) == before_ports
        assert not list(admin.network.routers(name="vrid-255"))
        # a legacy router in that project is still fine; a freed VRID is reused
        resp = call(admin, "POST", "/routers", json={"router": {
            "name": "legacy", "project_id": project}})
        assert resp.status_code == 201, resp.text
        routers.append(resp.json()["router"]["id"])
        admin.network.delete_router(routers[0])
        resp = call(admin, "POST", "/routers", json={"router": {
            "name": "vrid-again", "ha": True, "project_id": project}})
        assert resp.status_code == 201, resp.text
        routers.append(resp.json()["router"]["id"])
    finally:
        call(admin, "DELETE", f"/quotas/{project}")


def test_l3_ha_setting_makes_routers_ha(tmp_path):
    """With ``l3_ha`` on, routers are HA unless the request says otherwise (members'
    too, as in Neutron), on ``max_l3_agents_per_router`` agents."""
    from tests.conftest import _start

    server = _start(tmp_path, None, "sqlite", {"KUMO_L3_HA": "true",
                                               "KUMO_MAX_L3_AGENTS_PER_ROUTER": "2",
                                               "KUMO_COMPUTE_FAKE_HOSTS": "0"})
    admin, demo = server.connect("kumo-admin"), server.connect("kumo")
    try:
        for _ in range(3):
            l3_agent(admin, f"hahost-{uuid.uuid4().hex[:8]}")
        mine = demo.network.create_router(name="by-member")
        assert admin.network.get_router(mine.id).is_ha is True
        assert len(hosting(admin, mine.id)) == 2 and len(ha_ports(admin, mine.id)) == 2
        legacy = admin.network.create_router(name="legacy", ha=False)
        assert legacy.is_ha is False and len(hosting(admin, legacy.id)) == 1
    finally:
        admin.close()
        demo.close()
        server.process.terminate()
        server.process.wait(30)
