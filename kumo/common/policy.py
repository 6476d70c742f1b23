"""Policy enforcement for every Kumo service, through oslo.policy.

Services register their defaults (``oslo_policy.policy.RuleDefault``) with
:func:`register`; an operator overrides any of them in ``policy.yaml`` (the path is
``Settings.policy_path``; oslo.policy reloads it when it changes).

The personas, as base rules every service builds on:

- ``admin``: the ``admin`` role on any scope; may do everything.
- ``project_member``: the ``member`` role on the target's project.
- ``project_reader``: the ``reader`` role on the target's project (implied by member).
- ``owner``: the caller is the target user.
"""
from __future__ import annotations

import threading

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
    RuleDefault("admin_or_member", "rule:admin or rule:project_member"),
    RuleDefault("admin_or_reader", "rule:admin or rule:project_reader"),
    RuleDefault("admin_or_owner", "rule:admin or rule:owner"),
    RuleDefault("authenticated", "@", "Any authenticated caller."),
]

_registry: dict[str, RuleDefault] = {}


def register(rules: list[RuleDefault]) -> None:
    """Add default rules (module import time); later names replace earlier ones."""
    for rule in rules:
        _registry[rule.name] = rule


register(BASE_RULES)


class PolicyEngine:
    """An oslo.policy ``Enforcer`` over the registered defaults and ``policy_file``."""

    def __init__(self, policy_file: str):
        conf = cfg.ConfigOpts()
        conf([], project="kumo", default_config_files=[], default_config_dirs=[])
        self._enforcer = oslo_policy.Enforcer(conf, policy_file=policy_file)
        self._enforcer.register_defaults(list(_registry.values()))
        self._lock = threading.Lock()

    def check(self, action: str, target: dict, credentials: dict) -> bool:
        """True if ``credentials`` may do ``action`` on ``target``."""
        with self._lock:
            # load_rules re-reads policy.yaml when it changed; it is not thread-safe.
            self._enforcer.load_rules()
        try:
            return bool(self._enforcer.enforce(action, target, credentials))
        except oslo_policy.PolicyNotRegistered:
            raise exc.KumoError(f"Policy {action} is not registered.") from None

    def enforce(self, action: str, target: dict, credentials: dict) -> None:
        """Raise :class:`~kumo.common.exceptions.PolicyNotAuthorized` (403) if denied."""
        if not self.check(action, target, credentials):
            raise exc.PolicyNotAuthorized(action=action)
