"""Tap-as-a-Service (``/v2.0/taas/tap_services``, ``/v2.0/taas/tap_flows``) through the
SDK and raw calls: the lifecycle, the statuses computed from the ports' bindings, the
feed's ``tap_mirrors``, cascades on port deletion and the errors (each changing
nothing)."""
from __future__ import annotations

import pytest

from kumo.network.definitions_taas import ALL
from tests.api.network.conftest import assert_fault

PATHS = {"tap_services": "taas/tap_services", "tap_flows": "taas/tap_flows",
         "trunks": "trunks"}


@pytest.fixture
def ports(demo, net):
    network, _ = net
    return [demo.network.create_port(network_id=network.id) for _ in range(3)]


def _report(neutron, admin, port_id: str, status: str) -> None:
    resp = neutron.request(admin, "POST", f"/kumo/v1/ports/{port_id}/status",
                           json={"status": status})
    assert resp.status_code in (200, 204), resp.text


def test_extension_listed(demo):
    assert demo.network.find_extension("taas") is not None
    assert demo.network.find_extension("taas-vlan-filter") is None


def test_sdk_lifecycle(demo, ports, neutron):
    service_port, source, _ = ports
    service = demo.network.create_tap_service(name="ids", port_id=service_port.id,
                                              description="analyzer")
    assert service.port_id == service_port.id and service.status == "DOWN"
    assert service.project_id == demo.current_project_id
    flow = demo.network.create_tap_flow(name="f1", tap_service_id=service.id,
                                        source_port=source.id, direction="BOTH")
    assert (flow.direction, flow.source_port, flow.status) == ("BOTH", source.id, "DOWN")
    body = neutron.request(demo, "GET", f"/v2.0/taas/tap_flows/{flow.id}").json()
    assert body["tap_flow"]["vlan_filter"] is None
    assert set(body["tap_flow"]) == set(ALL["tap_flows"].fields)
    assert [f.id for f in demo.network.tap_flows()] == [flow.id]
    assert [s.id for s in demo.network.tap_services(name="ids")] == [service.id]
    demo.network.update_tap_service(service, name="ids2")
    demo.network.update_tap_flow(flow, description="mirror")
    assert demo.network.get_tap_flow(flow.id).description == "mirror"
    assert demo.network.get_tap_service(service.id).name == "ids2"
    resp = neutron.request(demo, "PUT", f"/v2.0/taas/tap_flows/{flow.id}",
                           json={"tap_flow": {"direction": "IN"}})
    assert_fault(resp, 400, "HTTPBadRequest")
    # deleting the service takes its flows
    demo.network.delete_tap_service(service)
    assert list(demo.network.tap_flows()) == []
    assert list(demo.network.tap_services()) == []


def test_statuses_follow_bindings(admin, demo, ports, neutron, unique):
    service_port, source, third = ports
    host = unique("taas-host")
    for p in (service_port, source):
        admin.network.update_port(p.id, binding_host_id=host)
    service = demo.network.create_tap_service(port_id=service_port.id)
    flow = demo.network.create_tap_flow(tap_service_id=service.id, source_port=source.id,
                                        direction="IN")
    assert demo.network.get_tap_flow(flow.id).status == "DOWN"  # ports not up yet
    for p in (service_port, source):
        _report(neutron, admin, p.id, "ACTIVE")
    assert demo.network.get_tap_service(service.id).status == "ACTIVE"
    assert demo.network.get_tap_flow(flow.id).status == "ACTIVE"
    # the feed's source port carries the mirror, to the service's port
    state = neutron.request(admin, "GET", "/kumo/v1/state", params={"host": host}).json()
    item = next(p for p in state["ports"] if p["id"] == source.id)
    assert item["tap_mirrors"] == [{"id": flow.id, "direction": "IN",
                                    "to": service_port.id}]
    assert next(p for p in state["ports"] if p["id"] == service_port.id)[
        "tap_mirrors"] == []
    # the service's port moved to a host with no known tunneling address: ERROR, no
    # mirror
    elsewhere = unique("elsewhere")
    since = neutron.request(admin, "GET", "/kumo/v1/state",
                            params={"host": host}).json()["revision"]
    admin.network.update_port(service_port.id, binding_host_id=elsewhere)
    # the source's host is told: its mirror changes with the service port's host
    changes = neutron.request(admin, "GET", "/kumo/v1/changes", params={
        "host": host, "since": since, "wait": 0}).json()["changes"]
    assert source.id in {c["resource_id"] for c in changes if c["resource_type"] == "port"}
    assert demo.network.get_tap_flow(flow.id).status == "ERROR"
    state = neutron.request(admin, "GET", "/kumo/v1/state", params={"host": host}).json()
    assert next(p for p in state["ports"] if p["id"] == source.id)["tap_mirrors"] == []
    # once that host's L2 agent reports its address, the mirror goes through a tunnel
    resp = neutron.request(admin, "POST", "/kumo/v1/agents/heartbeat", json={"agent": {
        "host": elsewhere, "agent_type": "Linux bridge agent",
        "binary": "neutron-linuxbridge-agent",
        "configurations": {"tunneling_ip": "192.0.2.77"}}})
    assert resp.status_code in (200, 204), resp.text
    try:
        _report(neutron, admin, service_port.id, "ACTIVE")
        assert demo.network.get_tap_flow(flow.id).status == "ACTIVE"
        there = neutron.request(admin, "GET", "/kumo/v1/state",
                                params={"host": elsewhere}).json()
        target = next(p for p in there["ports"] if p["id"] == service_port.id)
        assert target["tap_tunnel"]["vni"] >= 16_700_000
        state = neutron.request(admin, "GET", "/kumo/v1/state",
                                params={"host": host}).json()
        item = next(p for p in state["ports"] if p["id"] == source.id)
        assert item["tap_mirrors"] == [{"id": flow.id, "direction": "IN",
                                        "to": service_port.id, "remote": "192.0.2.77",
                                        "vni": target["tap_tunnel"]["vni"]}]
    finally:
        for agent in admin.network.agents(host=elsewhere):
            admin.network.delete_agent(agent)
    # a flow from a port of another network works the same way
    flow2 = demo.network.create_tap_flow(tap_service_id=service.id,
                                         source_port=third.id, direction="OUT")
    assert flow2.status == "DOWN"


def test_errors_change_nothing(demo, admin, other, ports, neutron):
    service_port, source, _ = ports
    service = demo.network.create_tap_service(port_id=service_port.id)

    def post(conn, kind, body):
        return neutron.request(conn, "POST", f"/v2.0/taas/{kind}s", json={kind: body})

    message = assert_fault(post(demo, "tap_service", {"port_id": service_port.id}), 409,
                           "InUse")
    assert message == (f"Unable to complete operation on port {service_port.id}: it is "
                       f"already the port of tap service {service.id}.")
    assert_fault(post(demo, "tap_service", {"port_id": "nope"}), 404, "PortNotFound")
    assert_fault(post(demo, "tap_service", {}), 400, "HTTPBadRequest")
    flow = {"tap_service_id": service.id, "source_port": source.id}
    assert_fault(post(demo, "tap_flow", {**flow, "direction": "SIDEWAYS"}), 400,
                 "HTTPBadRequest")
    assert_fault(post(demo, "tap_flow", flow), 400, "HTTPBadRequest")
    assert_fault(post(demo, "tap_flow", {**flow, "direction": "IN",
                                         "vlan_filter": "10-20"}), 400, "HTTPBadRequest")
    assert_fault(post(demo, "tap_flow", {**flow, "direction": "IN",
                                         "vlan_filter": "ten"}), 400, "HTTPBadRequest")
    assert_fault(post(demo, "tap_flow", {**flow, "direction": "IN",
                                         "source_port": service_port.id}), 400,
                 "HTTPBadRequest")
    assert_fault(post(demo, "tap_flow", {**flow, "direction": "IN",
                                         "tap_service_id": "nope"}), 404,
                 "TapServiceNotFound")
    # another project sees none of it and cannot use the ports
    assert_fault(neutron.request(other, "GET", f"/v2.0/taas/tap_services/{service.id}"),
                 404, "TapServiceNotFound")
    assert_fault(post(other, "tap_service", {"port_id": source.id}), 404, "PortNotFound")
    assert list(other.network.tap_services()) == []
    # an admin's service on a demo port, for the demo project: demo's own flow may not
    # use another project's service
    assert_fault(neutron.request(demo, "GET", "/v2.0/taas/tap_flows/nope"), 404,
                 "TapFlowNotFound")
    assert list(demo.network.tap_flows()) == []
    assert [s.id for s in demo.network.tap_services()] == [service.id]


def test_port_deletion_cascades(demo, ports):
    service_port, source, third = ports
    service = demo.network.create_tap_service(port_id=service_port.id)
    f1 = demo.network.create_tap_flow(tap_service_id=service.id, source_port=source.id,
                                      direction="IN")
    demo.network.create_tap_flow(tap_service_id=service.id, source_port=third.id,
                                 direction="OUT")
    demo.network.delete_port(third)
    assert [f.id for f in demo.network.tap_flows()] == [f1.id]
    demo.network.delete_port(service_port)
    assert list(demo.network.tap_services()) == []
    assert list(demo.network.tap_flows()) == []


def _sample(attr) -> str:
    if attr.filter == "boolean":
        return "false"
    if attr.filter == "integer":
        return "987654"
    if attr.name in ("created_at", "updated_at"):
        return "2026-01-02T03:04:05"
    return "no-such-value"


@pytest.mark.parametrize("collection", sorted(ALL))
def test_filters_sort_keys_and_paging(admin, neutron, collection):
    definition = ALL[collection]
    path = f"/v2.0/{PATHS[collection]}"
    for attr in definition.attrs:
        if attr.filter is None:
            continue
        resp = neutron.request(admin, "GET", path, params={attr.name: _sample(attr)})
        assert resp.status_code == 200, (attr.name, resp.text)
        assert resp.json()[collection] == [] or attr.filter == "boolean"
    for key in definition.sort_keys:
        resp = neutron.request(admin, "GET", path,
                               params={"sort_key": key, "sort_dir": "desc", "limit": 2})
        assert resp.status_code == 200, (key, resp.text)
    assert_fault(neutron.request(admin, "GET", path, params={"sort_key": "nope"}), 400,
                 "HTTPBadRequest")
