"""The L3 agent scheduler (Networking API v2.0 "L3 agent scheduler"): routers go to the
least-loaded alive L3 agent, their ports are bound to its host, admins list and move
them with openstacksdk and the ``openstack`` CLI. L3 agents here are fake: heartbeats
posted to Kumo's ``/kumo/v1/agents/heartbeat``; each test deletes the ones it made."""
from __future__ import annotations

import uuid

import pytest

from tests.api.network.test_agents_az import base, heartbeat
from tests.api.network.test_security_groups import call, fault


def l3_agent(conn, host: str) -> dict:
    resp = heartbeat(conn, host=host, agent_type="L3 agent", binary="neutron-l3-agent",
                     configurations={"routers": 0})
    assert resp.status_code == 200, resp.text
    return resp.json()["agent"]


def alive_l3_loads(conn) -> dict[str, int]:
    """``{agent_id: routers hosted}`` of every alive, enabled L3 agent."""
    return {a.id: len(list(conn.network.agent_hosted_routers(a.id)))
            for a in conn.network.agents(agent_type="L3 agent")
            if a.is_alive and a.is_admin_state_up}


def hosting(conn, router_id: str) -> list[str]:
    return [a.id for a in conn.network.routers_hosting_l3_agents(router_id)]


@pytest.fixture
def fake_l3(admin):
    """``make() -> agent dict``: a fake alive L3 agent on a fresh host; deleted after."""
    made: list[str] = []

    def make() -> dict:
        agent = l3_agent(admin, f"l3host-{uuid.uuid4().hex[:8]}")
        made.append(agent["id"])
        return agent

    yield make
    for agent_id in made:
        call(admin, "DELETE", f"/agents/{agent_id}")


@pytest.fixture
def router_with_legs(admin, unique):
    """A router with its gateway on ``public`` and one interface; removed after."""
    made = []

    def make():
        public = admin.network.find_network("public")
        net = admin.network.create_network(name=unique("l3s-net"))
        sub = admin.network.create_subnet(network_id=net.id, ip_version=4,
                                          cidr="10.77.0.0/24")
        router = admin.network.create_router(
            name=unique("l3s-r"), external_gateway_info={"network_id": public.id})
        admin.network.add_interface_to_router(router, subnet=sub.id)
        made.append((router, sub, net))
        return admin.network.get_router(router.id)

    yield make
    for router, sub, net in made:
        admin.network.remove_interface_from_router(router, subnet=sub.id)
        admin.network.delete_router(router)
        admin.network.delete_network(net)


def router_ports(conn, router_id: str) -> list:
    return [p for p in conn.network.ports(device_id=router_id)
            if p.device_owner in ("network:router_gateway", "network:router_interface")]


def test_router_goes_to_least_loaded_agent_and_ports_follow(admin, fake_l3,
                                                            router_with_legs):
    first, second = fake_l3(), fake_l3()
    loads = alive_l3_loads(admin)
    assert first["id"] in loads and second["id"] in loads
    router = router_with_legs()
    (agent_id,) = hosting(admin, router.id)
    assert loads[agent_id] == min(loads.values()), (agent_id, loads)
    host = admin.network.get_agent(agent_id).host
    ports = router_ports(admin, router.id)
    assert len(ports) == 2 and {p.binding_host_id for p in ports} == {host}
    # the feed's router item names its host
    state = admin.session.get(base(admin) + "/kumo/v1/state",
                              params={"host": host}).json()
    item = next(r for r in state["routers"] if r["id"] == router.id)
    assert item["host"] == host
    assert {p["id"] for p in state["ports"]} >= {p.id for p in ports}

    # move it to `second` (admin API): ports are re-bound
    target = second if agent_id != second["id"] else first
    fault(call(admin, "POST", f"/agents/{target['id']}/l3-routers",
               json={"router_id": router.id}), 409, "RouterHostedByL3Agent")
    fault(call(admin, "DELETE", f"/agents/{target['id']}/l3-routers/{router.id}"),
          409, "RouterNotHostedByL3Agent")
    resp = call(admin, "DELETE", f"/agents/{agent_id}/l3-routers/{router.id}")
    assert resp.status_code == 204, resp.text
    assert {p.binding_host_id for p in router_ports(admin, router.id)} == {""}
    admin.network.add_router_to_agent(target["id"], router.id)
    assert hosting(admin, router.id) == [target["id"]]
    assert {p.binding_host_id for p in router_ports(admin, router.id)} == \
        {target["host"]}
    # adding again to the same agent is a no-op
    resp = call(admin, "POST", f"/agents/{target['id']}/l3-routers",
                json={"router_id": router.id})
    assert resp.status_code == 201, resp.text
    hosted = [r.id for r in admin.network.agent_hosted_routers(target["id"])]
    assert router.id in hosted

    # a new interface is bound to the hosting host at once
    net2 = admin.network.create_network(name="l3s-net2")
    sub2 = admin.network.create_subnet(network_id=net2.id, ip_version=4,
                                       cidr="10.77.1.0/24")
    try:
        admin.network.add_interface_to_router(router, subnet=sub2.id)
        assert {p.binding_host_id for p in router_ports(admin, router.id)} == \
            {target["host"]}
        admin.network.remove_interface_from_router(router, subnet=sub2.id)
    finally:
        admin.network.delete_network(net2)

    # deleting the agent unhosts its routers; an L3 heartbeat places them again
    call(admin, "DELETE", f"/agents/{target['id']}")
    assert hosting(admin, router.id) == []
    assert {p.binding_host_id for p in router_ports(admin, router.id)} == {""}
    l3_agent(admin, first["host"] if target is second else second["host"])
    (again,) = hosting(admin, router.id)
    assert again in alive_l3_loads(admin)


def test_cli_list_add_remove(cloud, admin, fake_l3, router_with_legs):
    agent = fake_l3()
    router = router_with_legs()
    (current,) = hosting(admin, router.id)
    rows = cloud.cli("network", "agent", "list", "--router", router.id)
    assert [r["ID"] for r in rows] == [current]
    cloud.cli("network", "agent", "remove", "router", "--l3", current, router.id,
              parse=False)
    assert cloud.cli("network", "agent", "list", "--router", router.id) == []
    cloud.cli("network", "agent", "add", "router", "--l3", agent["id"], router.name,
              parse=False)
    rows = cloud.cli("network", "agent", "list", "--router", router.id)
    assert [(r["ID"], r["Host"]) for r in rows] == [(agent["id"], agent["host"])]
    routers = cloud.cli("router", "list", "--agent", agent["id"])
    assert router.id in [r["ID"] for r in routers]


def test_errors_and_policy(admin, demo, fake_l3, router_with_legs):
    agent = fake_l3()
    router = router_with_legs()
    missing = str(uuid.uuid4())
    fault(call(admin, "POST", f"/agents/{missing}/l3-routers",
               json={"router_id": router.id}), 404, "AgentNotFound")
    fault(call(admin, "POST", f"/agents/{agent['id']}/l3-routers",
               json={"router_id": missing}), 404, "RouterNotFound")
    fault(call(admin, "POST", f"/agents/{agent['id']}/l3-routers", json={}),
          400, "HTTPBadRequest")
    dhcp = heartbeat(admin, host=agent["host"], agent_type="DHCP agent").json()["agent"]
    try:
        fault(call(admin, "GET", f"/agents/{dhcp['id']}/l3-routers"), 404,
              "InvalidL3Agent")
    finally:
        call(admin, "DELETE", f"/agents/{dhcp['id']}")
    fault(call(admin, "GET", f"/routers/{missing}/l3-agents"), 404, "RouterNotFound")
    for method, path in (("GET", f"/routers/{router.id}/l3-agents"),
                         ("GET", f"/agents/{agent['id']}/l3-routers"),
                         ("POST", f"/agents/{agent['id']}/l3-routers"),
                         ("DELETE", f"/agents/{agent['id']}/l3-routers/{router.id}")):
        resp = call(demo, method, path, json={"router_id": router.id})
        assert resp.status_code == 403, (method, path, resp.text)
    # a disabled agent is not chosen and cannot be given routers
    admin.network.update_agent(agent["id"], is_admin_state_up=False)
    fault(call(admin, "POST", f"/agents/{agent['id']}/l3-routers",
               json={"router_id": router.id}), 404, "InvalidL3Agent")
    assert agent["id"] not in alive_l3_loads(admin)
