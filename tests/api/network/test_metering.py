"""Metering (issue 14): labels and label rules through openstacksdk, the openstack CLI
and raw calls; admin-only; bad input is Neutron's fault and changes nothing."""
from __future__ import annotations

import pytest
from openstack import exceptions as sdk_exc

from tests.api.network.conftest import assert_fault

M = "/v2.0/metering"


def test_extensions_listed(admin):
    aliases = {e.alias for e in admin.network.extensions()}
    assert {"metering", "metering_source_and_destination_fields"} <= aliases


def test_labels_and_rules_with_the_sdk(admin, demo, unique):
    label = admin.network.create_metering_label(name=unique("m"), description="d")
    try:
        assert label.is_shared is False
        rule = admin.network.create_metering_label_rule(
            metering_label_id=label.id, direction="ingress",
            remote_ip_prefix="10.0.0.0/24")
        both = admin.network.create_metering_label_rule(
            metering_label_id=label.id, direction="egress", is_excluded=True,
            source_ip_prefix="10.0.0.7", destination_ip_prefix="192.0.2.0/24")
        assert (rule.direction, rule.remote_ip_prefix, rule.is_excluded) == \
            ("ingress", "10.0.0.0/24", False)
        assert (both.source_ip_prefix, both.destination_ip_prefix) == \
            ("10.0.0.7/32", "192.0.2.0/24")
        ids = {r.id for r in admin.network.metering_label_rules(
            metering_label_id=label.id)}
        assert ids == {rule.id, both.id}
        # admin-only, as Neutron's policy
        with pytest.raises(sdk_exc.HttpException):
            demo.network.create_metering_label(name=unique("x"))
        assert label.id not in {lb.id for lb in demo.network.metering_labels()}
        admin.network.delete_metering_label_rule(rule)
        assert [r.id for r in admin.network.metering_label_rules(
            metering_label_id=label.id)] == [both.id]
    finally:
        admin.network.delete_metering_label(label)
    # the label's rules went with it
    assert not [r for r in admin.network.metering_label_rules()
                if r.metering_label_id == label.id]


def test_cli(cloud, admin, unique):
    label = cloud.cli("network", "meter", "create", unique("m"), "--share")
    try:
        assert label["shared"] is True
        assert label["id"] in {m["ID"] for m in cloud.cli("network", "meter", "list")}
        rule = cloud.cli("network", "meter", "rule", "create", label["id"], "--egress",
                         "--exclude", "--remote-ip-prefix", "198.51.100.0/24")
        assert rule["direction"] == "egress" and rule["is_excluded"] is True
        listed = cloud.cli("network", "meter", "rule", "list")
        assert rule["id"] in {r["ID"] for r in listed}
        cloud.cli("network", "meter", "rule", "delete", rule["id"], parse=False)
    finally:
        cloud.cli("network", "meter", "delete", label["id"], parse=False)


def test_bad_input_changes_nothing(admin, neutron, unique):
    label = admin.network.create_metering_label(name=unique("m"))
    try:
        for body, status in [
            ({"direction": "ingress"}, 400),  # no prefix at all
            ({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8",
              "source_ip_prefix": "10.0.0.0/8"}, 400),
            ({"direction": "ingress", "remote_ip_prefix": "nope"}, 400),
            ({"direction": "sideways", "remote_ip_prefix": "10.0.0.0/8"}, 400),
            ({"direction": "ingress", "source_ip_prefix": "10.0.0.0/8",
              "destination_ip_prefix": "fd00::/64"}, 400),
        ]:
            resp = neutron.request(admin, "POST", f"{M}/metering-label-rules", json={
                "metering_label_rule": {"metering_label_id": label.id, **body}})
            assert resp.status_code == status, (body, resp.text)
        resp = neutron.request(admin, "POST", f"{M}/metering-label-rules", json={
            "metering_label_rule": {"metering_label_id": "no-such", "direction": "ingress",
                                    "remote_ip_prefix": "10.0.0.0/8"}})
        assert_fault(resp, 404, "MeteringLabelNotFound")
        ok = {"metering_label_id": label.id, "direction": "ingress",
              "remote_ip_prefix": "10.1.0.0/16"}
        resp = neutron.request(admin, "POST", f"{M}/metering-label-rules",
                               json={"metering_label_rule": ok})
        assert resp.status_code == 201, resp.text
        resp = neutron.request(admin, "POST", f"{M}/metering-label-rules",
                               json={"metering_label_rule": ok})
        assert_fault(resp, 409, "MeteringLabelRuleOverlaps")
        assert len(list(admin.network.metering_label_rules(
            metering_label_id=label.id))) == 1
    finally:
        admin.network.delete_metering_label(label)
