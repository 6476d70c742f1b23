"""Security groups and rules over HTTP: defaults, CRUD, validation, isolation, CLI."""
import uuid

import pytest


pytestmark = pytest.mark.usefixtures("cloud")


def url(conn, path: str) -> str:
    return conn.network.get_endpoint().rstrip("/") + path


def call(conn, method: str, path: str, **kw):
    return conn.session.request(url(conn, path), method, raise_exc=False, **kw)


def fault(resp, status: int, kind: str) -> str:
    assert resp.status_code == status, resp.text
    err = resp.json()["NeutronError"]
    assert err["type"] == kind, err
    return err["message"]


def group(conn, **attrs):
    resp = call(conn, "POST", "/security-groups",
                json={"security_group": {"name": f"sg-{uuid.uuid4().hex[:8]}", **attrs}})
    assert resp.status_code == 201, resp.text
    return resp.json()["security_group"]


def rule(conn, group_id, **attrs):
    body = {"security_group_id": group_id, "direction": "ingress", **attrs}
    return call(conn, "POST", "/security-group-rules", json={"security_group_rule": body})


def test_default_group_created_on_first_list_with_reference_rules(member):
    conn = member()
    groups = list(conn.network.security_groups())
    assert [g.name for g in groups] == ["default"]
    sg = call(conn, "GET", f"/security-groups/{groups[0].id}").json()["security_group"]
    assert sg["stateful"] is True and sg["description"] == "Default security group"
    rules = {(r["direction"], r["ethertype"], r["remote_group_id"], r["protocol"],
              r["remote_ip_prefix"]) for r in sg["security_group_rules"]}
    assert rules == {("egress", "IPv4", None, None, None), ("egress", "IPv6", None, None, None),
                     ("ingress", "IPv4", sg["id"], None, None),
                     ("ingress", "IPv6", sg["id"], None, None)}
    assert all(r["belongs_to_default_sg"] for r in sg["security_group_rules"])
    # Listing again does not create another one.
    assert len(list(conn.network.security_groups())) == 1


def test_new_group_gets_egress_rules_crud_and_tags(member):
    conn = member()
    sg = conn.network.create_security_group(name="web", description="d")
    assert sg.stateful is True
    assert sorted((r["direction"], r["ethertype"]) for r in sg.security_group_rules) == \
        [("egress", "IPv4"), ("egress", "IPv6")]
    names = {g.name for g in conn.network.security_groups()}
    assert names == {"web", "default"}
    revision = sg.revision_number
    updated = conn.network.update_security_group(sg, name="web2", stateful=False)
    assert updated.name == "web2" and updated.stateful is False
    assert updated.revision_number > revision
    conn.network.set_tags(updated, ["a", "b"])
    assert [g.name for g in conn.network.security_groups(tags="a")] == ["web2"]
    assert list(conn.network.security_groups(stateful=True))[0].name == "default"
    conn.network.delete_security_group(sg)
    assert conn.network.find_security_group(sg.id) is None
    fault(call(conn, "GET", f"/security-groups/{sg.id}"), 404, "SecurityGroupNotFound")


def test_rule_protocols_ports_and_prefixes(member):
    conn = member()
    sg = group(conn)
    r = rule(conn, sg["id"], protocol="tcp", port_range_min=22, port_range_max=22,
             remote_ip_prefix="10.1.2.3/8")
    assert r.status_code == 201, r.text
    body = r.json()["security_group_rule"]
    # as given (host bits kept, as Neutron); normalized_cidr is the network
    assert body["remote_ip_prefix"] == "10.1.2.3/8" and body["ethertype"] == "IPv4"
    assert body["normalized_cidr"] == "10.0.0.0/8"
    # the same network written otherwise is the same rule
    fault(rule(conn, sg["id"], protocol="tcp", port_range_min=22, port_range_max=22,
               remote_ip_prefix="10.0.0.0/8"), 409, "SecurityGroupRuleExists")
    host = rule(conn, sg["id"], protocol="udp", remote_ip_prefix="192.0.2.7")
    assert host.status_code == 201, host.text
    assert (host.json()["security_group_rule"]["remote_ip_prefix"],
            host.json()["security_group_rule"]["normalized_cidr"]) == \
        ("192.0.2.7/32", "192.0.2.7/32")
    conn.network.delete_security_group_rule(host.json()["security_group_rule"]["id"])
    assert body["port_range_min"] == 22 and body["belongs_to_default_sg"] is False
    icmp = rule(conn, sg["id"], protocol="icmp", port_range_min=8, port_range_max=0)
    assert icmp.status_code == 201, icmp.text
    num = rule(conn, sg["id"], protocol="132", ethertype="IPv6", remote_ip_prefix="2001:db8::/64")
    assert num.status_code == 201, num.text
    v6 = rule(conn, sg["id"], protocol="ipv6-icmp", ethertype="IPv6")
    assert v6.status_code == 201, v6.text
    anyproto = rule(conn, sg["id"], remote_group_id=sg["id"])
    assert anyproto.status_code == 201 and anyproto.json()["security_group_rule"]["protocol"] is None
    listed = list(conn.network.security_group_rules(security_group_id=sg["id"],
                                                    direction="ingress"))
    assert len(listed) == 5
    assert [x.protocol for x in conn.network.security_group_rules(
        security_group_id=sg["id"], protocol="icmp")] == ["icmp"]
    shown = call(conn, "GET", f"/security-groups/{sg['id']}").json()["security_group"]
    assert len(shown["security_group_rules"]) == 7
    assert shown["revision_number"] > sg["revision_number"]
    conn.network.delete_security_group_rule(body["id"])
    fault(call(conn, "GET", f"/security-group-rules/{body['id']}"), 404,
          "SecurityGroupRuleNotFound")
    fault(call(conn, "DELETE", f"/security-group-rules/{body['id']}"), 404,
          "SecurityGroupRuleNotFound")


@pytest.mark.parametrize("attrs,kind", [
    ({"protocol": "foo"}, "SecurityGroupRuleInvalidProtocol"),
    ({"protocol": "256"}, "SecurityGroupRuleInvalidProtocol"),
    ({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80},
     "SecurityGroupInvalidPortRange"),
    ({"protocol": "tcp", "port_range_min": 0, "port_range_max": 80},
     "SecurityGroupInvalidPortValue"),
    ({"protocol": "udp", "port_range_min": 1, "port_range_max": 70000},
     "SecurityGroupInvalidPortValue"),
    ({"protocol": "icmp", "port_range_min": 300}, "SecurityGroupInvalidIcmpValue"),
    ({"protocol": "icmp", "port_range_max": 3}, "SecurityGroupMissingIcmpType"),
    ({"port_range_min": 22, "port_range_max": 22}, "SecurityGroupProtocolRequiredWithPorts"),
    ({"protocol": "gre", "port_range_min": 22, "port_range_max": 22},
     "SecurityGroupInvalidProtocolForPort"),
    ({"remote_ip_prefix": "10.0.0.0/8", "ethertype": "IPv6"},
     "SecurityGroupRuleParameterConflict"),
    ({"remote_ip_prefix": "not-a-cidr"}, "InvalidInput"),
    ({"ethertype": "IPv5"}, "SecurityGroupRuleInvalidEtherType"),
    ({"protocol": "ipv6-icmp", "ethertype": "IPv4"},
     "SecurityGroupEthertypeConflictWithProtocol"),
    ({"direction": "sideways"}, "HTTPBadRequest"),
])
def test_invalid_rules_are_400(demo, attrs, kind):
    sg = group(demo)
    try:
        before = len(list(demo.network.security_group_rules(security_group_id=sg["id"])))
        fault(rule(demo, sg["id"], **attrs), 400, kind)
        after = len(list(demo.network.security_group_rules(security_group_id=sg["id"])))
        assert before == after
    finally:
        demo.network.delete_security_group(sg["id"])


def test_remote_group_and_prefix_together_and_unknown_remote(demo):
    sg = group(demo)
    try:
        fault(rule(demo, sg["id"], remote_group_id=sg["id"], remote_ip_prefix="10.0.0.0/8"),
              400, "SecurityGroupMultipleRemoteEntites")
        fault(rule(demo, sg["id"], remote_group_id=str(uuid.uuid4())), 404,
              "SecurityGroupNotFound")
        fault(rule(demo, str(uuid.uuid4())), 404, "SecurityGroupNotFound")
    finally:
        demo.network.delete_security_group(sg["id"])


def test_duplicate_rule_is_409_with_existing_id(demo):
    sg = group(demo)
    try:
        first = rule(demo, sg["id"], protocol="tcp", port_range_min=80, port_range_max=80)
        rid = first.json()["security_group_rule"]["id"]
        msg = fault(rule(demo, sg["id"], protocol="6", port_range_min=80, port_range_max=80),
                    409, "SecurityGroupRuleExists")
        assert rid in msg
        # The egress "any" rule exists already: 0.0.0.0/0 counts as the same rule.
        fault(call(demo, "POST", "/security-group-rules", json={"security_group_rule": {
            "security_group_id": sg["id"], "direction": "egress",
            "remote_ip_prefix": "0.0.0.0/0"}}), 409, "SecurityGroupRuleExists")
    finally:
        demo.network.delete_security_group(sg["id"])


def test_default_group_rules(demo, admin):
    default = demo.network.find_security_group("default", project_id=demo.current_project_id)
    fault(call(demo, "DELETE", f"/security-groups/{default.id}"), 409,
          "SecurityGroupCannotRemoveDefault")
    fault(call(demo, "PUT", f"/security-groups/{default.id}",
               json={"security_group": {"name": "other"}}), 409,
          "SecurityGroupCannotUpdateDefault")
    fault(call(demo, "POST", "/security-groups", json={"security_group": {"name": "default"}}),
          409, "SecurityGroupDefaultAlreadyExists")
    assert demo.network.get_security_group(default.id).name == "default"


def test_project_isolation(member, demo):
    other = member()
    sg = group(demo)
    try:
        fault(call(other, "GET", f"/security-groups/{sg['id']}"), 404, "SecurityGroupNotFound")
        fault(call(other, "DELETE", f"/security-groups/{sg['id']}"), 404,
              "SecurityGroupNotFound")
        fault(rule(other, sg["id"]), 404, "SecurityGroupNotFound")
        mine = group(other)
        fault(rule(other, mine["id"], remote_group_id=sg["id"]), 404, "SecurityGroupNotFound")
        rid = sg["security_group_rules"][0]["id"]
        fault(call(other, "GET", f"/security-group-rules/{rid}"), 404,
              "SecurityGroupRuleNotFound")
        ids = {g.id for g in other.network.security_groups()}
        assert sg["id"] not in ids
        assert sg["id"] not in {r.security_group_id for r in other.network.security_group_rules()}
    finally:
        demo.network.delete_security_group(sg["id"])


def test_reader_cannot_write_admin_can_create_for_others(member, admin, demo):
    reader = member("reader")
    assert [g.name for g in reader.network.security_groups()] == ["default"]
    fault(call(reader, "POST", "/security-groups", json={"security_group": {"name": "x"}}),
          403, "PolicyNotAuthorized")
    fault(call(demo, "POST", "/security-groups", json={"security_group": {
        "name": "x", "project_id": admin.current_project_id}}), 403, "PolicyNotAuthorized")
    sg = group(admin, project_id=demo.current_project_id)
    assert sg["project_id"] == demo.current_project_id
    assert demo.network.get_security_group(sg["id"]).id == sg["id"]
    demo.network.delete_security_group(sg["id"])


def test_remote_group_deletion_removes_referring_rules(demo):
    a, b = group(demo), group(demo)
    r = rule(demo, a["id"], remote_group_id=b["id"]).json()["security_group_rule"]
    demo.network.delete_security_group(b["id"])
    fault(call(demo, "GET", f"/security-group-rules/{r['id']}"), 404,
          "SecurityGroupRuleNotFound")
    demo.network.delete_security_group(a["id"])


def test_security_group_extensions_listed(demo):
    aliases = {e.alias for e in demo.network.extensions()}
    assert {"security-group", "stateful-security-group",
            "security-groups-remote-address-group"} <= aliases


def test_cli_rules(cloud, demo):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = cloud.cli("security", "group", "create", name, cloud="kumo")
    try:
        icmp = cloud.cli("security", "group", "rule", "create", "--protocol", "icmp", name,
                         cloud="kumo")
        assert icmp["protocol"] == "icmp"
        ssh = cloud.cli("security", "group", "rule", "create", "--protocol", "tcp",
                        "--dst-port", "22", name, cloud="kumo")
        assert ssh["port_range_min"] == 22 and ssh["port_range_max"] == 22
        dup = cloud.cli("security", "group", "rule", "create", "--protocol", "tcp",
                        "--dst-port", "22", name, cloud="kumo", check=False, parse=False)
        assert dup.returncode != 0 and "already exists" in dup.stderr
        rules = cloud.cli("security", "group", "rule", "list", name, cloud="kumo")
        assert len(rules) == 4
        default_rule = cloud.cli("security", "group", "rule", "create", "--protocol", "icmp",
                                 "default", cloud="kumo", check=False, parse=False)
        assert default_rule.returncode == 0 or "already exists" in default_rule.stderr
    finally:
        cloud.cli("security", "group", "delete", created["id"], cloud="kumo", parse=False)


def test_group_in_use_by_port_is_409_and_port_gets_default(member):
    conn = member()
    net = conn.network.create_network(name="n")
    sg = conn.network.create_security_group(name="used")
    port = conn.network.create_port(network_id=net.id, security_group_ids=[sg.id])
    plain = conn.network.create_port(network_id=net.id)
    default = conn.network.find_security_group("default", project_id=conn.current_project_id)
    assert plain.security_group_ids == [default.id]
    fault(call(conn, "DELETE", f"/security-groups/{sg.id}"), 409, "SecurityGroupInUse")
    fault(call(conn, "PUT", f"/security-groups/{sg.id}",
               json={"security_group": {"stateful": False}}), 409, "SecurityGroupInUse")
    conn.network.delete_port(port)
    conn.network.delete_port(plain)
    conn.network.delete_security_group(sg)
    conn.network.delete_network(net)
