"""FWaaS v2 (issue 14): firewall rules, policies and groups through openstacksdk, the
openstack CLI and raw calls; bad input is Neutron's fault and changes nothing."""
from __future__ import annotations

import pytest
from openstack import exceptions as sdk_exc

from tests.api.network.conftest import assert_fault

FW = "/v2.0/fwaas"


@pytest.fixture
def router_port(demo, net, unique):
    """A demo router with an interface on the ``net`` subnet: (router, port id)."""
    network, subnet = net
    router = demo.network.create_router(name=unique("r"))
    info = demo.network.add_interface_to_router(router, subnet_id=subnet.id)
    yield router, info["port_id"]
    try:
        demo.network.remove_interface_from_router(router, subnet_id=subnet.id)
    except sdk_exc.HttpException:  # the test removed it
        pass
    demo.network.delete_router(router)


def test_extension_listed(admin):
    aliases = {e.alias for e in admin.network.extensions()}
    assert "fwaas_v2" in aliases


def test_rules_policies_groups_with_the_sdk(demo, router_port, unique):
    router, port_id = router_port
    r1 = demo.network.create_firewall_rule(name=unique("r1"), protocol="tcp",
                                           destination_port="22", action="allow",
                                           source_ip_address="10.0.0.0/8")
    r2 = demo.network.create_firewall_rule(name=unique("r2"), protocol="icmp",
                                           action="deny")
    r3 = demo.network.create_firewall_rule(name=unique("r3"), action="reject")
    assert (r1.protocol, r1.destination_port, r1.ip_version, r1.enabled) == \
        ("tcp", "22", 4, True)
    policy = demo.network.create_firewall_policy(name=unique("p"),
                                                 firewall_rules=[r1.id, r2.id])
    group = None
    try:
        assert policy.firewall_rules == [r1.id, r2.id] and policy.audited is False
        assert demo.network.get_firewall_rule(r1.id).firewall_policy_id == [policy.id]
        policy = demo.network.update_firewall_policy(policy, audited=True)
        assert policy.audited is True
        # insert_rule at the top (neither before nor after), after r1, remove
        demo.network.insert_rule_into_policy(policy.id, r3.id, insert_after=r1.id)
        shown = demo.network.get_firewall_policy(policy.id)
        assert shown.firewall_rules == [r1.id, r3.id, r2.id] and shown.audited is False
        demo.network.remove_rule_from_policy(policy.id, r3.id)
        demo.network.insert_rule_into_policy(policy.id, r3.id, insert_before=r2.id)
        assert demo.network.get_firewall_policy(policy.id).firewall_rules == \
            [r1.id, r3.id, r2.id]
        demo.network.remove_rule_from_policy(policy.id, r3.id)
        group = demo.network.create_firewall_group(
            name=unique("g"), ingress_firewall_policy_id=policy.id)
        assert group.status == "INACTIVE" and group.ports == []
        group = demo.network.update_firewall_group(group, ports=[port_id])
        assert group.ports == [port_id] and group.status == "ACTIVE"
        group = demo.network.update_firewall_group(group, admin_state_up=False)
        assert group.status == "DOWN"
        # in use: the rule, the policy, the active group
        with pytest.raises(sdk_exc.ConflictException):
            demo.network.delete_firewall_rule(r1)
        with pytest.raises(sdk_exc.ConflictException):
            demo.network.delete_firewall_policy(policy)
        group = demo.network.update_firewall_group(group, admin_state_up=True)
        with pytest.raises(sdk_exc.ConflictException):
            demo.network.delete_firewall_group(group)
        assert group.id in {g.id for g in demo.network.firewall_groups()}
        group = demo.network.update_firewall_group(group, ports=[])
        assert group.status == "INACTIVE"
        # a port deleted (the router interface removed) leaves its group
        group = demo.network.update_firewall_group(group, ports=[port_id])
        demo.network.remove_interface_from_router(router, port_id=port_id)
        shown = demo.network.get_firewall_group(group.id)
        assert shown.ports == [] and shown.status == "INACTIVE"
    finally:
        if group is not None:
            demo.network.delete_firewall_group(group, ignore_missing=True)
        demo.network.delete_firewall_policy(policy, ignore_missing=True)
        for r in (r1, r2, r3):
            demo.network.delete_firewall_rule(r, ignore_missing=True)
    assert r1.id not in {r.id for r in demo.network.firewall_rules()}


def _keys(item: dict) -> dict:
    """The CLI's column names ("Firewall Rules") as attribute names."""
    return {k.lower().replace(" ", "_"): v for k, v in item.items()}


def test_cli(cloud, demo, router_port, unique):
    router, port_id = router_port
    cli = cloud.cli

    def cloud_cli(*args, **kw):
        out = cli(*args, **kw)
        return _keys(out) if isinstance(out, dict) else out
    rule = cloud_cli("firewall", "group", "rule", "create", "--name", unique("r"),
                     "--protocol", "udp", "--destination-port", "53", "--action", "allow",
                     cloud="kumo")
    assert rule["protocol"] == "udp"
    deny = cloud_cli("firewall", "group", "rule", "create", "--name", unique("d"),
                     "--protocol", "any", "--action", "deny", cloud="kumo")
    policy = cloud_cli("firewall", "group", "policy", "create", unique("p"),
                       "--firewall-rule", rule["id"], cloud="kumo")
    group = None
    try:
        cloud_cli("firewall", "group", "policy", "add", "rule", policy["id"], deny["id"],
                  "--insert-after", rule["id"], parse=False, cloud="kumo")
        shown = cloud_cli("firewall", "group", "policy", "show", policy["id"], cloud="kumo")
        assert shown["firewall_rules"] == [rule["id"], deny["id"]]
        group = cloud_cli("firewall", "group", "create", "--name", unique("g"),
                          "--ingress-firewall-policy", policy["id"],
                          "--egress-firewall-policy", policy["id"], "--port", port_id,
                          cloud="kumo")
        assert group["ports"] == [port_id] and group["status"] == "ACTIVE"
        listed = cloud_cli("firewall", "group", "list", cloud="kumo")
        assert group["id"] in {g["ID"] for g in listed}
        assert rule["id"] in {r["ID"] for r in cloud_cli("firewall", "group", "rule",
                                                         "list", cloud="kumo")}
        assert policy["id"] in {p["ID"] for p in cloud_cli("firewall", "group", "policy",
                                                           "list", cloud="kumo")}
        cloud_cli("firewall", "group", "set", group["id"], "--no-port", parse=False,
                  cloud="kumo")
        cloud_cli("firewall", "group", "policy", "remove", "rule", policy["id"],
                  deny["id"], parse=False, cloud="kumo")
        assert demo.network.get_firewall_policy(policy["id"]).firewall_rules == [rule["id"]]
    finally:
        if group is not None:
            cloud_cli("firewall", "group", "delete", group["id"], parse=False, cloud="kumo")
        cloud_cli("firewall", "group", "policy", "delete", policy["id"], parse=False,
                  cloud="kumo")
        cloud_cli("firewall", "group", "rule", "delete", rule["id"], deny["id"],
                  parse=False, cloud="kumo")


def test_bad_input_changes_nothing(demo, other, neutron, net, router_port, unique):
    router, port_id = router_port
    before = len(list(demo.network.firewall_rules()))
    for body, kind in [
        ({"protocol": "icmp", "destination_port": "22"}, "FirewallRuleInvalidICMPParameter"),
        ({"destination_port": "22"}, "FirewallRuleWithPortWithoutProtocolInvalid"),
        ({"protocol": "tcp", "destination_port": "0"}, "FirewallRuleInvalidPortValue"),
        ({"protocol": "tcp", "destination_port": "90:80"}, "FirewallRuleInvalidPortValue"),
        ({"protocol": "gre-ish"}, "FirewallRuleInvalidProtocol"),
        ({"action": "maybe"}, "FirewallRuleInvalidAction"),
        ({"ip_version": 6, "source_ip_address": "10.0.0.1"}, "FirewallIpAddressConflict"),
        ({"source_ip_address": "not-an-ip"}, "HTTPBadRequest"),
        ({"bogus": 1}, "HTTPBadRequest"),
    ]:
        resp = neutron.request(demo, "POST", f"{FW}/firewall_rules",
                               json={"firewall_rule": body})
        assert_fault(resp, 400, kind)
    assert len(list(demo.network.firewall_rules())) == before
    rule = demo.network.create_firewall_rule(name=unique("r"), action="allow")
    policy = demo.network.create_firewall_policy(name=unique("p"), firewall_rules=[rule.id])
    try:
        pid = policy.id
        # another project's rule/policy is 404; sharing is the admin's
        resp = neutron.request(other, "GET", f"{FW}/firewall_rules/{rule.id}")
        assert_fault(resp, 404, "FirewallRuleNotFound")
        resp = neutron.request(demo, "POST", f"{FW}/firewall_rules",
                               json={"firewall_rule": {"shared": True}})
        assert resp.status_code == 403
        # insert/remove errors
        resp = neutron.request(demo, "PUT", f"{FW}/firewall_policies/{pid}/insert_rule",
                               json={"firewall_rule_id": rule.id})
        assert_fault(resp, 400, "FirewallRuleAlreadyInPolicy")
        resp = neutron.request(demo, "PUT", f"{FW}/firewall_policies/{pid}/insert_rule",
                               json={})
        assert_fault(resp, 400, "FirewallRuleInfoMissing")
        other_rule = demo.network.create_firewall_rule(name=unique("o"))
        try:
            resp = neutron.request(demo, "PUT", f"{FW}/firewall_policies/{pid}/remove_rule",
                                   json={"firewall_rule_id": other_rule.id})
            assert_fault(resp, 400, "FirewallRuleNotAssociatedWithPolicy")
            resp = neutron.request(demo, "PUT", f"{FW}/firewall_policies/{pid}/insert_rule",
                                   json={"firewall_rule_id": other_rule.id,
                                         "insert_before": "no-such"})
            assert_fault(resp, 400, "FirewallRuleNotAssociatedWithPolicy")
        finally:
            demo.network.delete_firewall_rule(other_rule)
        assert demo.network.get_firewall_policy(pid).firewall_rules == [rule.id]
        # groups: unknown policy 404, non-router port 409, port in another group 409
        resp = neutron.request(demo, "POST", f"{FW}/firewall_groups", json={
            "firewall_group": {"ingress_firewall_policy_id": "nope"}})
        assert_fault(resp, 404, "FirewallPolicyNotFound")
        plain = demo.network.create_port(network_id=net[0].id)
        resp = neutron.request(demo, "POST", f"{FW}/firewall_groups", json={
            "firewall_group": {"ports": [plain.id]}})
        assert_fault(resp, 409, "FirewallGroupPortInvalid")
        g1 = demo.network.create_firewall_group(name=unique("g1"), ports=[port_id])
        try:
            resp = neutron.request(demo, "POST", f"{FW}/firewall_groups", json={
                "firewall_group": {"ports": [port_id]}})
            assert_fault(resp, 409, "FirewallGroupPortInUse")
        finally:
            demo.network.update_firewall_group(g1, ports=[])
            demo.network.delete_firewall_group(g1)
        resp = neutron.request(other, "POST", f"{FW}/firewall_groups", json={
            "firewall_group": {"ports": [port_id]}})
        assert_fault(resp, 404, "PortNotFound")
        assert [g for g in demo.network.firewall_groups() if port_id in g.ports] == []
    finally:
        demo.network.delete_firewall_policy(policy)
        demo.network.delete_firewall_rule(rule)


def test_shared_objects(admin, demo, other, neutron, unique):
    rule = admin.network.create_firewall_rule(name=unique("sr"), shared=True,
                                              action="allow", protocol="tcp")
    private = admin.network.create_firewall_rule(name=unique("pr"))
    try:
        assert other.network.get_firewall_rule(rule.id).shared is True
        # a shared policy holds only shared rules
        resp = neutron.request(admin, "POST", f"{FW}/firewall_policies", json={
            "firewall_policy": {"shared": True, "firewall_rules": [private.id]}})
        assert_fault(resp, 409, "FirewallRuleSharingConflict")
        policy = admin.network.create_firewall_policy(name=unique("sp"), shared=True,
                                                      firewall_rules=[rule.id])
        try:
            # another project's group may use the shared policy
            g = other.network.create_firewall_group(name=unique("g"),
                                                    egress_firewall_policy_id=policy.id)
            other.network.delete_firewall_group(g)
        finally:
            admin.network.delete_firewall_policy(policy)
    finally:
        admin.network.delete_firewall_rule(rule)
        admin.network.delete_firewall_rule(private)


# the definition checks of test_definitions.py, over these definitions
from kumo.network import definitions_fwaas  # noqa: E402
from tests.api.network import test_definitions as _defs  # noqa: E402

FWAAS_PATHS = {"firewall_rules": "fwaas/firewall_rules",
               "firewall_policies": "fwaas/firewall_policies",
               "firewall_groups": "fwaas/firewall_groups",
               "metering_labels": "metering/metering-labels",
               "metering_label_rules": "metering/metering-label-rules",
               "logs": "log/logs"}
DEFS = list(definitions_fwaas.ALL.values())


@pytest.fixture
def fwaas_paths(monkeypatch):
    monkeypatch.setattr(_defs, "PATHS", {**_defs.PATHS, **FWAAS_PATHS})


@pytest.mark.parametrize("definition", DEFS, ids=[d.collection for d in DEFS])
def test_filters_sort_keys_and_fields(admin, demo, neutron, definition, fwaas_paths):
    assert set(FWAAS_PATHS) == set(definitions_fwaas.ALL)
    _defs.test_every_filter_and_sort_key_is_accepted(admin, neutron, definition)
    _defs.test_items_carry_exactly_the_definitions_attributes(admin, demo, neutron,
                                                             definition)
