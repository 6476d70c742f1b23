"""Trunks (``/v2.0/trunks``, extensions trunk and trunk-details) through the SDK, the
``openstack network trunk`` CLI and raw calls: the lifecycle with sub-ports, the
statuses (DOWN unbound; DEGRADED when the host's agent cannot make VLAN devices; BUILD
and ACTIVE when it can), ``trunk_details`` on the parent, the sub-ports following the
parent's binding, and Neutron's 409s and 400s (each changing nothing)."""
from __future__ import annotations

import pytest

from tests.api.network.conftest import assert_fault


@pytest.fixture
def ports(admin, demo, net):
    network, _ = net
    yield [demo.network.create_port(network_id=network.id) for _ in range(4)]
    for trunk in demo.network.trunks():  # before the net fixture deletes the ports
        admin.network.update_port(trunk.port_id, binding_host_id="")
        demo.network.delete_trunk(trunk, ignore_missing=True)


def _report(neutron, admin, port_id: str, status: str) -> None:
    resp = neutron.request(admin, "POST", f"/kumo/v1/ports/{port_id}/status",
                           json={"status": status})
    assert resp.status_code in (200, 204), resp.text


def _heartbeat(neutron, admin, host: str, vlan: bool) -> None:
    resp = neutron.request(admin, "POST", "/kumo/v1/agents/heartbeat", json={"agent": {
        "host": host, "agent_type": "Linux bridge agent",
        "binary": "neutron-linuxbridge-agent",
        "configurations": {"trunk": {"vlan": vlan, "reason": "test"}}}})
    assert resp.status_code in (200, 204), resp.text


def test_extensions_listed(demo):
    assert demo.network.find_extension("trunk") is not None
    assert demo.network.find_extension("trunk-details") is not None


def test_sdk_lifecycle(demo, ports, neutron):
    parent, sub1, sub2, _ = ports
    trunk = demo.network.create_trunk(name="t", port_id=parent.id, sub_ports=[
        {"port_id": sub1.id, "segmentation_type": "vlan", "segmentation_id": 100}])
    assert trunk.status == "DOWN" and trunk.is_admin_state_up
    assert trunk.sub_ports == [{"port_id": sub1.id, "segmentation_type": "vlan",
                                "segmentation_id": 100}]
    assert demo.network.get_port(sub1.id).device_owner == "trunk:subport"
    assert demo.network.get_port(sub1.id).device_id == trunk.id
    details = demo.network.get_port(parent.id).trunk_details
    assert details["trunk_id"] == trunk.id
    assert details["sub_ports"][0]["mac_address"] == sub1.mac_address
    assert demo.network.get_port(sub2.id).trunk_details is None
    # as Neutron: no trunk_details key at all on a port that is no trunk's parent
    shown = neutron.request(demo, "GET", f"/v2.0/ports/{sub2.id}").json()["port"]
    assert "trunk_details" not in shown and "trunk_details" in neutron.request(
        demo, "GET", f"/v2.0/ports/{parent.id}").json()["port"]
    listed = {p["id"]: p for p in neutron.request(
        demo, "GET", f"/v2.0/ports?network_id={parent.network_id}").json()["ports"]}
    assert "trunk_details" in listed[parent.id] and "trunk_details" not in listed[sub2.id]
    # add, list, remove: the answers are the trunk itself, unwrapped
    resp = neutron.request(demo, "PUT", f"/v2.0/trunks/{trunk.id}/add_subports",
                           json={"sub_ports": [{"port_id": sub2.id,
                                                "segmentation_type": "vlan",
                                                "segmentation_id": 200}]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == trunk.id and len(resp.json()["sub_ports"]) == 2
    got = demo.network.get_trunk_subports(trunk)
    assert [s["segmentation_id"] for s in got["sub_ports"]] == [100, 200]
    demo.network.delete_trunk_subports(trunk, [{"port_id": sub1.id}])
    assert [s["port_id"] for s in demo.network.get_trunk(trunk.id).sub_ports] == [sub2.id]
    assert demo.network.get_port(sub1.id).device_owner == ""
    demo.network.update_trunk(trunk, name="t2", description="d")
    assert demo.network.get_trunk(trunk.id).name == "t2"
    assert [t.id for t in demo.network.trunks(port_id=parent.id)] == [trunk.id]
    demo.network.set_tags(trunk, ["blue"])
    assert [t.id for t in demo.network.trunks(tags="blue")] == [trunk.id]
    demo.network.delete_trunk(trunk)
    assert list(demo.network.trunks()) == []
    assert demo.network.get_port(sub2.id).device_owner == ""
    assert demo.network.get_port(parent.id).trunk_details is None


def test_statuses(admin, demo, ports, neutron, unique):
    parent, sub1, _, _ = ports
    trunk = demo.network.create_trunk(port_id=parent.id)
    host = unique("trunk-host")
    admin.network.update_port(parent.id, binding_host_id=host)
    assert demo.network.get_trunk(trunk.id).status == "BUILD"
    _report(neutron, admin, parent.id, "ACTIVE")
    assert demo.network.get_trunk(trunk.id).status == "ACTIVE"  # carries the parent
    demo.network.add_trunk_subports(trunk, [{"port_id": sub1.id,
                                             "segmentation_type": "vlan",
                                             "segmentation_id": 7}])
    # the sub-port follows the parent's host
    assert admin.network.get_port(sub1.id).binding_host_id == host
    # no agent saying it makes VLAN devices: DEGRADED, never ACTIVE
    assert demo.network.get_trunk(trunk.id).status == "DEGRADED"
    _heartbeat(neutron, admin, host, vlan=False)
    assert demo.network.get_trunk(trunk.id).status == "DEGRADED"
    _heartbeat(neutron, admin, host, vlan=True)
    assert demo.network.get_trunk(trunk.id).status == "BUILD"
    _report(neutron, admin, sub1.id, "ACTIVE")
    assert demo.network.get_trunk(trunk.id).status == "ACTIVE"
    # the parent moves: its sub-ports follow
    admin.network.update_port(parent.id, binding_host_id=host + "-2")
    assert admin.network.get_port(sub1.id).binding_host_id == host + "-2"
    # a bound parent's trunk cannot be deleted
    assert_fault(neutron.request(demo, "DELETE", f"/v2.0/trunks/{trunk.id}"), 409,
                 "TrunkInUse")
    admin.network.update_port(parent.id, binding_host_id="")
    assert admin.network.get_port(sub1.id).binding_host_id in ("", None)
    assert demo.network.get_trunk(trunk.id).status == "DOWN"
    for agent in admin.network.agents(host=host):
        admin.network.delete_agent(agent)


def test_errors_change_nothing(demo, ports, neutron, other):
    parent, sub1, sub2, spare = ports
    trunk = demo.network.create_trunk(port_id=parent.id, sub_ports=[
        {"port_id": sub1.id, "segmentation_type": "vlan", "segmentation_id": 10}])

    def post(body):
        return neutron.request(demo, "POST", "/v2.0/trunks", json={"trunk": body})

    def add(subs, trunk_id=trunk.id):
        return neutron.request(demo, "PUT", f"/v2.0/trunks/{trunk_id}/add_subports",
                               json={"sub_ports": subs})

    assert_fault(post({"port_id": parent.id}), 409, "TrunkPortInUse")
    assert_fault(post({"port_id": sub1.id}), 409, "TrunkPortInUse")
    assert_fault(post({"port_id": "nope"}), 404, "PortNotFound")
    assert_fault(post({}), 400, "HTTPBadRequest")
    assert_fault(post({"port_id": spare.id, "sub_ports": [
        {"port_id": sub2.id, "segmentation_type": "vlan", "segmentation_id": 5000}]}),
        400, "HTTPBadRequest")
    assert_fault(post({"port_id": spare.id, "sub_ports": [
        {"port_id": sub2.id, "segmentation_type": "inherit"}]}), 400, "HTTPBadRequest")
    assert_fault(post({"port_id": spare.id, "sub_ports": [
        {"port_id": sub2.id, "segmentation_type": "vxlan", "segmentation_id": 5}]}),
        400, "HTTPBadRequest")
    assert [t.id for t in demo.network.trunks()] == [trunk.id]  # nothing half-made
    assert demo.network.get_port(spare.id).trunk_details is None
    assert demo.network.get_port(sub2.id).device_owner == ""
    assert_fault(add([{"port_id": sub2.id, "segmentation_type": "vlan",
                       "segmentation_id": 10}]), 409, "DuplicateSubPort")
    assert_fault(add([{"port_id": sub1.id, "segmentation_type": "vlan",
                       "segmentation_id": 11}]), 409, "TrunkPortInUse")
    assert_fault(add([{"port_id": parent.id, "segmentation_type": "vlan",
                       "segmentation_id": 12}]), 409, "TrunkPortInUse")
    # all or nothing: a good sub-port beside a bad one is not added
    assert_fault(add([{"port_id": sub2.id, "segmentation_type": "vlan",
                       "segmentation_id": 20},
                      {"port_id": spare.id, "segmentation_type": "vlan",
                       "segmentation_id": 10}]), 409, "DuplicateSubPort")
    assert len(demo.network.get_trunk(trunk.id).sub_ports) == 1
    assert demo.network.get_port(sub2.id).device_owner == ""
    resp = neutron.request(demo, "PUT", f"/v2.0/trunks/{trunk.id}/remove_subports",
                           json={"sub_ports": [{"port_id": spare.id}]})
    assert_fault(resp, 404, "SubPortNotFound")
    # ports in use by the trunk cannot be deleted
    assert_fault(neutron.request(demo, "DELETE", f"/v2.0/ports/{parent.id}"), 409,
                 "PortInUseAsTrunkParent")
    assert_fault(neutron.request(demo, "DELETE", f"/v2.0/ports/{sub1.id}"), 409,
                 "PortInUseAsSubPort")
    # a disabled trunk takes no sub-port changes
    demo.network.update_trunk(trunk, is_admin_state_up=False)
    assert_fault(add([{"port_id": sub2.id, "segmentation_type": "vlan",
                       "segmentation_id": 30}]), 409, "TrunkDisabled")
    # another project sees nothing
    assert_fault(neutron.request(other, "GET", f"/v2.0/trunks/{trunk.id}"), 404,
                 "TrunkNotFound")
    assert list(other.network.trunks()) == []
    demo.network.delete_trunk(trunk)


def test_cli(cloud, demo, ports):
    parent, sub1, sub2, _ = ports
    made = cloud.cli("network", "trunk", "create", "--parent-port", parent.id,
                     "--subport", f"port={sub1.id},segmentation-type=vlan,"
                     "segmentation-id=101", "t-cli", cloud="kumo")
    assert made["status"] == "DOWN"
    cloud.cli("network", "trunk", "set", "--subport",
              f"port={sub2.id},segmentation-type=vlan,segmentation-id=102", "t-cli",
              cloud="kumo", parse=False)
    subs = cloud.cli("network", "subport", "list", "--trunk", "t-cli", cloud="kumo")
    assert sorted(s["Segmentation ID"] for s in subs) == [101, 102]
    cloud.cli("network", "trunk", "unset", "--subport", sub1.id, "t-cli", cloud="kumo",
              parse=False)
    shown = cloud.cli("network", "trunk", "show", "t-cli", cloud="kumo")
    assert [s["port_id"] for s in shown["sub_ports"]] == [sub2.id]
    listed = cloud.cli("network", "trunk", "list", cloud="kumo")
    assert [t["Name"] for t in listed] == ["t-cli"]
    cloud.cli("network", "trunk", "delete", "t-cli", cloud="kumo", parse=False)
    assert cloud.cli("network", "trunk", "list", cloud="kumo") == []
