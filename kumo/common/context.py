"""The request context every handler receives: who is calling, in what scope, with
which roles, and the policy check bound to them."""
from __future__ import annotations

from dataclasses import dataclass, field

from kumo.common import exceptions as exc


@dataclass
class RequestContext:
    """The validated caller of one request.

    ``roles`` are role names (implied roles included); ``system_scope`` is ``"all"`` for a
    system-scoped token; exactly one of project, domain and system scope is set for a
    scoped token and none for an unscoped one. ``token`` is the identity service's
    validated token object (``None`` when the request carried no token).
    """

    user_id: str | None = None
    user_name: str | None = None
    user_domain_id: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None
    system_scope: str | None = None
    roles: list[str] = field(default_factory=list)
    auth_token: str | None = None
    token: object | None = None
    request_id: str | None = None
    policy: object | None = None

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def credentials(self) -> dict:
        """The credentials dict oslo.policy checks rules against."""
        return {
            "user_id": self.user_id,
            "project_id": self.project_id,
            "domain_id": self.domain_id,
            "project_domain_id": self.project_domain_id,
            "system_scope": self.system_scope,
            "roles": self.roles,
        }

    def can(self, action: str, target: dict | None = None) -> bool:
        return self.policy.check(action, target or {}, self.credentials())

    def enforce(self, action: str, target: dict | None = None) -> None:
        """Raise 403 unless policy allows ``action`` on ``target``."""
        if not self.authenticated:
            raise exc.Unauthorized()
        self.policy.enforce(action, target or {}, self.credentials())
