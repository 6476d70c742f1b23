"""``remote_address_group_id`` on security group rules (the
``security-groups-remote-address-group`` extension) with openstacksdk, the openstack CLI
and raw calls: accepted, shown, filtered; one remote only; an unknown or invisible
address group is a 404 that creates nothing; an address group in use cannot be deleted
(409); and the host's state feed carries the group's addresses with the rule."""
from __future__ import annotations

import uuid

from tests.api.network.conftest import assert_fault


def test_rule_with_remote_address_group(demo, other, cloud, neutron, unique):
    ag = demo.network.create_address_group(name=unique("ag"),
                                           addresses=["192.0.2.0/24", "2001:db8::/64"])
    sg = demo.network.create_security_group(name=unique("sg"))
    try:
        ext = neutron.request(demo, "GET",
                              "/v2.0/extensions/security-groups-remote-address-group")
        assert ext.status_code == 200, ext.text
        r = demo.network.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", ethertype="IPv4",
            protocol="tcp", port_range_min=22, port_range_max=22,
            remote_address_group_id=ag.id)
        assert r.remote_address_group_id == ag.id
        assert r.remote_ip_prefix is None and r.remote_group_id is None
        assert demo.network.get_security_group_rule(r.id).remote_address_group_id == ag.id
        assert [x.id for x in demo.network.security_group_rules(
            remote_address_group_id=ag.id)] == [r.id]
        shown = demo.network.get_security_group(sg.id)
        assert ag.id in [x["remote_address_group_id"] for x in shown.security_group_rules]
        # the CLI resolves the name
        cli = cloud.cli("security", "group", "rule", "create", "--egress", "--protocol",
                        "udp", "--dst-port", "53", "--remote-address-group", ag.name,
                        sg.id, cloud="kumo")
        assert cli["remote_address_group_id"] == ag.id
        # the same rule again is a duplicate
        resp = neutron.request(demo, "POST", "/v2.0/security-group-rules", json={
            "security_group_rule": {"security_group_id": sg.id, "direction": "ingress",
                                    "protocol": "tcp", "port_range_min": 22,
                                    "port_range_max": 22,
                                    "remote_address_group_id": ag.id}})
        assert_fault(resp, 409, "SecurityGroupRuleExists")
        # in use: the address group stays
        assert_fault(neutron.request(demo, "DELETE", f"/v2.0/address-groups/{ag.id}"),
                     409, "AddressGroupInUse")
        assert demo.network.get_address_group(ag.id).id == ag.id
        demo.network.delete_security_group_rule(r.id)
        demo.network.delete_security_group_rule(cli["id"])
        demo.network.delete_address_group(ag.id)
        assert demo.network.find_address_group(ag.id) is None
    finally:
        demo.network.delete_security_group(sg.id, ignore_missing=True)
        demo.network.delete_address_group(ag.id, ignore_missing=True)


def test_bad_remote_address_group_changes_nothing(demo, other, neutron, unique):
    ag = demo.network.create_address_group(name=unique("ag"), addresses=["10.3.0.0/16"])
    theirs = other.network.create_address_group(name=unique("ag"), addresses=["10.4.0.1"])
    sg = demo.network.create_security_group(name=unique("sg"))
    try:
        before = len(list(demo.network.security_group_rules(security_group_id=sg.id)))

        def post(**attrs):
            return neutron.request(demo, "POST", "/v2.0/security-group-rules", json={
                "security_group_rule": {"security_group_id": sg.id,
                                        "direction": "ingress", **attrs}})
        assert_fault(post(remote_address_group_id=ag.id, remote_ip_prefix="10.0.0.0/8"),
                     400, "SecurityGroupMultipleRemoteEntites")
        assert_fault(post(remote_address_group_id=ag.id, remote_group_id=sg.id),
                     400, "SecurityGroupMultipleRemoteEntites")
        assert_fault(post(remote_address_group_id=str(uuid.uuid4())), 404,
                     "AddressGroupNotFound")
        assert_fault(post(remote_address_group_id=theirs.id), 404, "AddressGroupNotFound")
        assert_fault(post(remote_address_group_id=12), 400, "HTTPBadRequest")
        after = len(list(demo.network.security_group_rules(security_group_id=sg.id)))
        assert before == after
    finally:
        demo.network.delete_security_group(sg.id)
        demo.network.delete_address_group(ag.id)
        other.network.delete_address_group(theirs.id)


def test_state_feed_carries_the_addresses(admin, cloud, neutron, unique):
    """A host's snapshot gives each security group the addresses of the address groups
    its rules name, and changing the addresses is a change the host sees."""
    host = f"aghost-{uuid.uuid4().hex[:6]}"
    net = admin.network.create_network(name=unique("agnet"))
    admin.network.create_subnet(network_id=net.id, cidr="10.77.0.0/24", ip_version=4)
    ag = admin.network.create_address_group(name=unique("ag"), addresses=["192.0.2.0/24"])
    sg = admin.network.create_security_group(name=unique("sg"))
    port = None
    try:
        admin.network.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", ethertype="IPv4",
            remote_address_group_id=ag.id)
        port = admin.network.create_port(network_id=net.id, binding_host_id=host,
                                         security_group_ids=[sg.id])

        def snapshot() -> dict:
            return neutron.request(admin, "GET", "/kumo/v1/state",
                                   params={"host": host}).json()
        state = snapshot()
        mine = {g["id"]: g for g in state["security_groups"]}[sg.id]
        assert mine["address_groups"] == {ag.id: ["192.0.2.0/24"]}
        assert [r["remote_address_group_id"] for r in mine["rules"]
                if r["direction"] == "ingress"] == [ag.id]
        since = state["revision"]
        admin.network.add_addresses_to_address_group(ag, ["198.51.100.0/24"])
        changes = neutron.request(admin, "GET", "/kumo/v1/changes",
                                  params={"since": since, "host": host}).json()["changes"]
        assert ("security_group", sg.id) in {(c["resource_type"], c["resource_id"])
                                             for c in changes}
        again = {g["id"]: g for g in snapshot()["security_groups"]}[sg.id]
        assert again["address_groups"] == {ag.id: ["192.0.2.0/24", "198.51.100.0/24"]}
    finally:
        if port is not None:
            admin.network.delete_port(port.id)
        admin.network.delete_security_group(sg.id)
        admin.network.delete_address_group(ag.id)
        admin.network.delete_network(net.id)
