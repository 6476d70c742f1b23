"""The list routes serve what the resources' definitions (kumo/network/definitions.py)
say: every filter and sort key is accepted, items carry exactly the definition's
attributes (those with a read policy only for callers it allows), ``fields=`` selects
among them."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from kumo.common.resource import BOOLEAN, INTEGER
from kumo.network import definitions

pytestmark = pytest.mark.usefixtures("cloud")

PATHS = {"networks": "networks", "subnets": "subnets", "subnetpools": "subnetpools",
         "address_scopes": "address-scopes", "ports": "ports",
         "security_groups": "security-groups",
         "security_group_rules": "security-group-rules", "routers": "routers",
         "floatingips": "floatingips", "rbac_policies": "rbac-policies",
         "agents": "agents", "policies": "qos/policies"}
DEFS = list(definitions.ALL.values())
IDS = [d.collection for d in DEFS]


def _sample(definition, attr) -> str:
    if attr.name == "fixed_ips":
        return "ip_address=10.255.255.254"
    if attr.filter == BOOLEAN:
        return "false"
    if attr.filter == INTEGER:
        return "987654"
    if attr.column and isinstance(getattr(definition.model, attr.column).type,
                                  sa.DateTime):
        return "2026-01-02T03:04:05"
    return "no-such-value"


def test_every_resource_has_a_path():
    assert set(PATHS) == set(definitions.ALL)


@pytest.mark.parametrize("definition", DEFS, ids=IDS)
def test_every_filter_and_sort_key_is_accepted(admin, neutron, definition):
    path = f"/v2.0/{PATHS[definition.collection]}"
    for attr in definition.attrs:
        if attr.filter is None:
            continue
        resp = neutron.request(admin, "GET", path,
                               params={attr.name: _sample(definition, attr)})
        assert resp.status_code == 200, (attr.name, resp.text)
        assert resp.json()[definition.collection] == [] or attr.filter == BOOLEAN
    for key in definition.sort_keys:
        resp = neutron.request(admin, "GET", path,
                               params={"sort_key": key, "sort_dir": "desc", "limit": 2})
        assert resp.status_code == 200, (key, resp.text)
    resp = neutron.request(admin, "GET", path, params={"sort_key": "no_such_key"})
    assert resp.status_code == 400


@pytest.mark.parametrize("definition", DEFS, ids=IDS)
def test_items_carry_exactly_the_definitions_attributes(admin, demo, neutron, definition):
    path = f"/v2.0/{PATHS[definition.collection]}"
    guarded = {a.name for a in definition.attrs if isinstance(a.read, str)}
    # shown only where not null (trunk_details: a trunk's parent port only)
    optional = {a.name for a in definition.attrs if a.omit_none}
    seen = 0
    for conn, hidden in ((admin, set()), (demo, guarded)):
        resp = neutron.request(conn, "GET", path, params={"limit": 5})
        if resp.status_code == 403:  # agents are the admin's
            continue
        assert resp.status_code == 200, resp.text
        for item in resp.json()[definition.collection]:
            assert set(item) - optional == set(definition.fields) - hidden - optional
            assert all(item[n] is not None for n in optional & set(item))
            seen += 1
        fields = list(definition.fields)[:2]
        resp = neutron.request(conn, "GET", path, params={"fields": fields, "limit": 5})
        for item in resp.json()[definition.collection]:
            assert set(item) <= set(fields)
    if definition.collection in ("networks", "subnets", "ports", "routers",
                                 "security_groups", "security_group_rules"):
        assert seen, "bootstrap makes some of these"
