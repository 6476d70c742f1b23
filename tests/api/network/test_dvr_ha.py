"""DVR + HA routers (``router create --distributed --ha``) on the controller: the
centralized part (gateway port, ``sg-`` ports) is scheduled to up to
``max_l3_agents_per_router`` ``dvr_snat`` agents only, each with an ``ha-`` port on the
project's HA network, one VRID; the gateway and ``sg-`` ports follow the reported
master while the interface ports stay unbound; ``HA State`` shows per agent; legacy <->
distributed conversion of an HA router (down first) moves its HA ports with it. L3
agents are fake heartbeats, deleted by each test."""
from __future__ import annotations

import uuid

import pytest

from tests.api.network.test_dvr import SNAT, dvr_net, l3_agent, state  # noqa: F401
from tests.api.network.test_l3_ha import HA_OWNER, ha_network, ha_ports, hosting, report
from tests.api.network.test_security_groups import call, fault

GW = "network:router_gateway"
IF = "network:router_interface"


@pytest.fixture
def agents(admin):
    made: list[str] = []

    def make(mode: str) -> dict:
        agent = l3_agent(admin, f"dvrhahost-{uuid.uuid4().hex[:8]}", mode)
        made.append(agent["id"])
        return agent

    yield make
    for agent_id in made:
        call(admin, "DELETE", f"/agents/{agent_id}")


@pytest.fixture
def routers(admin):
    made: list[str] = []
    yield made
    for router_id in made:
        for p in admin.network.ports(device_id=router_id, device_owner=IF):
            try:
                admin.network.remove_interface_from_router(router_id, port_id=p.id)
            except Exception:  # noqa: BLE001 - already gone
                pass
        admin.network.delete_router(router_id, ignore_missing=True)


def owners(admin, router_id: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for p in admin.network.ports(device_id=router_id):
        out.setdefault(p.device_owner, []).append(p)
    return out


def test_dvr_ha_is_admin_only_and_accepted_by_the_cli(cloud, demo, admin, routers, unique):
    fault(call(demo, "POST", "/routers", json={"router": {
        "name": "r", "distributed": True, "ha": True}}), 403, "PolicyNotAuthorized")
    made = cloud.cli("router", "create", "--distributed", "--ha", unique("dvrha"))
    routers.append(made["id"])
    assert made["distributed"] is True and made["ha"] is True


def test_distributed_ha_router_on_dvr_snat_agents(cloud, admin, agents, dvr_net, routers,
                                                  unique):
    snat = [agents("dvr_snat"), agents("dvr_snat")]
    compute, legacy = agents("dvr"), agents("legacy")
    snat_hosts = sorted(a["host"] for a in snat)
    public = admin.network.find_network("public", ignore_missing=False)
    net, sub = dvr_net("10.79.1.0/24")
    project = uuid.uuid4().hex
    router = admin.network.create_router(name=unique("dvrha"), is_distributed=True,
                                         ha=True, project_id=project)
    rid = router.id
    routers.append(rid)
    assert router.is_distributed is True and router.is_ha is True
    admin.network.update_router(rid, external_gateway_info={"network_id": public.id})
    admin.network.add_interface_to_router(rid, subnet_id=sub.id)
    # the centralized part on both dvr_snat agents (never the dvr or legacy one)
    states = hosting(admin, rid)
    assert sorted(states) == snat_hosts, (states, compute, legacy)
    assert set(states.values()) == {"standby"}
    has = ha_ports(admin, rid)
    assert sorted(p.binding_host_id for p in has) == snat_hosts
    hanet = ha_network(admin, project)
    assert hanet is not None and {p.network_id for p in has} == {hanet.id}
    ports = owners(admin, rid)
    assert [p.binding_host_id for p in ports[IF]] == [""]
    first = ports[GW][0].binding_host_id
    assert first in snat_hosts
    assert [p.binding_host_id for p in ports[SNAT]] == [first]
    # the feed gives every dvr_snat host the router with its HA info
    for host in snat_hosts:
        item = next(r for r in state(admin, host)["routers"] if r["id"] == rid)
        assert item["ha"] and item["distributed"] and item["ha_info"]["vr_id"] >= 1
        assert sorted(item["hosts"]) == snat_hosts
        assert host in item["ha_info"]["ports"]
        assert [p["port_id"] for p in item["snat_ports"]] == [ports[SNAT][0].id]
    # the other agent reports master: gateway and sg- follow, interfaces stay unbound
    other = next(h for h in snat_hosts if h != first)
    assert report(admin, other, {rid: "active"}).status_code == 200
    assert report(admin, first, {rid: "standby"}).status_code == 200
    ports = owners(admin, rid)
    assert ports[GW][0].binding_host_id == other
    assert [p.binding_host_id for p in ports[SNAT]] == [other]
    assert [p.binding_host_id for p in ports[IF]] == [""]
    rows = cloud.cli("network", "agent", "list", "--router", rid, "--long")
    assert {r["Host"]: r["HA State"] for r in rows} == {
        other: "active", first: "standby"}

    # conversion needs the router down (409 otherwise); to legacy HA it may use the
    # legacy agent too, back to distributed its HA port there goes
    fault(call(admin, "PUT", f"/routers/{rid}", json={"router": {"distributed": False}}),
          409, "RouterConversionConflict")
    admin.network.update_router(rid, is_admin_state_up=False)
    admin.network.update_router(rid, is_distributed=False)
    states = hosting(admin, rid)
    assert set(states) <= {legacy["host"], *snat_hosts} and compute["host"] not in states
    assert sorted(p.binding_host_id for p in ha_ports(admin, rid)) == sorted(states)
    assert SNAT not in owners(admin, rid)
    admin.network.update_router(rid, is_distributed=True)
    assert sorted(hosting(admin, rid)) == snat_hosts
    assert sorted(p.binding_host_id for p in ha_ports(admin, rid)) == snat_hosts
    assert len(owners(admin, rid)[SNAT]) == 1
    # to legacy DVR: the HA ports and the project's HA network go
    admin.network.update_router(rid, is_ha=False)
    assert len(hosting(admin, rid)) == 1 and not ha_ports(admin, rid)
    assert ha_network(admin, project) is None
    assert not list(admin.network.ports(device_id=rid, device_owner=HA_OWNER))
