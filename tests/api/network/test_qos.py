"""QoS (Networking API v2.0 "QoS"): policies, their rules, rule types, the default
policy per project, ``qos_policy_id`` on networks, ports, floating IPs and router
gateways, the in-use check, through openstacksdk, the ``openstack`` CLI and raw
calls."""
from __future__ import annotations

import uuid

import pytest

from tests.api.network.conftest import assert_fault


@pytest.fixture
def policies(admin):
    """Policy ids to delete at the end (after what uses them)."""
    made: list[str] = []
    yield made
    for pid in reversed(made):
        admin.network.delete_qos_policy(pid, ignore_missing=True)


def test_extensions_listed(admin):
    aliases = {e.alias for e in admin.network.extensions()}
    assert {"qos", "qos-default", "qos-rule-type-details", "qos-bw-limit-direction",
            "qos-bw-minimum-ingress", "qos-port-network-policy", "qos-pps", "qos-fip",
            "qos-gateway-ip"} <= aliases


def test_policy_and_rules_with_sdk(admin, demo, policies, unique):
    policy = admin.network.create_qos_policy(name=unique("qos"), description="d",
                                             shared=False)
    policies.append(policy.id)
    assert policy.rules == [] and policy.is_default is False
    bw = admin.network.create_qos_bandwidth_limit_rule(policy, max_kbps=10000,
                                                       max_burst_kbps=800,
                                                       direction="ingress")
    assert (bw.max_kbps, bw.max_burst_kbps, bw.direction) == (10000, 800, "ingress")
    egress = admin.network.create_qos_bandwidth_limit_rule(policy, max_kbps=5000)
    assert egress.direction == "egress" and egress.max_burst_kbps == 0
    dscp = admin.network.create_qos_dscp_marking_rule(policy, dscp_mark=26)
    minimum = admin.network.create_qos_minimum_bandwidth_rule(policy, min_kbps=1000,
                                                              direction="egress")
    got = admin.network.get_qos_policy(policy.id)
    kinds = sorted((r["type"], r.get("direction")) for r in got.rules)
    assert kinds == [("bandwidth_limit", "egress"), ("bandwidth_limit", "ingress"),
                     ("dscp_marking", None), ("minimum_bandwidth", "egress")]
    assert all(r["qos_policy_id"] == policy.id for r in got.rules)
    rules = list(admin.network.qos_bandwidth_limit_rules(policy))
    assert {r.id for r in rules} == {bw.id, egress.id}
    updated = admin.network.update_qos_bandwidth_limit_rule(bw, policy, max_kbps=20000)
    assert updated.max_kbps == 20000
    assert admin.network.get_qos_dscp_marking_rule(dscp, policy).dscp_mark == 26
    admin.network.delete_qos_minimum_bandwidth_rule(minimum, policy)
    assert len(admin.network.get_qos_policy(policy.id).rules) == 3
    # a non-admin does not see another project's private policy, nor creates one
    assert admin.network.find_qos_policy(policy.name) is not None
    assert demo.network.find_qos_policy(policy.id, ignore_missing=True) is None


def test_rule_errors(admin, neutron, policies, unique):
    policy = admin.network.create_qos_policy(name=unique("qos"))
    policies.append(policy.id)
    base = f"/v2.0/qos/policies/{policy.id}"
    resp = neutron.request(admin, "POST", base + "/dscp_marking_rules",
                           json={"dscp_marking_rule": {"dscp_mark": 7}})
    assert "dscp_mark" in assert_fault(resp, 400, "InvalidDscpMark")
    resp = neutron.request(admin, "POST", base + "/bandwidth_limit_rules",
                           json={"bandwidth_limit_rule": {"max_kbps": 10,
                                                          "direction": "sideways"}})
    assert_fault(resp, 400, "HTTPBadRequest")
    ok = neutron.request(admin, "POST", base + "/bandwidth_limit_rules",
                         json={"bandwidth_limit_rule": {"max_kbps": "1000"}})
    assert ok.status_code == 201, ok.text
    assert ok.json()["bandwidth_limit_rule"]["max_kbps"] == 1000
    again = neutron.request(admin, "POST", base + "/bandwidth_limit_rules",
                            json={"bandwidth_limit_rule": {"max_kbps": 5}})
    assert_fault(again, 409, "QoSRulesConflict")
    missing = neutron.request(admin, "GET", base + f"/bandwidth_limit_rules/{uuid.uuid4()}")
    assert_fault(missing, 404, "QosRuleNotFound")
    resp = neutron.request(admin, "GET", f"/v2.0/qos/policies/{uuid.uuid4()}")
    assert_fault(resp, 404, "QosPolicyNotFound")
    assert len(admin.network.get_qos_policy(policy.id).rules) == 1


def test_member_cannot_create_policy(demo, neutron):
    resp = neutron.request(demo, "POST", "/v2.0/qos/policies",
                           json={"policy": {"name": "nope"}})
    assert resp.status_code == 403, resp.text


def test_rule_types(admin):
    types = {t.type for t in admin.network.qos_rule_types()}
    assert types == {"bandwidth_limit", "dscp_marking", "minimum_bandwidth",
                     "packet_rate_limit"}
    detail = admin.network.get_qos_rule_type("dscp_marking")
    params = detail.drivers[0]["supported_parameters"]
    assert params[0]["parameter_name"] == "dscp_mark"
    assert 46 in params[0]["parameter_values"]


def test_default_policy_per_project(admin, neutron, policies, unique):
    project = uuid.uuid4().hex
    first = neutron.request(admin, "POST", "/v2.0/qos/policies", json={"policy": {
        "name": unique("def"), "is_default": True, "project_id": project}})
    assert first.status_code == 201, first.text
    policies.append(first.json()["policy"]["id"])
    second = neutron.request(admin, "POST", "/v2.0/qos/policies", json={"policy": {
        "name": unique("def"), "is_default": True, "project_id": project}})
    assert_fault(second, 409, "QoSPolicyDefaultAlreadyExists")
    other = neutron.request(admin, "POST", "/v2.0/qos/policies", json={"policy": {
        "name": unique("x"), "project_id": project}})
    policies.append(other.json()["policy"]["id"])
    resp = neutron.request(admin, "PUT", f"/v2.0/qos/policies/{policies[-1]}",
                           json={"policy": {"is_default": True}})
    assert_fault(resp, 409, "QoSPolicyDefaultAlreadyExists")
    # a new network of the project gets the default policy
    net = neutron.request(admin, "POST", "/v2.0/networks", json={"network": {
        "name": unique("n"), "project_id": project}}).json()["network"]
    try:
        assert net["qos_policy_id"] == policies[0]
        resp = neutron.request(admin, "DELETE", f"/v2.0/qos/policies/{policies[0]}")
        assert "network" in assert_fault(resp, 409, "QosPolicyInUse")
    finally:
        admin.network.delete_network(net["id"])


def test_bindings_and_in_use(admin, policies, unique, cloud):
    policy = admin.network.create_qos_policy(name=unique("qos"))
    policies.append(policy.id)
    other = admin.network.create_qos_policy(name=unique("qos"))
    policies.append(other.id)
    net = admin.network.create_network(name=unique("n"), qos_policy_id=policy.id)
    try:
        assert net.qos_policy_id == policy.id
        admin.network.create_subnet(network_id=net.id, ip_version=4,
                                    cidr="10.77.0.0/28")
        port = admin.network.create_port(network_id=net.id)
        assert port.qos_policy_id is None
        assert port.qos_network_policy_id == policy.id
        port = admin.network.update_port(port, qos_policy_id=other.id)
        assert port.qos_policy_id == other.id
        shown = cloud.cli("port", "show", port.id)
        assert shown["qos_policy_id"] == other.id
        with pytest.raises(Exception, match="QosPolicyInUse|in use|used by"):
            admin.network.delete_qos_policy(other.id)
        port = admin.network.update_port(port, qos_policy_id=None)
        assert port.qos_policy_id is None
        admin.network.delete_qos_policy(other.id)
        policies.remove(other.id)
        net = admin.network.update_network(net, qos_policy_id=None)
        assert net.qos_policy_id is None
        assert admin.network.get_port(port.id).qos_network_policy_id is None
        missing = str(uuid.uuid4())
        with pytest.raises(Exception, match="could not be found"):
            admin.network.update_network(net, qos_policy_id=missing)
        assert admin.network.get_network(net.id).qos_policy_id is None
    finally:
        for p in admin.network.ports(network_id=net.id):
            admin.network.delete_port(p)
        admin.network.delete_network(net)


def test_floating_ip_and_gateway(admin, neutron, policies, unique):
    policy = admin.network.create_qos_policy(name=unique("qos"))
    policies.append(policy.id)
    ext = admin.network.create_network(name=unique("ext"), is_router_external=True)
    try:
        admin.network.create_subnet(network_id=ext.id, ip_version=4,
                                    cidr="10.78.0.0/28")
        fip = admin.network.create_ip(floating_network_id=ext.id,
                                      qos_policy_id=policy.id)
        assert fip.qos_policy_id == policy.id
        fip = admin.network.update_ip(fip, qos_policy_id=None)
        assert fip.qos_policy_id is None
        admin.network.delete_ip(fip)
        router = neutron.request(admin, "POST", "/v2.0/routers", json={"router": {
            "name": unique("r"), "external_gateway_info": {
                "network_id": ext.id, "qos_policy_id": policy.id}}}).json()["router"]
        try:
            assert router["external_gateway_info"]["qos_policy_id"] == policy.id
            resp = neutron.request(admin, "DELETE", f"/v2.0/qos/policies/{policy.id}")
            assert "router" in assert_fault(resp, 409, "QosPolicyInUse")
            resp = neutron.request(admin, "PUT", f"/v2.0/routers/{router['id']}", json={
                "router": {"external_gateway_info": {"network_id": ext.id,
                                                     "qos_policy_id": None}}})
            assert resp.json()["router"]["external_gateway_info"]["qos_policy_id"] is None
        finally:
            admin.network.delete_router(router["id"])
    finally:
        for p in admin.network.ports(network_id=ext.id):
            admin.network.delete_port(p, ignore_missing=True)
        admin.network.delete_network(ext)


def test_cli(cloud, policies, unique):
    name = unique("cli")
    made = cloud.cli("network", "qos", "policy", "create", name, "--description", "x")
    policies.append(made["id"])
    rule = cloud.cli("network", "qos", "rule", "create", "--type", "bandwidth-limit",
                     "--max-kbps", "10000", "--max-burst-kbits", "1000", "--egress", name)
    assert rule["max_kbps"] == 10000
    cloud.cli("network", "qos", "rule", "create", "--type", "dscp-marking",
              "--dscp-mark", "46", name)
    rules = cloud.cli("network", "qos", "rule", "list", name)
    assert sorted(r["Type"] if "Type" in r else r["type"] for r in rules) == [
        "bandwidth_limit", "dscp_marking"]
    cloud.cli("network", "qos", "policy", "set", name, "--default", parse=False)
    shown = cloud.cli("network", "qos", "policy", "show", name)
    assert shown["is_default"] is True
    types = cloud.cli("network", "qos", "rule", "type", "list")
    assert {t["Type"] for t in types} == {"bandwidth_limit", "dscp_marking",
                                          "minimum_bandwidth", "packet_rate_limit"}
    listed = cloud.cli("network", "qos", "policy", "list")
    assert name in {p["Name"] for p in listed}
    cloud.cli("network", "qos", "policy", "delete", name, parse=False)
    policies.remove(made["id"])


def test_rbac_shares_a_policy(admin, demo, neutron, policies, unique, cloud):
    policy = admin.network.create_qos_policy(name=unique("qos"))
    policies.append(policy.id)
    assert demo.network.find_qos_policy(policy.id, ignore_missing=True) is None
    demo_project = demo.current_project_id
    made = cloud.cli("network", "rbac", "create", "--type", "qos_policy", "--action",
                     "access_as_shared", "--target-project", demo_project, policy.id)
    assert made["object_type"] == "qos_policy"
    seen = demo.network.get_qos_policy(policy.id)
    assert seen.id == policy.id
    # the demo project binds it to its own network: the grant is now in use
    net = demo.network.create_network(name=unique("n"), qos_policy_id=policy.id)
    try:
        resp = neutron.request(admin, "DELETE", f"/v2.0/rbac-policies/{made['id']}")
        assert_fault(resp, 409, "RbacPolicyInUse")
    finally:
        demo.network.delete_network(net)
    dup = neutron.request(admin, "POST", "/v2.0/rbac-policies", json={"rbac_policy": {
        "object_type": "qos_policy", "object_id": policy.id, "action": "access_as_shared",
        "target_tenant": demo_project}})
    assert_fault(dup, 409, "DuplicateRbacPolicy")
    bad = neutron.request(admin, "POST", "/v2.0/rbac-policies", json={"rbac_policy": {
        "object_type": "qos_policy", "object_id": policy.id,
        "action": "access_as_external", "target_tenant": demo_project}})
    assert bad.status_code == 400, bad.text
    cloud.cli("network", "rbac", "delete", made["id"], parse=False)
    assert demo.network.find_qos_policy(policy.id, ignore_missing=True) is None


def test_policy_tags(admin, policies, unique):
    policy = admin.network.create_qos_policy(name=unique("qos"))
    policies.append(policy.id)
    admin.network.set_tags(policy, ["a", "b"])
    assert sorted(admin.network.get_qos_policy(policy.id).tags) == ["a", "b"]
    found = list(admin.network.qos_policies(tags="a"))
    assert [p.id for p in found] == [policy.id]
    admin.network.remove_tag(policy, "a")
    admin.network.add_tag(policy, "c")
    assert sorted(admin.network.get_qos_policy(policy.id).tags) == ["b", "c"]


def test_feed_carries_fip_and_gateway_rules(admin, neutron, policies, unique):
    """The L3 part of the state feed gives a floating IP's and a router gateway's
    policy rules (``qos_rules``), which the L3 agent shapes on qg-; a rule change is a
    change of the floating IP and the router."""
    policy = admin.network.create_qos_policy(name=unique("fipqos"))
    policies.append(policy.id)
    admin.network.create_qos_bandwidth_limit_rule(policy, max_kbps=3000,
                                                  direction="ingress")
    public = admin.network.find_network("public", ignore_missing=False)
    router = admin.network.create_router(name=unique("r"), external_gateway_info={
        "network_id": public.id, "qos_policy_id": policy.id})
    fip = admin.network.create_ip(floating_network_id=public.id, qos_policy_id=policy.id)
    try:
        state = neutron.request(admin, "GET", "/kumo/v1/state").json()
        mine = {f["id"]: f for f in state["floatingips"]}[fip.id]
        assert [(r["type"], r["max_kbps"]) for r in mine["qos_rules"]] == [
            ("bandwidth_limit", 3000)]
        gw = {r["id"]: r for r in state["routers"]}[router.id]["gateway"]
        assert [r["max_kbps"] for r in gw["qos_rules"]] == [3000]
        rule = next(iter(admin.network.qos_bandwidth_limit_rules(policy)))
        admin.network.update_qos_bandwidth_limit_rule(rule, policy, max_kbps=4000)
        changes = neutron.request(admin, "GET", "/kumo/v1/changes",
                                  params={"since": state["revision"]}).json()["changes"]
        touched = {(c["resource_type"], c["resource_id"]) for c in changes}
        assert {("floatingip", fip.id), ("router", router.id)} <= touched
    finally:
        admin.network.delete_ip(fip)
        admin.network.update_router(router, external_gateway_info={
            "network_id": public.id, "qos_policy_id": None})
        admin.network.delete_router(router)
