"""Agents (filled by heartbeats through Kumo's internal route) and availability zones."""
import uuid

from tests.api.network.test_security_groups import call, fault


def base(conn) -> str:
    url = conn.network.get_endpoint().rstrip("/")
    return url[:-len("/v2.0")] if url.endswith("/v2.0") else url


def heartbeat(conn, **agent):
    return conn.session.post(base(conn) + "/kumo/v1/agents/heartbeat",
                             json={"agent": agent}, raise_exc=False)


def test_heartbeat_creates_then_refreshes_agent(admin):
    host = f"host-{uuid.uuid4().hex[:8]}"
    first = heartbeat(admin, host=host, agent_type="DHCP agent",
                      binary="neutron-dhcp-agent", configurations={"networks": 1})
    assert first.status_code == 200, first.text
    agent = first.json()["agent"]
    assert agent["alive"] is True and agent["topic"] == "dhcp_agent"
    assert agent["availability_zone"] == "nova" and agent["admin_state_up"] is True
    again = heartbeat(admin, host=host, agent_type="DHCP agent",
                      configurations={"networks": 2}).json()["agent"]
    assert again["id"] == agent["id"] and again["configurations"] == {"networks": 2}
    assert again["created_at"] == agent["created_at"]
    shown = admin.network.get_agent(agent["id"])
    assert shown.host == host and shown.binary == "neutron-dhcp-agent" and shown.is_alive
    listed = list(admin.network.agents(host=host))
    assert [a.id for a in listed] == [agent["id"]]
    updated = admin.network.update_agent(shown, is_admin_state_up=False)
    assert updated.is_admin_state_up is False
    admin.network.delete_agent(agent["id"])
    fault(call(admin, "GET", f"/agents/{agent['id']}"), 404, "AgentNotFound")


def test_agent_list_cli_and_filters(cloud, admin):
    host = f"host-{uuid.uuid4().hex[:8]}"
    for kind, binary in [("Linux bridge agent", "neutron-linuxbridge-agent"),
                         ("L3 agent", "neutron-l3-agent"),
                         ("Metadata agent", "neutron-metadata-agent")]:
        assert heartbeat(admin, host=host, agent_type=kind, binary=binary).status_code == 200
    rows = cloud.cli("network", "agent", "list", "--host", host)
    assert {r["Agent Type"] for r in rows} == {"Linux bridge agent", "L3 agent",
                                                "Metadata agent"}
    assert all(r["Alive"] in (True, ":-)") for r in rows)
    l3 = list(admin.network.agents(host=host, agent_type="L3 agent"))
    assert len(l3) == 1 and l3[0].availability_zone == "nova"
    meta = list(admin.network.agents(host=host, binary="neutron-metadata-agent"))
    assert len(meta) == 1 and meta[0].availability_zone is None
    for agent in admin.network.agents(host=host):
        admin.network.delete_agent(agent)


def test_agents_are_admin_only(demo, admin):
    # a list is filtered by the per-item policy, as Neutron's: empty, not a 403
    resp = call(demo, "GET", "/agents")
    assert resp.status_code == 200 and resp.json() == {"agents": []}
    fault(call(demo, "GET", f"/agents/{uuid.uuid4()}"), 403, "PolicyNotAuthorized")
    resp = heartbeat(demo, host="h", agent_type="DHCP agent")
    fault(resp, 403, "PolicyNotAuthorized")
    fault(heartbeat(admin, agent_type="DHCP agent"), 400, "HTTPBadRequest")
    fault(call(admin, "GET", f"/agents/{uuid.uuid4()}"), 404, "AgentNotFound")


def test_availability_zones(demo, cloud):
    zones = call(demo, "GET", "/availability_zones").json()["availability_zones"]
    assert {(z["name"], z["resource"], z["state"]) for z in zones} == {
        ("nova", "network", "available"), ("nova", "router", "available")}
    only = call(demo, "GET", "/availability_zones?resource=router").json()
    assert [z["resource"] for z in only["availability_zones"]] == ["router"]
    rows = cloud.cli("availability", "zone", "list", "--network", cloud="kumo")
    assert {r["Zone Name"] for r in rows} == {"nova"}
    aliases = {e.alias for e in demo.network.extensions()}
    assert {"agent", "availability_zone"} <= aliases
