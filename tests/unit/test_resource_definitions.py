"""Every Networking resource is defined once (kumo/network/definitions.py) and its request
schemas, list filters and sort keys, ``fields=``, renderer and attribute policies are
derived from that definition; adding an attribute shows up in all of them."""
from __future__ import annotations

import collections
import dataclasses
import types

import pytest
import sqlalchemy as sa
from oslo_policy import _parser
from starlette.datastructures import QueryParams

from kumo.common.resource import BOOLEAN, EXACT, INTEGER, Attr, Resource
from kumo.network import definitions
from kumo.network.api import service

DEFS = list(definitions.ALL.values())
IDS = [d.collection for d in DEFS]

#: Sample query values per filter kind (a time filter needs a time).
SAMPLES = {BOOLEAN: "true", INTEGER: "7"}


def _sample(definition: Resource, attr: Attr) -> str:
    if callable(attr.filter):
        return "ip_address=10.0.0.1" if attr.name == "fixed_ips" else "x"
    if attr.filter in SAMPLES:
        return SAMPLES[attr.filter]
    column = getattr(definition.model, attr.column)
    if isinstance(column.type, sa.DateTime):
        return "2026-01-02T03:04:05"
    return "x"


def _row(definition: Resource, **values):
    """A stand-in row with every column of the model (None unless given)."""
    row = {c.key: None for c in definition.model.__table__.columns}
    row.update(id="row-id", project_id="p1")
    row.update(values)
    return types.SimpleNamespace(**row)


def _extras():
    return collections.defaultdict(dict)


class Recorder:
    """A request context that records what it is asked to enforce or allow."""

    def __init__(self, allow: bool = True):
        self.allow = allow
        self.enforced: list[str] = []
        self.asked: list[str] = []

    def enforce(self, rule: str, target: dict) -> None:
        self.enforced.append(rule)

    def can(self, rule: str, target: dict) -> bool:
        self.asked.append(rule)
        return self.allow


def test_every_networking_resource_is_defined():
    assert set(definitions.ALL) == {
        "networks", "subnets", "subnetpools", "address_scopes", "ports",
        "security_groups", "security_group_rules", "routers", "floatingips",
        "rbac_policies", "agents", "policies"}


@pytest.mark.parametrize("definition", DEFS, ids=IDS)
def test_request_schemas_are_the_settable_attributes(definition: Resource):
    for action in ("create", "update"):
        schema = getattr(definition, f"{action}_schema")
        settable = [a for a in definition.attrs if getattr(a, action)]
        assert schema["additionalProperties"] is False
        assert list(schema["properties"]) == [a.name for a in settable]
        for a in settable:
            assert schema["properties"][a.name] is a.schema, (action, a.name)
    required = [a.name for a in definition.attrs if a.required]
    assert definition.create_schema.get("required", []) == required
    assert "required" not in definition.update_schema
    # what is required on create can be set on create
    assert set(required) <= set(definition.create_schema["properties"])


@pytest.mark.parametrize("definition", DEFS, ids=IDS)
def test_filters_and_sort_keys_are_the_definitions(definition: Resource):
    coll = definition.collection_of
    columned = {a.name: a for a in definition.attrs
                if a.column is not None and (a.filter is not None or a.sort)}
    assert set(coll.columns) == set(columned)
    for name, a in columned.items():
        assert coll.columns[name] is getattr(definition.model, a.column)
    assert set(coll.booleans) == {a.name for a in definition.attrs if a.filter == BOOLEAN}
    assert set(coll.integers) == {a.name for a in definition.attrs if a.filter == INTEGER}
    assert set(coll.custom) == {a.name for a in definition.attrs if callable(a.filter)}
    assert coll.sortable == definition.sort_keys
    assert set(definition.sort_keys) <= set(coll.columns)
    assert set(definition.filters) == set(coll.columns) - {
        a.name for a in definition.attrs if a.filter is None} | set(coll.custom)
    assert (coll.tags is None) == (definition.tags is None)
    # every filter and sort key is something the resource shows (or a write-only one)
    assert set(definition.filters) <= set(definition.fields)
    assert set(definition.sort_keys) <= set(definition.fields)


@pytest.mark.parametrize("definition", DEFS, ids=IDS)
def test_every_filter_narrows_the_query(definition: Resource):
    coll = definition.collection_of
    base = sa.select(definition.model)
    for a in definition.attrs:
        if a.filter is None:
            continue
        stmt = coll.filter(base, QueryParams({a.name: _sample(definition, a)}))
        assert stmt.whereclause is not None, a.name
        stmt.compile()  # the filter is valid SQL
    for key in definition.sort_keys:
        keys = coll.sort_keys(QueryParams({"sort_key": key, "sort_dir": "desc"}))
        assert keys[0] == (key, False)


@pytest.mark.parametrize("definition", DEFS, ids=IDS)
def test_the_list_route_uses_the_definition(definition: Resource):
    routes = {r.handler.__name__: r for r in service.routes if r.method == "GET"}
    assert f"list_{definition.collection}" in routes


@pytest.mark.parametrize("definition", DEFS, ids=IDS)
def test_rendering_shows_exactly_the_fields(definition: Resource):
    rows = [_row(definition), _row(definition, id="row-2", project_id="p2")]
    everything = definition.render(rows, _extras(), every=True)
    # omit_none attributes (trunk_details) are absent where their value is None
    optional = {a.name for a in definition.attrs if a.omit_none}
    for item in everything:
        assert set(item) == set(definition.fields) - {
            n for n in optional if n not in item}
        assert all(item[n] is not None for n in optional if n in item)
    # attributes with a read policy: shown when the policy allows, asked once a project
    guarded = {a.name for a in definition.attrs if isinstance(a.read, str)}
    for allow in (True, False):
        ctx = Recorder(allow)
        items = definition.render(rows, _extras(), ctx)
        for item in items:
            assert set(item) | optional == set(definition.fields) - (
                set() if allow else guarded) | optional
        assert sorted(ctx.asked) == sorted(f"get_{definition.name}:{g}" for g in guarded
                                           for _ in ("p1", "p2"))
    # no context: only what everyone may read
    for item in definition.render(rows, _extras()):
        assert set(item) | optional == set(definition.fields) - guarded | optional
    # write-only attributes are never shown
    assert not {a.name for a in definition.attrs if a.read is False} & set(definition.fields)


@pytest.mark.parametrize("definition", DEFS, ids=IDS)
def test_attribute_policies_are_the_definitions(definition: Resource):
    registered = {r.name: r.check_str for r in definition.rules()}
    rules = definition.attribute_rules()
    assert rules.items() <= registered.items()
    for a in definition.attrs:
        for action in ("create", "update"):
            how = getattr(a, action)
            if isinstance(how, str):
                assert rules[f"{action}_{definition.name}:{a.name}"] == how
            else:
                assert f"{action}_{definition.name}:{a.name}" not in rules
            for sub, check in getattr(a, f"{action}_sub").items():
                assert rules[f"{action}_{definition.name}:{a.name}:{sub}"] == check
        if isinstance(a.read, str):
            assert rules[f"get_{definition.name}:{a.name}"] == a.read
    for name, check in registered.items():
        assert str(_parser.parse_rule(check)) != "!", name  # valid policy language
    for action in definition.actions:
        assert definition.action_rule(action) in registered


@pytest.mark.parametrize("definition", DEFS, ids=IDS)
def test_enforce_checks_the_attribute_rules_of_a_body(definition: Resource):
    for action in ("create", "update"):
        body = {a.name: ([{sub: "v" for sub in a.create_sub}]
                         if getattr(a, f"{action}_sub") else "v")
                for a in definition.attrs if getattr(a, action)}
        ctx = Recorder()
        definition.enforce(ctx, action, body, {"project_id": "p1"})
        expected = {name for name in definition.attribute_rules()
                    if name.startswith(f"{action}_") and not name.endswith(
                        (":project_id", ":tenant_id"))}
        assert set(ctx.enforced) == expected, action


def _with_new_attr(definition: Resource) -> Resource:
    column = "id"
    attr = Attr("kumo_test", {"type": "string"}, create="rule:admin", update=True,
                read="rule:admin", column=column, filter=EXACT, sort=True,
                render=lambda row, extras: "rendered")
    return dataclasses.replace(definition, attrs=definition.attrs + [attr])


@pytest.mark.parametrize("definition", DEFS, ids=IDS)
def test_an_added_attribute_shows_up_everywhere(definition: Resource):
    grown = _with_new_attr(definition)
    assert grown.create_schema["properties"]["kumo_test"] == {"type": "string"}
    assert grown.update_schema["properties"]["kumo_test"] == {"type": "string"}
    assert "kumo_test" in grown.collection_of.columns
    assert "kumo_test" in grown.collection_of.sortable
    assert "kumo_test" in grown.filters and "kumo_test" in grown.fields
    item = grown.render([_row(grown)], _extras(), Recorder(True))[0]
    assert item["kumo_test"] == "rendered"
    assert "kumo_test" not in grown.render([_row(grown)], _extras(), Recorder(False))[0]
    rules = {r.name for r in grown.rules()}
    assert {f"create_{grown.name}:kumo_test", f"get_{grown.name}:kumo_test"} <= rules
    assert f"update_{grown.name}:kumo_test" not in rules  # anyone may update it
    # the original definition is unchanged
    assert "kumo_test" not in definition.fields


def test_converters_turn_strings_into_integers_or_refuse():
    from kumo.common import exceptions as exc

    attrs = definitions.NETWORK.prepare({"provider:segmentation_id": "42", "name": "n"})
    assert attrs == {"provider:segmentation_id": 42, "name": "n"}
    with pytest.raises(exc.BadRequest, match="is not an integer"):
        definitions.SECURITY_GROUP_RULE.prepare({"port_range_min": "eighty"})
    with pytest.raises(exc.BadRequest, match="is not a valid IP address"):
        definitions.FLOATINGIP.prepare({"fixed_ip_address": "10.0.0.300"})


# -- beyond Networking: Nova's flavors ----------------------------------------------------
def _flavor_extras(version: tuple[int, int], can_read_specs: bool = True) -> dict:
    return {"at_least": lambda v: version >= tuple(int(p) for p in v.split(".")),
            "can": lambda rule: can_read_specs, "links": lambda i: [{"rel": "self",
                                                                     "href": i}]}


def test_flavor_schemas_and_rendering_come_from_its_definition():
    from kumo.compute.definitions import FLAVOR, FLAVOR_BRIEF, FLAVOR_CREATE, FLAVOR_UPDATE

    assert FLAVOR_CREATE["properties"]["flavor"] is FLAVOR.create_schema
    assert set(FLAVOR.create_schema["required"]) == {"name", "ram", "vcpus", "disk"}
    assert list(FLAVOR_UPDATE["properties"]["flavor"]["properties"]) == ["description"]
    row = types.SimpleNamespace(id="f1", name="m1", description="d", ram=512, vcpus=1,
                                disk=1, ephemeral=0, swap=0, rxtx_factor=1.0,
                                is_public=True, disabled=False, extra_specs={"a": "b"})
    old = FLAVOR.render([row], _flavor_extras((2, 1)))[0]
    assert "description" not in old and "extra_specs" not in old and old["swap"] == ""
    new = FLAVOR.render([row], _flavor_extras((2, 75)))[0]
    assert set(new) == set(FLAVOR.fields)
    assert new["swap"] == 0 and new["extra_specs"] == {"a": "b"}
    assert "extra_specs" not in FLAVOR.render([row], _flavor_extras((2, 75), False))[0]
    brief = FLAVOR.render([row], _flavor_extras((2, 75)), only=FLAVOR_BRIEF)[0]
    assert set(brief) == set(FLAVOR_BRIEF)
