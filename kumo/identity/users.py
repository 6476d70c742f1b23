"""Users, groups and group membership (Identity API v3: "Users", "Groups").

Passwords are bcrypt hashes. A user's own password change needs the original password;
changing a password or disabling a user revokes the user's tokens.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common import filters
from kumo.common.timeutils import utcnow
from kumo.identity import models
from kumo.identity import models_fed
from kumo.identity.manager import new_id

#: User attributes with columns of their own; any other attribute goes to ``extra``.
USER_COLUMNS = ("name", "domain_id", "enabled", "default_project_id", "options")


def _not_null(key: str, value):
    """A nullable text attribute set to null is stored as "" (as created)."""
    return "" if value is None and key in ("description", "name") else value


class Users:
    def __init__(self, identity):
        self.identity = identity

    # -- users ----------------------------------------------------------------
    def create_user(self, attrs: dict, by_admin: bool = True) -> models.User:
        """Create a user from the request's ``user`` object; 409 on a duplicate name.
        ``by_admin=False`` (bootstrap) skips the security compliance rules for a new
        password (regex, change upon first use)."""
        attrs = dict(attrs)
        password = attrs.pop("password", None)
        if password and by_admin:
            self.identity.compliance.validate_new(password)
        password_hash = self.identity.hash_secret(password) if password else None
        domain_id = attrs.pop("domain_id", None) or "default"
        with self.identity.write() as s:
            if s.get(models.Domain, domain_id) is None:
                raise exc.NotFound(resource="domain", id=domain_id)
            name = attrs.pop("name")
            if s.scalar(sa.select(models.User.id).where(
                    models.User.domain_id == domain_id, models.User.name == name)):
                raise exc.Conflict(resource="user",
                                   details=f"Duplicate entry found with name {name} at "
                                           f"domain ID {domain_id}.")
            now = utcnow()
            user = models.User(
                id=attrs.pop("id", None) or new_id(), name=name, domain_id=domain_id,
                enabled=attrs.pop("enabled", True),
                default_project_id=attrs.pop("default_project_id", None),
                options=attrs.pop("options", None) or {}, created_at=now, extra=attrs)
            s.add(user)
            if password_hash is not None:
                s.flush()
                self.identity.compliance.set_password(s, user, password_hash,
                                                      self_service=False, by_admin=by_admin)
            return user

    def get_user(self, user_id: str) -> models.User:
        """The user, cached; 404 if unknown."""
        def load():
            with self.identity.read() as s:
                return s.get(models.User, user_id)
        user = self.identity.cache.get(("user", user_id), load)
        if user is None:
            raise exc.NotFound(resource="user", id=user_id)
        return user

    def find_user(self, ref: dict) -> models.User:
        """A user named by ``{"id"}`` or ``{"name", "domain": {"id"|"name"}}``; 404."""
        if ref.get("id"):
            return self.get_user(ref["id"])
        domain = self.identity.resources.find_domain(ref.get("domain") or {})
        key = ("user-by-name", domain.id, ref.get("name"))

        def load():
            with self.identity.read() as s:
                return s.scalar(sa.select(models.User).where(
                    models.User.domain_id == domain.id, models.User.name == ref.get("name")))
        user = self.identity.cache.get(key, load)
        if user is None:
            raise exc.NotFound(resource="user", id=ref.get("name"))
        return user

    def list_users(self, query: dict[str, list[str]],
                   group_id: str | None = None) -> list[models.User]:
        stmt = sa.select(models.User).order_by(models.User.name)
        stmt = filters.apply(stmt, query, {
            "name": models.User.name, "enabled": models.User.enabled,
            "domain_id": models.User.domain_id, "id": models.User.id,
        }, booleans=("enabled",), inexact=("name",))
        if group_id is not None:
            stmt = stmt.join(models.UserGroupMembership,
                             models.UserGroupMembership.user_id == models.User.id).where(
                models.UserGroupMembership.group_id == group_id)
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def update_user(self, user_id: str, changes: dict, by_admin: bool = True,
                    self_service: bool = False) -> models.User:
        """Update attributes; a new password or ``enabled: false`` revokes tokens.
        A new password follows the security compliance rules (kumo/identity/
        compliance.py): an admin's reset skips history and minimum age; a
        ``self_service`` change (``change_password``) does not."""
        changes = dict(changes)
        password = changes.pop("password", None)
        if password and (by_admin or self_service):
            self.identity.compliance.validate_new(password)
        if self_service and password:
            self.identity.compliance.check_self_service(user_id, password)
        password_hash = self.identity.hash_secret(password) if password else None
        with self.identity.write() as s:
            user = s.get(models.User, user_id)
            if user is None:
                raise exc.NotFound(resource="user", id=user_id)
            if "domain_id" in changes and changes["domain_id"] != user.domain_id:
                raise exc.ValidationError("Update of `domain_id` is not allowed.")
            changes.pop("domain_id", None)
            changes.pop("id", None)
            if "name" in changes and changes["name"] != user.name and s.scalar(
                    sa.select(models.User.id).where(models.User.domain_id == user.domain_id,
                                                    models.User.name == changes["name"])):
                raise exc.Conflict(resource="user",
                                   details=f"Duplicate entry found with name {changes['name']} "
                                           f"at domain ID {user.domain_id}.")
            revoke = (password_hash is not None
                      or (changes.get("enabled") is False and user.enabled))
            extra = dict(user.extra)
            for key, value in changes.items():
                if key in USER_COLUMNS:
                    setattr(user, key, value)
                else:
                    extra[key] = value
            user.extra = extra
            if password_hash is not None:
                self.identity.compliance.set_password(
                    s, user, password_hash, self_service=self_service,
                    by_admin=by_admin and not self_service)
            if revoke:
                self.identity.auth.revoke(s, user_id=user_id)
            return user

    def change_password(self, user_id: str, original: str, new: str) -> None:
        """A user's own password change; 401 if ``original`` is wrong or the user does
        not exist (the call needs no token, so it must not tell which)."""
        try:
            user = self.get_user(user_id)
        except exc.NotFound:
            self.identity.check_secret(original, None)
            raise exc.Unauthorized() from None
        # Lockout counts here too; an expired password may still be changed (Keystone).
        self.identity.compliance.check_password(user, original, allow_expired=True)
        self.update_user(user_id, {"password": new}, by_admin=False, self_service=True)

    def delete_user(self, user_id: str) -> None:
        with self.identity.write() as s:
            user = s.get(models.User, user_id)
            if user is None:
                raise exc.NotFound(resource="user", id=user_id)
            self.identity.assignments.delete_actor_grants(s, [user_id])
            s.execute(sa.delete(models.UserGroupMembership).where(
                models.UserGroupMembership.user_id == user_id))
            for table in (models_fed.ExpiringGroupMembership, models_fed.FederatedUser,
                          models_fed.OAuth1AccessToken):
                key = table.authorizing_user_id if table is models_fed.OAuth1AccessToken \
                    else table.user_id
                s.execute(sa.delete(table).where(key == user_id))
            s.execute(sa.delete(models.ApplicationCredential).where(
                models.ApplicationCredential.user_id == user_id))
            s.execute(sa.delete(models.PasswordHistory).where(
                models.PasswordHistory.user_id == user_id))
            s.delete(user)
            self.identity.auth.revoke(s, user_id=user_id)

    # -- groups ---------------------------------------------------------------
    def create_group(self, name: str, domain_id: str | None, description: str = "",
                     extra: dict | None = None) -> models.Group:
        domain_id = domain_id or "default"
        with self.identity.write() as s:
            if s.get(models.Domain, domain_id) is None:
                raise exc.NotFound(resource="domain", id=domain_id)
            if s.scalar(sa.select(models.Group.id).where(
                    models.Group.domain_id == domain_id, models.Group.name == name)):
                raise exc.Conflict(resource="group",
                                   details=f"Duplicate entry found with name {name} at "
                                           f"domain ID {domain_id}.")
            group = models.Group(id=new_id(), name=name, domain_id=domain_id,
                                 description=description or "", extra=extra or {})
            s.add(group)
            return group

    def get_group(self, group_id: str) -> models.Group:
        def load():
            with self.identity.read() as s:
                return s.get(models.Group, group_id)
        group = self.identity.cache.get(("group", group_id), load)
        if group is None:
            raise exc.NotFound(resource="group", id=group_id)
        return group

    def list_groups(self, query: dict[str, list[str]],
                    user_id: str | None = None) -> list[models.Group]:
        stmt = sa.select(models.Group).order_by(models.Group.name)
        stmt = filters.apply(stmt, query, {
            "name": models.Group.name, "domain_id": models.Group.domain_id,
        }, inexact=("name",))
        if user_id is not None:
            stmt = stmt.join(models.UserGroupMembership,
                             models.UserGroupMembership.group_id == models.Group.id).where(
                models.UserGroupMembership.user_id == user_id)
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def update_group(self, group_id: str, changes: dict) -> models.Group:
        with self.identity.write() as s:
            group = s.get(models.Group, group_id)
            if group is None:
                raise exc.NotFound(resource="group", id=group_id)
            if "domain_id" in changes and changes["domain_id"] != group.domain_id:
                raise exc.ValidationError("Update of `domain_id` is not allowed.")
            if "name" in changes and changes["name"] != group.name and s.scalar(
                    sa.select(models.Group.id).where(models.Group.domain_id == group.domain_id,
                                                     models.Group.name == changes["name"])):
                raise exc.Conflict(resource="group",
                                   details=f"Duplicate entry found with name {changes['name']} "
                                           f"at domain ID {group.domain_id}.")
            for key in ("name", "description"):
                if key in changes:
                    setattr(group, key, _not_null(key, changes[key]))
            return group

    def delete_group(self, group_id: str) -> None:
        with self.identity.write() as s:
            group = s.get(models.Group, group_id)
            if group is None:
                raise exc.NotFound(resource="group", id=group_id)
            members = list(s.scalars(sa.select(models.UserGroupMembership.user_id).where(
                models.UserGroupMembership.group_id == group_id)))
            self.identity.assignments.delete_actor_grants(s, [group_id])
            s.execute(sa.delete(models.UserGroupMembership).where(
                models.UserGroupMembership.group_id == group_id))
            members += list(s.scalars(sa.delete(models_fed.ExpiringGroupMembership).where(
                models_fed.ExpiringGroupMembership.group_id == group_id).returning(
                models_fed.ExpiringGroupMembership.user_id)))
            s.delete(group)
            for user_id in members:
                self.identity.auth.revoke(s, user_id=user_id)

    def add_member(self, group_id: str, user_id: str) -> None:
        with self.identity.write() as s:
            self._check_pair(s, group_id, user_id)
            if s.get(models.UserGroupMembership, (user_id, group_id)) is None:
                s.add(models.UserGroupMembership(user_id=user_id, group_id=group_id))

    def remove_member(self, group_id: str, user_id: str) -> None:
        """Remove; 404 if the user is not a member. Revokes the user's tokens."""
        with self.identity.write() as s:
            self._check_pair(s, group_id, user_id)
            row = s.get(models.UserGroupMembership, (user_id, group_id))
            if row is None:
                raise exc.NotFound(f"User {user_id} is not a member of group {group_id}.")
            s.delete(row)
            self.identity.auth.revoke(s, user_id=user_id)

    def is_member(self, group_id: str, user_id: str) -> bool:
        with self.identity.read() as s:
            self._check_pair(s, group_id, user_id)
            return s.get(models.UserGroupMembership, (user_id, group_id)) is not None

    def group_ids_of(self, user_id: str) -> tuple[str, ...]:
        def load():
            with self.identity.read() as s:
                return tuple(s.scalars(sa.select(models.UserGroupMembership.group_id).where(
                    models.UserGroupMembership.user_id == user_id)))
        return self.identity.cache.get(("groups-of", user_id), load)

    @staticmethod
    def _check_pair(s, group_id: str, user_id: str) -> None:
        if s.get(models.Group, group_id) is None:
            raise exc.NotFound(resource="group", id=group_id)
        if s.get(models.User, user_id) is None:
            raise exc.NotFound(resource="user", id=user_id)
