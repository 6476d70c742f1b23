"""Trusts (Identity API v3 "OS-TRUST"): a trustor delegates some of their roles on a
project to a trustee, optionally with impersonation, an expiry, a number of uses and
redelegation.

Keystone's rules: only the trustor creates a trust (from a token of theirs); the roles
must be ones the trustor holds on the project; only the trustee may get a
trust-scoped token; each such token consumes one of ``remaining_uses``; an expired or deleted trust, or a trustor who lost the roles,
invalidates its tokens (validation re-reads the trust).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.identity.manager import new_id
from kumo.identity.models_more import Trust

#: Keystone's ``[trust] max_redelegation_count`` default.
MAX_REDELEGATION_COUNT = 3


class Trusts:
    def __init__(self, identity):
        self.identity = identity

    def create(self, ref: dict, caller_token) -> Trust:
        """Create from the request's ``trust`` object; ``caller_token`` is the
        creating token (its user must be the trustor; a trust-scoped token redelegates)."""
        identity = self.identity
        trustor_id, trustee_id = ref["trustor_user_id"], ref["trustee_user_id"]
        if caller_token.user.id != trustor_id:
            raise exc.Forbidden("The authenticated user should match the trustor.")
        identity.users.get_user(trustee_id)
        project_id = ref.get("project_id")
        roles = ref.get("roles") or []
        if roles and not project_id:
            raise exc.Forbidden("Can not delegate roles without a project.")
        role_ids = []
        for role_ref in roles:
            role = identity.assignments.get_role(role_ref["id"]) if role_ref.get("id") else \
                identity.assignments.find_role(role_ref.get("name", ""))
            role_ids.append(role.id)
        role_ids = list(dict.fromkeys(role_ids))
        parent = getattr(caller_token, "trust", None)
        if project_id:
            identity.resources.get_project(project_id)
        if project_id and parent is None:
            held = set(identity.assignments.effective_role_ids(trustor_id,
                                                               ("project", project_id)))
            missing = [r for r in role_ids if r not in held]
            if missing:
                raise exc.Forbidden(f"The trustor does not hold role {missing[0]} on "
                                    f"project {project_id}.")
        expires_at = ref.get("expires_at")
        if expires_at is not None and expires_at <= utcnow():
            raise exc.ValidationError("Invalid input for field 'expires_at': the "
                                      "expiration time must be in the future.")
        uses = ref.get("remaining_uses")
        allow = bool(ref.get("allow_redelegation"))
        count = ref.get("redelegation_count")
        if parent is not None:
            count, expires_at = self._redelegate(parent, ref, role_ids, count, expires_at)
            allow = allow and count > 0
        elif allow:
            count = MAX_REDELEGATION_COUNT if count is None else count
            if count > MAX_REDELEGATION_COUNT:
                raise exc.Forbidden(f"Remaining redelegation depth of {count} out of "
                                    f"allowed range of [0..{MAX_REDELEGATION_COUNT}].")
        else:
            count = None
        trust = Trust(id=new_id(), trustor_user_id=trustor_id, trustee_user_id=trustee_id,
                      project_id=project_id, impersonation=bool(ref["impersonation"]),
                      expires_at=expires_at, remaining_uses=uses, allow_redelegation=allow,
                      redelegation_count=(count if allow else 0) if parent is not None
                      else (count if allow else None),
                      redelegated_trust_id=parent.id if parent is not None else None,
                      roles=role_ids, extra={})
        with identity.write() as s:
            s.add(trust)
        return trust

    def _redelegate(self, parent: Trust, ref: dict, role_ids: list[str], count,
                    expires_at) -> tuple[int, dt.datetime | None]:
        if not parent.allow_redelegation or not parent.redelegation_count:
            raise exc.Forbidden("Requested redelegation depth of 1 is greater than "
                                "allowed 0.")
        if ref.get("project_id") != parent.project_id:
            raise exc.Forbidden("Redelegated trusts must be on the original project.")
        delegated = set(self.identity.assignments.expand(parent.roles))
        if not set(role_ids) <= delegated:
            raise exc.Forbidden("Some of requested roles are not in redelegated trust.")
        if ref["impersonation"] and not parent.impersonation:
            raise exc.Forbidden("Impersonation is not allowed because redelegated trust "
                                "does not specify impersonation.")
        if parent.expires_at is not None:
            if expires_at is None or expires_at > parent.expires_at:
                raise exc.Forbidden("Requested expiration time is more than redelegated "
                                    "trust can provide.")
        allowed = parent.redelegation_count - 1
        if count is not None and count > allowed:
            raise exc.Forbidden(f"Requested redelegation depth of {count} is greater "
                                f"than allowed {allowed}.")
        return (allowed if count is None else count), expires_at

    def get(self, trust_id: str, live: bool = True, used_up_ok: bool = False) -> Trust:
        """The trust; 404 if unknown, deleted, (``live``) expired, or with no remaining
        uses (unless ``used_up_ok``: tokens issued before the last use stay valid)."""
        def load():
            with self.identity.read() as s:
                return s.get(Trust, trust_id)
        trust = self.identity.cache.get(("trust", trust_id), load)
        if trust is None or trust.deleted_at is not None or (
                live and trust.expires_at is not None and trust.expires_at <= utcnow()) or (
                not used_up_ok and trust.remaining_uses is not None
                and trust.remaining_uses <= 0):
            raise exc.NotFound(resource="trust", id=trust_id)
        return trust

    def list(self, trustor_user_id: str | None = None,
             trustee_user_id: str | None = None) -> list[Trust]:
        stmt = sa.select(Trust).where(Trust.deleted_at.is_(None)).order_by(Trust.id)
        if trustor_user_id:
            stmt = stmt.where(Trust.trustor_user_id == trustor_user_id)
        if trustee_user_id:
            stmt = stmt.where(Trust.trustee_user_id == trustee_user_id)
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def delete(self, trust_id: str) -> None:
        """Delete (soft, as Keystone) the trust and the trusts redelegated from it;
        their tokens stop validating."""
        with self.identity.write() as s:
            trust = s.get(Trust, trust_id)
            if trust is None or trust.deleted_at is not None:
                raise exc.NotFound(resource="trust", id=trust_id)
            now = utcnow()
            todo = [trust]
            while todo:
                row = todo.pop()
                row.deleted_at = now
                todo.extend(s.scalars(sa.select(Trust).where(
                    Trust.redelegated_trust_id == row.id, Trust.deleted_at.is_(None))))

    def consume(self, trust_id: str) -> None:
        """Use the trust once (a trust-scoped token is issued): decrement
        ``remaining_uses``; none left is 403 (after the last use, the trust is no
        longer shown, as Keystone's ``get_trust``)."""
        with self.identity.write() as s:
            trust = s.scalar(sa.select(Trust).where(Trust.id == trust_id)
                             .with_for_update())
            if trust is None or trust.deleted_at is not None:
                raise exc.NotFound(resource="trust", id=trust_id)
            if trust.remaining_uses is None:
                return
            if trust.remaining_uses <= 0:
                raise exc.Forbidden(f"No remaining uses for trust: {trust_id}.")
            trust.remaining_uses -= 1
