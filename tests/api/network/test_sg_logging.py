"""Security group logging (issue 14): ``/v2.0/log/logs`` with ``resource_type:
security_group``: a group, a port, both or neither; 404 for an unknown group or port,
400 for a port not using the group, each changing nothing. Raw calls for the logs (openstacksdk
has none; the CLI's ``network log`` is in test_logging_cli.py), the SDK for the rest."""
from __future__ import annotations

import pytest

from tests.api.network.conftest import assert_fault

L = "/v2.0/log"


@pytest.fixture
def group_and_port(admin, unique):
    """A security group and a port using it, and a port not using it."""
    net = admin.network.create_network(name=unique("sgl"))
    admin.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.75.0.0/28")
    sg = admin.network.create_security_group(name=unique("sgl"))
    port = admin.network.create_port(network_id=net.id, security_group_ids=[sg.id])
    other = admin.network.create_port(network_id=net.id)
    yield sg.id, port.id, other.id
    admin.network.delete_port(port)
    admin.network.delete_port(other)
    admin.network.delete_security_group(sg)
    admin.network.delete_network(net)


def create(neutron, admin, **body):
    return neutron.request(admin, "POST", f"{L}/logs", json={"log": {
        "resource_type": "security_group", **body}})


def test_security_group_log_shapes(admin, neutron, group_and_port, unique):
    sg, port, _ = group_and_port
    made = []
    try:
        for body in ({"resource_id": sg, "event": "DROP"},
                     {"target_id": port, "event": "ACCEPT"},
                     {"resource_id": sg, "target_id": port},
                     {"enabled": False}):
            resp = create(neutron, admin, name=unique("sgl"), **body)
            assert resp.status_code == 201, resp.text
            log = resp.json()["log"]
            made.append(log["id"])
            assert log["resource_type"] == "security_group"
            assert log["resource_id"] == body.get("resource_id")
            assert log["target_id"] == body.get("target_id")
            assert log["event"] == body.get("event", "ALL")
            assert log["enabled"] is body.get("enabled", True)
        listed = neutron.request(admin, "GET", f"{L}/logs", params={
            "resource_type": "security_group", "resource_id": sg}).json()["logs"]
        assert sorted(x["id"] for x in listed) == sorted([made[0], made[2]])
        resp = neutron.request(admin, "PUT", f"{L}/logs/{made[0]}",
                               json={"log": {"enabled": False}})
        assert resp.status_code == 200 and resp.json()["log"]["enabled"] is False
        # the group stays deletable by nobody while a port uses it; the log is no lock
        assert admin.network.get_security_group(sg).id == sg
    finally:
        for log_id in made:
            assert neutron.request(admin, "DELETE", f"{L}/logs/{log_id}").status_code \
                == 204
    for log_id in made:
        assert_fault(neutron.request(admin, "GET", f"{L}/logs/{log_id}"), 404,
                     "LogResourceNotFound")


def test_security_group_log_bad_input_changes_nothing(admin, demo, neutron,
                                                      group_and_port):
    sg, port, other = group_and_port
    before = neutron.request(admin, "GET", f"{L}/logs").json()["logs"]
    missing = "00000000-0000-4000-8000-000000000000"
    for body, status, kind in [
        ({"resource_id": missing}, 404, "ResourceNotFound"),
        ({"target_id": missing}, 404, "TargetResourceNotFound"),
        ({"resource_id": sg, "target_id": missing}, 404, "TargetResourceNotFound"),
        ({"resource_id": sg, "target_id": other}, 400, "InvalidResourceConstraint"),
        ({"resource_id": sg, "event": "SOME"}, 400, "HTTPBadRequest"),
    ]:
        assert_fault(create(neutron, admin, **body), status, kind)
    assert create(neutron, demo, resource_id=sg).status_code == 403
    assert neutron.request(admin, "GET", f"{L}/logs").json()["logs"] == before
