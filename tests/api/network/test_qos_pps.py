"""QoS ``packet_rate_limit`` rules (the ``qos-pps`` extension) through openstacksdk, the
``openstack`` CLI (which lists them; it has no option to create one) and raw calls:
create, show, update, list, one per direction, bad values change nothing, the rule
type's details, and the feed's ports carrying the rule for the agent."""
from __future__ import annotations

import uuid

import pytest

from tests.api.network.conftest import assert_fault


@pytest.fixture
def policy(admin, unique):
    made = admin.network.create_qos_policy(name=unique("pps"))
    yield made
    admin.network.delete_qos_policy(made.id, ignore_missing=True)


def test_packet_rate_limit_rules(admin, cloud, neutron, policy):
    rule = admin.network.create_qos_packet_rate_limit_rule(policy, max_kpps=5,
                                                           direction="egress")
    assert (rule.max_kpps, rule.max_burst_kpps, rule.direction) == (5, 0, "egress")
    shown = admin.network.get_qos_packet_rate_limit_rule(rule, policy)
    assert shown.max_kpps == 5
    admin.network.update_qos_packet_rate_limit_rule(rule, policy, max_kpps=7,
                                                    max_burst_kpps=1)
    shown = admin.network.get_qos_packet_rate_limit_rule(rule, policy)
    assert (shown.max_kpps, shown.max_burst_kpps) == (7, 1)
    ingress = admin.network.create_qos_packet_rate_limit_rule(policy, max_kpps=3,
                                                              direction="ingress")
    listed = {r.id for r in admin.network.qos_packet_rate_limit_rules(policy)}
    assert listed == {rule.id, ingress.id}
    got = admin.network.get_qos_policy(policy.id)
    assert {(r["type"], r.get("max_kpps")) for r in got.rules} == {
        ("packet_rate_limit", 7), ("packet_rate_limit", 3)}
    rows = cloud.cli("network", "qos", "rule", "list", policy.id)
    assert {r.get("Type") or r.get("type") for r in rows} == {"packet_rate_limit"}
    base = f"/v2.0/qos/policies/{policy.id}/packet_rate_limit_rules"
    # one per direction
    resp = neutron.request(admin, "POST", base, json={
        "packet_rate_limit_rule": {"max_kpps": 9, "direction": "ingress"}})
    assert_fault(resp, 409, "QoSRulesConflict")
    # bad values: 400, nothing made or changed
    for bad in ({"max_kpps": -1}, {"max_kpps": "x"}, {"direction": "up", "max_kpps": 1},
                {}):
        resp = neutron.request(admin, "POST", base, json={"packet_rate_limit_rule": bad})
        assert resp.status_code == 400, (bad, resp.text)
    resp = neutron.request(admin, "PUT", f"{base}/{rule.id}",
                           json={"packet_rate_limit_rule": {"max_kpps": -5}})
    assert resp.status_code == 400
    assert len(list(admin.network.qos_packet_rate_limit_rules(policy))) == 2
    assert admin.network.get_qos_packet_rate_limit_rule(rule, policy).max_kpps == 7
    assert_fault(neutron.request(admin, "GET", f"{base}/{uuid.uuid4()}"), 404,
                 "QosRuleNotFound")
    admin.network.delete_qos_packet_rate_limit_rule(ingress, policy)
    assert [r.id for r in admin.network.qos_packet_rate_limit_rules(policy)] == [rule.id]


def test_rule_type_details_and_members(admin, demo, neutron, policy):
    detail = admin.network.get_qos_rule_type("packet_rate_limit")
    params = {p["parameter_name"] for p in detail.drivers[0]["supported_parameters"]}
    assert params == {"max_kpps", "max_burst_kpps", "direction"}
    # members see the policy's rules but cannot add one
    base = f"/v2.0/qos/policies/{policy.id}/packet_rate_limit_rules"
    resp = neutron.request(demo, "POST", base, json={
        "packet_rate_limit_rule": {"max_kpps": 1}})
    assert resp.status_code in (403, 404), resp.text


def test_feed_ports_carry_the_rule(admin, neutron, policy, unique):
    host = f"ppshost-{uuid.uuid4().hex[:6]}"
    net = admin.network.create_network(name=unique("ppsnet"))
    try:
        admin.network.create_subnet(network_id=net.id, cidr="10.78.0.0/24",
                                    ip_version=4)
        admin.network.create_qos_packet_rate_limit_rule(policy, max_kpps=2,
                                                        direction="ingress")
        port = admin.network.create_port(network_id=net.id, binding_host_id=host,
                                         qos_policy_id=policy.id)
        state = neutron.request(admin, "GET", "/kumo/v1/state",
                                params={"host": host}).json()
        mine = {p["id"]: p for p in state["ports"]}[port.id]
        assert [(r["type"], r["max_kpps"], r["direction"]) for r in mine["qos_rules"]] \
            == [("packet_rate_limit", 2, "ingress")]
        admin.network.delete_port(port.id)
    finally:
        admin.network.delete_network(net.id)
