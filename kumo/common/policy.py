"""Policy enforcement for every Kumo service, through oslo.policy.

Services register their defaults (``oslo_policy.policy.RuleDefault``) with
:func:`register`; an operator overrides any of them in ``policy.yaml`` (the path is
``Settings.policy_path``; oslo.policy reloads it when it changes).

The personas, as base rules every service builds on:

- ``admin``: the ``admin`` role on any scope; may do everything.
- ``project_member``: the ``member`` role on the target's project.
- ``project_reader``: the ``reader`` role on the target's project (implied by member).
- ``owner``: the caller is the target user.
- ``service``: the ``service`` role (Keystone's bootstrap role for service users, e.g.
  Kumo's agents; Neutron's ``service_api``). It implies no other role: rules that let a
  service user in name it, and :func:`sees_all` lets it read every project's rows
  where a service's own queries decide visibility (as Neutron's model queries do).
"""
from __future__ import annotations

import os
import threading
import time

from oslo_config import cfg
from oslo_policy import policy as oslo_policy

from kumo.common import exceptions as exc

RuleDefault = oslo_policy.RuleDefault

BASE_RULES = [
    RuleDefault("admin", "role:admin", "The cloud administrator."),
    RuleDefault("project_member", "role:member and project_id:%(project_id)s",
                "A member of the target's project."),
    RuleDefault("project_reader", "role:reader and project_id:%(project_id)s",
                "A reader of the target's project."),
    RuleDefault("owner", "user_id:%(user_id)s", "The caller is the target user."),
    RuleDefault("service", "role:service",
                "A service user (Kumo's agents; Neutron's service_api)."),
    RuleDefault("service_api", "rule:service", "Neutron's name for the service persona."),
    RuleDefault("admin_or_service", "rule:admin or rule:service"),
    RuleDefault("admin_or_member", "rule:admin or rule:project_member"),
    RuleDefault("admin_or_reader", "rule:admin or rule:project_reader"),
    RuleDefault("admin_or_owner", "rule:admin or rule:owner"),
    RuleDefault("authenticated", "@", "Any authenticated caller."),
]

#: The role of service users (Keystone bootstraps it; it implies no other role).
SERVICE_ROLE = "service"

_registry: dict[str, RuleDefault] = {}


def sees_all(ctx) -> bool:
    """True if ``ctx`` reads every project's rows: an admin, or a service user (as
    Neutron's ``model_query`` scopes neither ``is_admin`` nor ``is_service_role``
    contexts to a project). What it may *do* with them is still up to the policies."""
    return ctx is not None and (ctx.is_admin or SERVICE_ROLE in ctx.roles)


def register(rules: list[RuleDefault]) -> None:
    """Add default rules (module import time); later names replace earlier ones."""
    for rule in rules:
        _registry[rule.name] = rule


register(BASE_RULES)


class PolicyEngine:
    """An oslo.policy ``Enforcer`` over the registered defaults and ``policy_file``.

    Decisions are memoized per (action, target, credentials) until ``policy_file``
    changes; the file's modification time is checked at most every ``recheck_s``
    seconds, so an operator's edit takes effect within that time without a restart.
    """

    MEMO_MAX = 50_000

    def __init__(self, policy_file: str, recheck_s: float = 1.0):
        conf = cfg.ConfigOpts()
        conf([], project="kumo", default_config_files=[], default_config_dirs=[])
        self.policy_file = policy_file
        self.recheck_s = recheck_s
        self._enforcer = oslo_policy.Enforcer(conf, policy_file=policy_file)
        self._enforcer.register_defaults(list(_registry.values()))
        self._lock = threading.Lock()
        self._memo: dict = {}
        self._mtime: int | None = -1
        self._checked_at = 0.0
        self._maybe_reload()

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < self.recheck_s:
            return
        self._checked_at = now
        try:
            mtime = os.stat(self.policy_file).st_mtime_ns
        except OSError:
            mtime = None
        if mtime != self._mtime:
            with self._lock:  # load_rules is not thread-safe
                self._enforcer.load_rules(force_reload=True)
                self._mtime = mtime
                self._memo = {}

    def check(self, action: str, target: dict, credentials: dict) -> bool:
        """True if ``credentials`` may do ``action`` on ``target``."""
        self._maybe_reload()
        try:
            key = (action, tuple(sorted(target.items())),
                   tuple((k, tuple(v) if isinstance(v, list) else v)
                         for k, v in sorted(credentials.items())))
            hash(key)
        except TypeError:
            key = None
        if key is not None:
            decision = self._memo.get(key)
            if decision is not None:
                return decision
        try:
            decision = bool(self._enforcer.enforce(action, target, credentials))
        except oslo_policy.PolicyNotRegistered:
            raise exc.KumoError(f"Policy {action} is not registered.") from None
        if key is not None:
            if len(self._memo) >= self.MEMO_MAX:
                self._memo = {}
            self._memo[key] = decision
        return decision

    def enforce(self, action: str, target: dict, credentials: dict) -> None:
        """Raise :class:`~kumo.common.exceptions.PolicyNotAuthorized` (403) if denied."""
        if not self.check(action, target, credentials):
            raise exc.PolicyNotAuthorized(action=action)
