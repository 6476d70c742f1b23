"""Network logging (issue 14): ``/v2.0/log/logs`` and ``loggable-resources`` through
raw calls (openstacksdk has no logs; the ``openstack network log`` commands of
python-neutronclient's OSC plugin are driven in test_logging_cli.py); admin-only; bad
input is Neutron's fault and changes nothing."""
from __future__ import annotations

import pytest

from tests.api.network.conftest import assert_fault

L = "/v2.0/log"


@pytest.fixture
def group_on_port(admin, unique):
    """An admin router interface port in a firewall group: (group id, port id)."""
    net = admin.network.create_network(name=unique("ln"))
    sub = admin.network.create_subnet(network_id=net.id, ip_version=4,
                                      cidr="10.74.0.0/28")
    router = admin.network.create_router(name=unique("lr"))
    port_id = admin.network.add_interface_to_router(router, subnet_id=sub.id)["port_id"]
    group = admin.network.create_firewall_group(name=unique("lg"), ports=[port_id])
    yield group.id, port_id
    admin.network.update_firewall_group(group, ports=[])
    admin.network.delete_firewall_group(group)
    admin.network.remove_interface_from_router(router, subnet_id=sub.id)
    admin.network.delete_router(router)
    admin.network.delete_network(net)


def test_loggable_resources_and_extension(admin, demo, neutron):
    assert "logging" in {e.alias for e in admin.network.extensions()}
    resp = neutron.request(admin, "GET", f"{L}/loggable-resources")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"loggable_resources": [{"type": "firewall_group"},
                                                  {"type": "security_group"}]}
    assert neutron.request(demo, "GET", f"{L}/loggable-resources").status_code == 403


def test_log_lifecycle(admin, demo, neutron, group_on_port, unique):
    group_id, port_id = group_on_port
    resp = neutron.request(admin, "POST", f"{L}/logs", json={"log": {
        "name": unique("log"), "resource_type": "firewall_group", "resource_id": group_id,
        "target_id": port_id, "event": "DROP"}})
    assert resp.status_code == 201, resp.text
    log = resp.json()["log"]
    try:
        assert (log["event"], log["enabled"], log["resource_id"], log["target_id"]) == \
            ("DROP", True, group_id, port_id)
        assert {"created_at", "updated_at", "revision_number", "project_id"} <= set(log)
        resp = neutron.request(admin, "PUT", f"{L}/logs/{log['id']}",
                               json={"log": {"enabled": False, "name": "off"}})
        assert resp.status_code == 200 and resp.json()["log"]["enabled"] is False
        # only name, description and enabled change
        resp = neutron.request(admin, "PUT", f"{L}/logs/{log['id']}",
                               json={"log": {"event": "ALL"}})
        assert_fault(resp, 400, "HTTPBadRequest")
        listed = neutron.request(admin, "GET", f"{L}/logs",
                                 params={"resource_id": group_id}).json()["logs"]
        assert [x["id"] for x in listed] == [log["id"]]
        # the admin's: members neither see nor create logs
        assert neutron.request(demo, "GET", f"{L}/logs").json().get("logs", []) == [] \
            or neutron.request(demo, "GET", f"{L}/logs").status_code == 403
        resp = neutron.request(demo, "POST", f"{L}/logs", json={"log": {
            "resource_type": "firewall_group"}})
        assert resp.status_code == 403
    finally:
        neutron.request(admin, "DELETE", f"{L}/logs/{log['id']}")
    assert_fault(neutron.request(admin, "GET", f"{L}/logs/{log['id']}"), 404,
                 "LogResourceNotFound")


def test_bad_input_changes_nothing(admin, neutron, group_on_port):
    group_id, port_id = group_on_port
    before = neutron.request(admin, "GET", f"{L}/logs").json()["logs"]
    for body, status, kind in [
        ({"resource_type": "nope"}, 400, "InvalidLogResourceType"),
        ({}, 400, "HTTPBadRequest"),
        ({"resource_type": "firewall_group", "event": "SOME"}, 400, "HTTPBadRequest"),
        ({"resource_type": "firewall_group", "resource_id": "no-such"}, 404,
         "ResourceNotFound"),
        ({"resource_type": "firewall_group", "target_id": "no-such"}, 404,
         "TargetResourceNotFound"),
    ]:
        resp = neutron.request(admin, "POST", f"{L}/logs", json={"log": body})
        assert_fault(resp, status, kind)
    # a port in no group is no target for a firewall group log
    net = admin.network.create_network(name="log-bad")
    port = None
    try:
        port = admin.network.create_port(network_id=net.id)
        resp = neutron.request(admin, "POST", f"{L}/logs", json={"log": {
            "resource_type": "firewall_group", "resource_id": group_id,
            "target_id": port.id}})
        assert_fault(resp, 400, "InvalidResourceConstraint")
        # and, alone, no router port: neutron-fwaas's 409
        resp = neutron.request(admin, "POST", f"{L}/logs", json={"log": {
            "resource_type": "firewall_group", "target_id": port.id}})
        assert assert_fault(resp, 409, "LoggingTypeNotSupported") == \
            f"Logging type firewall_group is not supported on port {port.id}."
    finally:
        if port is not None:
            admin.network.delete_port(port)
        admin.network.delete_network(net)
    assert neutron.request(admin, "GET", f"{L}/logs").json()["logs"] == before


def test_group_not_active_is_not_ready_for_logging(admin, neutron, group_on_port, unique):
    """neutron-fwaas's FWGIsNotReadyForLogging: a group without ports (INACTIVE) or set
    down (DOWN) takes no log, named directly or through its port; nothing is made."""
    group_id, port_id = group_on_port
    before = neutron.request(admin, "GET", f"{L}/logs").json()["logs"]
    empty = admin.network.create_firewall_group(name=unique("lgi"))
    try:
        assert empty.status == "INACTIVE"
        resp = neutron.request(admin, "POST", f"{L}/logs", json={"log": {
            "resource_type": "firewall_group", "resource_id": empty.id}})
        assert assert_fault(resp, 400, "FWGIsNotReadyForLogging") == (
            f"Firewall group {empty.id} is not ready for logging because of "
            "INACTIVE status.")
        admin.network.update_firewall_group(group_id, admin_state_up=False)
        assert admin.network.get_firewall_group(group_id).status == "DOWN"
        for body in ({"resource_id": group_id}, {"target_id": port_id},
                     {"resource_id": group_id, "target_id": port_id}):
            resp = neutron.request(admin, "POST", f"{L}/logs", json={"log": {
                "resource_type": "firewall_group", **body}})
            assert assert_fault(resp, 400, "FWGIsNotReadyForLogging") == (
                f"Firewall group {group_id} is not ready for logging because of "
                "DOWN status.")
        assert neutron.request(admin, "GET", f"{L}/logs").json()["logs"] == before
        admin.network.update_firewall_group(group_id, admin_state_up=True)
        made = neutron.request(admin, "POST", f"{L}/logs", json={"log": {
            "resource_type": "firewall_group", "target_id": port_id}})
        assert made.status_code == 201, made.text
        neutron.request(admin, "DELETE", f"{L}/logs/{made.json()['log']['id']}")
    finally:
        admin.network.update_firewall_group(group_id, admin_state_up=True)
        admin.network.delete_firewall_group(empty)
