"""Application credential access rules (Identity API v3: "Application Credentials",
"List access rules", "Show access rule details", "Delete access rule").

A rule is ``{"service": <catalog service type>, "method": <HTTP method>, "path": <path
pattern>}`` owned by a user. Creating a credential with ``access_rules`` reuses the
user's rule with the same service, method and path (or the one named by ``{"id"}``)
and creates the others; rules are immutable, and one still used by a credential cannot
be deleted (403, as Keystone). A token issued with such a credential carries the rules,
and every service refuses (401) a request none of them permits: see :func:`permits`.
"""
from __future__ import annotations

import fnmatch
import functools

import sqlalchemy as sa
import sqlalchemy.exc

from kumo.common import exceptions as exc
from kumo.identity.manager import new_id
from kumo.identity.models_more import AccessRule, ApplicationCredentialAccessRule

FIELDS = ("service", "path", "method")


def rule_dict(rule: AccessRule) -> dict:
    """The rule as a credential shows it: ``{"id", "service", "path", "method"}``."""
    return {"id": rule.id, "service": rule.service, "path": rule.path, "method": rule.method}


def path_matches(pattern: str, path: str) -> bool:
    """True if ``path`` (``/v2.1/servers/abc/ips``) matches the rule's ``pattern``.

    Segments compare one by one: ``*`` matches any one segment (also inside a segment,
    ``srv-*``), ``**`` any number of segments (none included). A trailing slash is
    ignored on both sides."""
    want = [p for p in pattern.strip("/").split("/")] if pattern.strip("/") else []
    have = [p for p in path.strip("/").split("/")] if path.strip("/") else []

    def match(i: int, j: int) -> bool:
        while i < len(want):
            if want[i] == "**":
                return any(match(i + 1, k) for k in range(j, len(have) + 1))
            if j >= len(have) or not fnmatch.fnmatchcase(have[j], want[i].replace("[", "[[]")):
                return False
            i, j = i + 1, j + 1
        return j == len(have)
    return match(0, 0)


@functools.cache
def service_types(prefix: str | None) -> tuple[str, ...]:
    """The catalog service types of the Kumo service under ``prefix`` (``/volume``:
    ``block-storage`` and ``volumev3``), from the catalog bootstrap writes."""
    from kumo.identity.bootstrap import CATALOG

    if not prefix:
        return ()
    return tuple(t for t, _name, path in CATALOG
                 if path == prefix or path.startswith(prefix + "/"))


def permits(rules: list[dict], service_types: tuple[str, ...], method: str, path: str) -> bool:
    """True if one of ``rules`` allows ``method path`` on a service of ``service_types``
    (``path`` relative to the service's endpoint root, e.g. ``/v2.1/servers``)."""
    return any(r["service"] in service_types and r["method"] == method
               and path_matches(r["path"], path) for r in rules)


class AccessRules:
    def __init__(self, identity):
        self.identity = identity

    def resolve(self, s, user_id: str, refs: list[dict]) -> list[AccessRule]:
        """The rules ``refs`` name for ``user_id`` (in the session ``s``), created where
        new. ``{"id"}`` must be one of the user's rules (404); a new rule needs
        ``service``, ``path`` and ``method`` (400)."""
        rules: list[AccessRule] = []
        for ref in refs:
            rule = None
            if ref.get("id"):
                rule = s.get(AccessRule, ref["id"])
                if rule is not None and rule.user_id != user_id:
                    rule = None
                if rule is None and not all(ref.get(f) is not None for f in FIELDS):
                    raise exc.NotFound(resource="access rule", id=ref["id"])
            if rule is None:
                missing = [f for f in FIELDS if ref.get(f) is None]
                if missing:
                    raise exc.ValidationError(
                        f"Invalid input for field 'access_rules': '{missing[0]}' is a "
                        "required property.")
                rule = self._find_or_add(s, user_id, ref)
            if all(r.id != rule.id for r in rules):
                rules.append(rule)
        return rules

    @staticmethod
    def _find_or_add(s, user_id: str, ref: dict) -> AccessRule:
        """The user's rule equal to ``ref``, added if none; a concurrent request adding
        the same one first (the unique constraint) is found again, not a 500."""
        def find():
            return s.scalar(sa.select(AccessRule).where(
                AccessRule.user_id == user_id, AccessRule.service == ref["service"],
                AccessRule.path == ref["path"], AccessRule.method == ref["method"]))
        rule = find()
        if rule is not None:
            return rule
        rule = AccessRule(id=new_id(), user_id=user_id, service=ref["service"],
                          path=ref["path"], method=ref["method"])
        try:
            with s.begin_nested():
                s.add(rule)
        except sa.exc.IntegrityError:
            rule = find()
            if rule is None:
                raise
        return rule

    def attach(self, s, credential_id: str, rules: list[AccessRule]) -> None:
        for rule in rules:
            s.add(ApplicationCredentialAccessRule(application_credential_id=credential_id,
                                                  access_rule_id=rule.id))

    def list(self, user_id: str, query: dict | None = None) -> list[AccessRule]:
        """The user's rules, filtered by ``service``, ``path``, ``method`` (exact)."""
        stmt = sa.select(AccessRule).where(AccessRule.user_id == user_id).order_by(
            AccessRule.service, AccessRule.path, AccessRule.method, AccessRule.id)
        for f in FIELDS:
            values = (query or {}).get(f)
            if values:
                stmt = stmt.where(getattr(AccessRule, f).in_(values))
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def get(self, rule_id: str, user_id: str) -> AccessRule:
        """The rule; 404 if unknown or not ``user_id``'s."""
        with self.identity.read() as s:
            rule = s.get(AccessRule, rule_id)
        if rule is None or rule.user_id != user_id:
            raise exc.NotFound(resource="access rule", id=rule_id)
        return rule

    def delete(self, rule_id: str, user_id: str) -> None:
        """Delete the rule; 403 while an application credential uses it."""
        with self.identity.write() as s:
            rule = s.get(AccessRule, rule_id)
            if rule is None or rule.user_id != user_id:
                raise exc.NotFound(resource="access rule", id=rule_id)
            used = s.scalar(sa.select(ApplicationCredentialAccessRule.application_credential_id)
                            .where(ApplicationCredentialAccessRule.access_rule_id == rule_id)
                            .limit(1))
            if used is not None:
                raise exc.Forbidden(f"Unable to delete access rule {rule_id} because it is "
                                    f"still in use by application credential {used}.")
            s.delete(rule)
