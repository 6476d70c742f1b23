"""Keystone's federation mapping rule engine (Identity API v3 "OS-FEDERATION":
mappings; the reference's "Mapping combinations").

A mapping is a list of rules ``{"local": [...], "remote": [...]}``. A rule applies when
every ``remote`` condition holds for the assertion (the attributes the front proxy
passed, each value split on ``;``):

- ``{"type": T}`` alone: T must be present; its values become the next direct map
  (``{0}``, ``{1}``... in ``local``, in the order of such conditions);
- ``"any_one_of": [...]`` / ``"not_any_of": [...]``: some / none of T's values are in
  the list (with ``"regex": true`` the list holds regular expressions, searched);
- ``"whitelist"`` / ``"blacklist"``: T's values kept / dropped by the list, then a
  direct map (usually for ``"groups": "{N}"``).

Every applying rule's ``local`` objects are combined: the first ``user`` wins
(``name``, ``id``, ``email``, ``domain``, ``type``: ``ephemeral`` (default) or
``local``), groups add up (``group`` by id or by name with a domain, ``groups``: names
in the object's ``domain``, ``group_ids``), the last ``projects`` wins. No rule applying
is an error (the login fails). :func:`process` returns the result as a dict.
"""
from __future__ import annotations

import re

from kumo.common import exceptions as exc
from kumo.common.http import validate

_PLACEHOLDER = re.compile(r"\{(\d+)\}")
_STRINGS = {"type": "array", "items": {"type": "string"}}
_DOMAIN = {"type": "object", "properties": {"id": {"type": "string"},
                                            "name": {"type": "string"}},
           "additionalProperties": False}
_ROLES = {"type": "array", "minItems": 1, "items": {
    "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}},
    "additionalProperties": False}}
_REMOTE = {"type": "object", "required": ["type"],
           "properties": {"type": {"type": "string"}, "any_one_of": _STRINGS,
                          "not_any_of": _STRINGS, "blacklist": _STRINGS,
                          "whitelist": _STRINGS, "regex": {"type": "boolean"}},
           "additionalProperties": False}
_LOCAL = {"type": "object", "minProperties": 1, "additionalProperties": False,
          "properties": {
              "user": {"type": "object", "properties": {
                  "id": {"type": "string"}, "name": {"type": "string"},
                  "email": {"type": "string"}, "domain": _DOMAIN,
                  "type": {"enum": ["ephemeral", "local"]}},
                  "additionalProperties": False},
              "group": {"type": "object", "properties": {
                  "id": {"type": "string"}, "name": {"type": "string"}, "domain": _DOMAIN},
                  "additionalProperties": False},
              "groups": {"type": "string"},
              "group_ids": {"type": "string"},
              "domain": _DOMAIN,
              "projects": {"type": "array", "items": {
                  "type": "object", "required": ["name", "roles"],
                  "properties": {"name": {"type": "string"}, "roles": _ROLES,
                                 "domain": _DOMAIN},
                  "additionalProperties": False}}}}
#: The request body's ``mapping`` object (schema_version "1.0" or "2.0").
MAPPING_SCHEMA = {
    "type": "object", "required": ["rules"], "additionalProperties": False,
    "properties": {
        "schema_version": {"enum": ["1.0", "2.0", None]},
        "rules": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["local", "remote"],
            "additionalProperties": False,
            "properties": {"local": {"type": "array", "minItems": 1, "items": _LOCAL},
                           "remote": {"type": "array", "minItems": 1,
                                      "items": _REMOTE}}}}}}
_CONDITIONS = ("any_one_of", "not_any_of", "blacklist", "whitelist")


def check_rules(mapping: dict) -> None:
    """400 unless ``mapping`` (``{"rules": [...]}``) is a valid mapping: the schema,
    at most one condition per remote entry, a domain for groups named without one, and
    every ``{N}`` naming a direct map the rule makes."""
    validate(mapping, MAPPING_SCHEMA)
    for n, rule in enumerate(mapping["rules"]):
        maps = 0
        for remote in rule["remote"]:
            conditions = [c for c in _CONDITIONS if c in remote]
            if len(conditions) > 1:
                raise exc.ValidationError(
                    f"Invalid input for field 'rules/{n}/remote': only one of "
                    f"{', '.join(_CONDITIONS)} is allowed in one remote entry.")
            if not conditions or conditions[0] in ("blacklist", "whitelist"):
                maps += 1
        for local in rule["local"]:
            for index in _PLACEHOLDER.findall(repr(local)):
                if int(index) >= maps:
                    raise exc.ValidationError(
                        f"Invalid input for field 'rules/{n}/local': remote index "
                        f"{{{index}}} is out of range ({maps} direct maps).")
            if "groups" in local and "domain" not in local:
                raise exc.ValidationError(
                    f"Invalid input for field 'rules/{n}/local': 'groups' needs a "
                    "'domain' in the same object.")
            group = local.get("group")
            if group is not None and "id" not in group and not (
                    "name" in group and "domain" in group):
                raise exc.ValidationError(
                    f"Invalid input for field 'rules/{n}/local/group': an id, or a "
                    "name and a domain, are required.")


def parse_assertion(attributes: dict[str, str]) -> dict[str, list[str]]:
    """``{name: "a;b"}`` -> ``{name: ["a", "b"]}`` (Keystone splits values on ``;``)."""
    return {k: [v for v in value.split(";")] for k, value in attributes.items()}


def _matches(patterns: list[str], values: list[str], regex: bool) -> list[str]:
    """The values matched by the patterns (equal, or searched when ``regex``)."""
    if regex:
        compiled = []
        for p in patterns:
            try:
                compiled.append(re.compile(p))
            except re.error:
                continue
        return [v for v in values if any(c.search(v) for c in compiled)]
    wanted = set(patterns)
    return [v for v in values if v in wanted]


def _direct_maps(remote: list[dict], assertion: dict[str, list[str]]
                 ) -> list[list[str]] | None:
    """The rule's direct maps, or None when a condition fails."""
    maps: list[list[str]] = []
    for cond in remote:
        values = assertion.get(cond["type"])
        if not values:
            return None
        regex = bool(cond.get("regex"))
        if "any_one_of" in cond:
            if not _matches(cond["any_one_of"], values, regex):
                return None
        elif "not_any_of" in cond:
            if _matches(cond["not_any_of"], values, regex):
                return None
        elif "whitelist" in cond:
            kept = set(_matches(cond["whitelist"], values, regex))
            maps.append([v for v in values if v in kept])
        elif "blacklist" in cond:
            dropped = set(_matches(cond["blacklist"], values, regex))
            maps.append([v for v in values if v not in dropped])
        else:
            maps.append(values)
    return maps


def _substitute(value, maps: list[list[str]]):
    """``{N}`` in every string of ``value`` replaced by direct map N: a string that is
    exactly ``{N}`` becomes the map's list when it has several values (for
    ``groups``/``group_ids``), else its one value; inside a longer string the values
    are joined with ``;``."""
    if isinstance(value, dict):
        return {k: _substitute(v, maps) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, maps) for v in value]
    if not isinstance(value, str):
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole:
        found = maps[int(whole.group(1))]
        return found[0] if len(found) == 1 else list(found)
    return _PLACEHOLDER.sub(lambda m: ";".join(maps[int(m.group(1))]), value)


def _as_list(value) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return [value] if isinstance(value, str) and value else []


def process(rules: list[dict], assertion: dict[str, list[str]]) -> dict:
    """Apply ``rules`` to ``assertion``; returns ``{"user": {...}, "group_ids": [...],
    "group_names": [{"name", "domain"}], "projects": [...]}``. 401 when no rule
    applies (no identity can be mapped)."""
    values: list[dict] = []
    for rule in rules:
        maps = _direct_maps(rule["remote"], assertion)
        if maps is None:
            continue
        values.extend(_substitute(local, maps) for local in rule["local"])
    if not values:
        raise exc.Unauthorized("Could not map any federated user properties to identity "
                               "values.")
    user: dict = {}
    group_ids: list[str] = []
    group_names: list[dict] = []
    projects: list = []
    for local in values:
        if "user" in local and not user:
            user = dict(local["user"])
        group = local.get("group")
        if group:
            if "id" in group:
                group_ids.extend(_as_list(group["id"]))
            else:
                group_names.extend({"name": n, "domain": group["domain"]}
                                   for n in _as_list(group.get("name")))
        if "groups" in local:
            group_names.extend({"name": n, "domain": local["domain"]}
                               for n in _as_list(local["groups"]))
        if "group_ids" in local:
            group_ids.extend(_as_list(local["group_ids"]))
        if "projects" in local:
            projects = local["projects"]
    user.setdefault("type", "ephemeral")
    for key in ("id", "name", "email"):
        if isinstance(user.get(key), list):  # a direct map with several values
            user[key] = user[key][0] if user[key] else None
    seen = set()
    names = []
    for g in group_names:
        key = (g["name"], tuple(sorted(g["domain"].items())))
        if key not in seen:
            seen.add(key)
            names.append(g)
    return {"user": user, "group_ids": list(dict.fromkeys(group_ids)),
            "group_names": names, "projects": projects}
