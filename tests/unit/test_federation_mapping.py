"""The federation mapping rule engine (kumo.identity.mapping), on the shapes of
Keystone's "Mapping combinations" reference."""
from __future__ import annotations

import pytest

from kumo.common import exceptions as exc
from kumo.identity import mapping

DOMAIN = {"id": "d1"}


def run(rules, **attrs):
    mapping.check_rules({"rules": rules})
    return mapping.process(rules, mapping.parse_assertion(attrs))


def test_direct_map_and_any_one_of():
    rules = [{"local": [{"user": {"name": "{0}"}}, {"group": {"id": "g-admins"}}],
              "remote": [{"type": "UserName"},
                         {"type": "orgPersonType", "any_one_of": ["Admin", "Eng"]}]}]
    out = run(rules, UserName="bob", orgPersonType="Contractor;Eng")
    assert out["user"] == {"name": "bob", "type": "ephemeral"}
    assert out["group_ids"] == ["g-admins"]
    with pytest.raises(exc.Unauthorized):  # no rule applies: nobody is mapped
        run(rules, UserName="bob", orgPersonType="Contractor")
    with pytest.raises(exc.Unauthorized):  # a direct map's attribute is missing
        run(rules, orgPersonType="Eng")


def test_not_any_of_and_regex():
    rules = [{"local": [{"user": {"name": "{0}"}}, {"group": {"id": "staff"}}],
              "remote": [{"type": "UserName"},
                         {"type": "orgPersonType", "not_any_of": [".*Contractor.*"],
                          "regex": True}]}]
    assert run(rules, UserName="a", orgPersonType="Employee")["group_ids"] == ["staff"]
    with pytest.raises(exc.Unauthorized):
        run(rules, UserName="a", orgPersonType="SubContractor")
    regex = [{"local": [{"user": {"name": "{0}"}}],
              "remote": [{"type": "UserName"},
                         {"type": "email", "any_one_of": [r"@example\.org$"],
                          "regex": True}]}]
    assert run(regex, UserName="x", email="x@example.org")["user"]["name"] == "x"
    with pytest.raises(exc.Unauthorized):
        run(regex, UserName="x", email="x@example.org.evil")


def test_whitelist_blacklist_groups_and_substitution():
    rules = [{"local": [{"user": {"name": "{0}", "email": "{0}@corp"}},
                        {"groups": "{1}", "domain": DOMAIN}],
              "remote": [{"type": "UserName"},
                         {"type": "orgGroups", "whitelist": ["dev", "ops"]}]}]
    out = run(rules, UserName="eve", orgGroups="dev;sales;ops")
    assert out["user"]["email"] == "eve@corp"
    assert out["group_names"] == [{"name": "dev", "domain": DOMAIN},
                                  {"name": "ops", "domain": DOMAIN}]
    rules[0]["remote"][1] = {"type": "orgGroups", "blacklist": ["sales"]}
    out = run(rules, UserName="eve", orgGroups="dev;sales")
    assert out["group_names"] == [{"name": "dev", "domain": DOMAIN}]
    rules[0]["remote"][1] = {"type": "orgGroups", "blacklist": ["sales"]}
    assert run(rules, UserName="eve", orgGroups="sales")["group_names"] == []


def test_rules_combine_first_user_wins_local_user_and_projects():
    rules = [
        {"local": [{"user": {"name": "{0}", "domain": {"name": "Default"},
                             "type": "local"}}],
         "remote": [{"type": "REMOTE_USER"}]},
        {"local": [{"user": {"name": "ignored"}}, {"group_ids": "{0}"},
                   {"projects": [{"name": "p-{1}", "roles": [{"name": "member"}]}]}],
         "remote": [{"type": "gids"}, {"type": "REMOTE_USER"}]}]
    out = run(rules, REMOTE_USER="carol", gids="g1;g2")
    assert out["user"] == {"name": "carol", "domain": {"name": "Default"}, "type": "local"}
    assert out["group_ids"] == ["g1", "g2"]
    assert out["projects"] == [{"name": "p-carol", "roles": [{"name": "member"}]}]


@pytest.mark.parametrize("rules", [
    [],
    [{"local": [{"user": {"name": "{1}"}}], "remote": [{"type": "a"}]}],  # index range
    [{"local": [{"user": {"name": "x"}}],
      "remote": [{"type": "a", "any_one_of": ["x"], "not_any_of": ["y"]}]}],
    [{"local": [{"groups": "{0}"}], "remote": [{"type": "a"}]}],  # groups need a domain
    [{"local": [{"group": {"name": "g"}}], "remote": [{"type": "a"}]}],
    [{"local": [{"user": {"name": "x", "type": "robot"}}], "remote": [{"type": "a"}]}],
    [{"local": [{"user": {"name": "x"}}], "remote": [{"type": "a", "bogus": 1}]}],
    [{"local": [], "remote": [{"type": "a"}]}],
])
def test_invalid_rules_are_refused(rules):
    with pytest.raises(exc.ValidationError):
        mapping.check_rules({"rules": rules})


def test_trusted_proxy_is_off_by_default_and_matches_by_address():
    from types import SimpleNamespace

    from kumo.config import Settings
    from kumo.identity.federation import trusted_proxy

    assert Settings().federation_trusted_proxies == []
    assert not trusted_proxy(Settings(), "127.0.0.1")
    s = SimpleNamespace(federation_trusted_proxies=["10.0.0.0/24", "192.0.2.7", "bogus"])
    assert trusted_proxy(s, "10.0.0.9") and trusted_proxy(s, "192.0.2.7")
    assert trusted_proxy(s, "::ffff:192.0.2.7")  # a dual-stack socket's view
    for client in ("10.0.1.1", "192.0.2.8", None, "", "not-an-address"):
        assert not trusted_proxy(s, client)


def test_a_duplicated_attribute_header_is_refused():
    from types import SimpleNamespace

    from kumo.identity.federation import Federation

    identity = SimpleNamespace(settings=SimpleNamespace(
        federation_trusted_proxies=["127.0.0.2"], federation_remote_id_attribute=""))
    fed = Federation(identity)
    fed.get_idp = lambda idp: (SimpleNamespace(enabled=True), [])
    fed.get_protocol = lambda idp, proto: SimpleNamespace(remote_id_attribute=None,
                                                          mapping_id="m")
    headers = SimpleNamespace(items=lambda: [("REMOTE_USER", "a"), ("remote_user", "b")])
    with pytest.raises(exc.Unauthorized):
        fed.authenticate("idp", "p", "127.0.0.2", headers)
    with pytest.raises(exc.Unauthorized):  # not the proxy: refused before anything
        fed.authenticate("idp", "p", "127.0.0.1", SimpleNamespace(items=lambda: []))
