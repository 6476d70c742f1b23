"""Application credentials (Identity API v3: "Application Credentials").

A credential belongs to a user and a project and delegates a subset of the user's roles
there. Its secret is shown once, at creation, and stored as a bcrypt hash. Tokens issued
with it carry only the delegated roles still held by the user.
"""
from __future__ import annotations

import base64
import secrets

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.identity import models
from kumo.identity.access_rules import rule_dict
from kumo.identity.manager import new_id


class ApplicationCredentials:
    def __init__(self, identity):
        self.identity = identity

    def create(self, user_id: str, project_id: str, name: str, secret: str | None = None,
               description: str = "", expires_at=None, roles: list[dict] | None = None,
               unrestricted: bool = False, access_rules: list | None = None,
               held_role_ids: list[str] | None = None) -> tuple[models.ApplicationCredential, str]:
        """Create; returns the row and the clear secret.

        ``roles`` are ``{"id"}`` or ``{"name"}`` refs and default to ``held_role_ids`` (the
        roles of the creating token); a role the user does not hold on the project is 404.
        409 if the user already has a credential of that name; 400 if ``expires_at`` is
        in the past. ``access_rules`` are ``{"service", "path", "method"}`` or ``{"id"}``
        refs (see :meth:`AccessRules.resolve`); the row's ``access_rules`` keeps them as
        ``{"id", "service", "path", "method"}`` (rules never change while in use).
        """
        assignments = self.identity.assignments
        held = assignments.effective_role_ids(user_id, ("project", project_id))
        if roles:
            role_ids = []
            for ref in roles:
                role = assignments.get_role(ref["id"]) if ref.get("id") else \
                    assignments.find_role(ref.get("name", ""))
                if role.id not in held:
                    raise exc.NotFound(f"Could not find role assignment with role: {role.id}, "
                                       f"user or group: {user_id}, project, domain, or "
                                       f"system: {project_id}.")
                role_ids.append(role.id)
        else:
            role_ids = list(held_role_ids or held)
        if expires_at is not None and expires_at <= utcnow():
            raise exc.ValidationError("The expiration time of an application credential "
                                      "must be in the future.")
        secret = secret or base64.urlsafe_b64encode(secrets.token_bytes(64)).decode().rstrip("=")
        secret_hash = self.identity.hash_secret(secret)
        with self.identity.write() as s:
            if s.scalar(sa.select(models.ApplicationCredential.id).where(
                    models.ApplicationCredential.user_id == user_id,
                    models.ApplicationCredential.name == name)):
                raise exc.Conflict(resource="application_credential",
                                   details=f"Duplicate entry found with name {name}.")
            rules = self.identity.access_rules.resolve(s, user_id, access_rules or [])
            cred = models.ApplicationCredential(
                id=new_id(), name=name, user_id=user_id, project_id=project_id,
                secret_hash=secret_hash, description=description or "", expires_at=expires_at,
                unrestricted=unrestricted, roles=list(dict.fromkeys(role_ids)),
                access_rules=[rule_dict(r) for r in rules])
            s.add(cred)
            s.flush()
            self.identity.access_rules.attach(s, cred.id, rules)
        return cred, secret

    def get(self, credential_id: str, user_id: str | None = None) -> models.ApplicationCredential:
        """The credential (cached); 404 if unknown or not ``user_id``'s."""
        def load():
            with self.identity.read() as s:
                return s.get(models.ApplicationCredential, credential_id)
        cred = self.identity.cache.get(("app-cred", credential_id), load)
        if cred is None or (user_id is not None and cred.user_id != user_id):
            raise exc.NotFound(resource="application credential", id=credential_id)
        return cred

    def find(self, user_id: str, name: str) -> models.ApplicationCredential:
        with self.identity.read() as s:
            cred = s.scalar(sa.select(models.ApplicationCredential).where(
                models.ApplicationCredential.user_id == user_id,
                models.ApplicationCredential.name == name))
        if cred is None:
            raise exc.NotFound(resource="application credential", id=name)
        return cred

    def list(self, user_id: str, name: str | None = None) -> list[models.ApplicationCredential]:
        stmt = sa.select(models.ApplicationCredential).where(
            models.ApplicationCredential.user_id == user_id).order_by(
            models.ApplicationCredential.name)
        if name:
            stmt = stmt.where(models.ApplicationCredential.name == name)
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def delete(self, credential_id: str, user_id: str) -> None:
        """Delete and revoke every token issued with it."""
        self.get(credential_id, user_id)
        with self.identity.write() as s:
            s.execute(sa.delete(models.ApplicationCredential).where(
                models.ApplicationCredential.id == credential_id))
            self.identity.auth.revoke(s, application_credential_id=credential_id)
