"""Roles, implied roles and role assignments (Identity API v3: "Roles",
"Role assignments", "Implied roles").

An assignment grants a role to a user or group on a project, a domain or the system.
Effective roles of a user on a scope add the user's groups' grants, grants inherited
(``OS-INHERIT``) from the project's domain and ancestors, and the implied roles of all of
those, transitively (admin implies member implies reader).
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common import filters
from kumo.identity import models
from kumo.common.timeutils import utcnow
from kumo.identity.manager import new_id

SYSTEM = "system"
#: Roles no role may imply (Keystone's ``[assignment] prohibited_implied_role``).
PROHIBITED_IMPLIED = ("admin",)
TYPES = {("user", "project"): "UserProject", ("group", "project"): "GroupProject",
         ("user", "domain"): "UserDomain", ("group", "domain"): "GroupDomain",
         ("user", "system"): "UserSystem", ("group", "system"): "GroupSystem"}


@dataclass(frozen=True)
class Assignment:
    """One row of ``GET /v3/role_assignments``.

    ``actor`` is ``("user"|"group", id)``, ``target`` is ``("project"|"domain"|"system",
    id)``; ``via_group`` and ``prior_role`` say how an effective assignment was derived.
    """

    actor: tuple[str, str]
    target: tuple[str, str]
    role_id: str
    inherited: bool = False
    via_group: str | None = None
    prior_role: str | None = None
    inherited_from: tuple[str, str] | None = None


def _not_null(key: str, value):
    """A nullable text attribute set to null is stored as "" (as created)."""
    return "" if value is None and key in ("description", "name") else value


class Assignments:
    def __init__(self, identity):
        self.identity = identity

    # -- roles ----------------------------------------------------------------
    def create_role(self, name: str, domain_id: str | None = None, description: str = "",
                    options: dict | None = None, role_id: str | None = None) -> models.Role:
        domain_key = domain_id or models.NULL_DOMAIN_ID
        with self.identity.write() as s:
            if domain_id and s.get(models.Domain, domain_id) is None:
                raise exc.NotFound(resource="domain", id=domain_id)
            if s.scalar(sa.select(models.Role.id).where(
                    models.Role.name == name, models.Role.domain_id == domain_key)):
                raise exc.Conflict(resource="role",
                                   details=f"Duplicate entry found with name {name}.")
            role = models.Role(id=role_id or new_id(), name=name, domain_id=domain_key,
                               description=description or "", options=options or {}, extra={})
            s.add(role)
            return role

    def get_role(self, role_id: str) -> models.Role:
        role = self.roles_by_id().get(role_id)
        if role is None:
            raise exc.NotFound(resource="role", id=role_id)
        return role

    def roles_by_id(self) -> dict[str, models.Role]:
        """Every role, cached."""
        def load():
            with self.identity.read() as s:
                return {r.id: r for r in s.scalars(sa.select(models.Role))}
        return self.identity.cache.get("roles", load)

    def find_role(self, name_or_id: str) -> models.Role:
        roles = self.roles_by_id()
        if name_or_id in roles:
            return roles[name_or_id]
        for role in roles.values():
            if role.name == name_or_id and role.domain_id == models.NULL_DOMAIN_ID:
                return role
        raise exc.NotFound(resource="role", id=name_or_id)

    def list_roles(self, query: dict[str, list[str]]) -> list[models.Role]:
        """Roles by the reference's filters (``query``: each parameter's values)."""
        stmt = sa.select(models.Role).order_by(models.Role.name)
        domain_id = (query.get("domain_id") or [None])[-1]
        stmt = stmt.where(models.Role.domain_id == (domain_id or models.NULL_DOMAIN_ID))
        stmt = filters.apply(stmt, query, {"name": models.Role.name, "id": models.Role.id},
                             inexact=("name",))
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def update_role(self, role_id: str, changes: dict) -> models.Role:
        with self.identity.write() as s:
            role = s.get(models.Role, role_id)
            if role is None:
                raise exc.NotFound(resource="role", id=role_id)
            if "domain_id" in changes and (changes["domain_id"] or models.NULL_DOMAIN_ID) \
                    != role.domain_id:
                raise exc.ValidationError("Update of `domain_id` is not allowed.")
            if "name" in changes and changes["name"] != role.name and s.scalar(
                    sa.select(models.Role.id).where(models.Role.name == changes["name"],
                                                    models.Role.domain_id == role.domain_id)):
                raise exc.Conflict(resource="role",
                                   details=f"Duplicate entry found with name {changes['name']}.")
            for key in ("name", "description", "options"):
                if key in changes:
                    setattr(role, key, _not_null(key, changes[key]))
            return role

    def delete_role(self, role_id: str) -> None:
        with self.identity.write() as s:
            role = s.get(models.Role, role_id)
            if role is None:
                raise exc.NotFound(resource="role", id=role_id)
            s.execute(sa.delete(models.RoleAssignment).where(
                models.RoleAssignment.role_id == role_id))
            s.execute(sa.delete(models.ImpliedRole).where(
                (models.ImpliedRole.prior_role_id == role_id)
                | (models.ImpliedRole.implied_role_id == role_id)))
            s.delete(role)
            self.identity.auth.revoke(s, role_id=role_id)

    # -- implied roles --------------------------------------------------------
    def implications(self) -> dict[str, tuple[str, ...]]:
        """prior role id -> directly implied role ids, cached."""
        def load():
            out: dict[str, list[str]] = {}
            with self.identity.read() as s:
                for row in s.scalars(sa.select(models.ImpliedRole)):
                    out.setdefault(row.prior_role_id, []).append(row.implied_role_id)
            return {k: tuple(v) for k, v in out.items()}
        return self.identity.cache.get("implications", load)

    def create_implied_role(self, prior_id: str, implied_id: str) -> None:
        """Make ``prior`` imply ``implied``; 400 for a cycle, 404 for unknown roles,
        403 (Keystone's InvalidImpliedRole) when a global role would imply a
        domain-specific one (the reverse is allowed) or anything would imply
        ``admin`` (Keystone's ``prohibited_implied_role``)."""
        prior = self.get_role(prior_id)
        implied = self.get_role(implied_id)
        if implied.domain_id == models.NULL_DOMAIN_ID and implied.name in PROHIBITED_IMPLIED:
            raise exc.Forbidden(f"{implied_id} cannot be an implied role.")
        if prior.domain_id == models.NULL_DOMAIN_ID and \
                implied.domain_id != models.NULL_DOMAIN_ID:
            raise exc.Forbidden(f"{implied_id} cannot be an implied role: a global role "
                                "cannot imply a domain-specific role.")
        if prior_id == implied_id or prior_id in self.expand([implied_id]):
            raise exc.ValidationError(
                f"Can not create a circularly implied role: {prior_id} implies {implied_id}.")
        with self.identity.write() as s:
            if s.get(models.ImpliedRole, (prior_id, implied_id)) is None:
                s.add(models.ImpliedRole(prior_role_id=prior_id, implied_role_id=implied_id))

    def check_implied_role(self, prior_id: str, implied_id: str) -> None:
        self.get_role(prior_id)
        self.get_role(implied_id)
        if implied_id not in self.implications().get(prior_id, ()):
            raise exc.NotFound(f"{prior_id} does not imply {implied_id}.")

    def delete_implied_role(self, prior_id: str, implied_id: str) -> None:
        self.check_implied_role(prior_id, implied_id)
        with self.identity.write() as s:
            s.execute(sa.delete(models.ImpliedRole).where(
                models.ImpliedRole.prior_role_id == prior_id,
                models.ImpliedRole.implied_role_id == implied_id))

    def expand(self, role_ids) -> list[str]:
        """``role_ids`` plus every role they imply, transitively, in discovery order."""
        implications = self.implications()
        seen = dict.fromkeys(role_ids)
        frontier = list(seen)
        while frontier:
            nxt = []
            for rid in frontier:
                for implied in implications.get(rid, ()):
                    if implied not in seen:
                        seen[implied] = None
                        nxt.append(implied)
            frontier = nxt
        return list(seen)

    # -- grants ---------------------------------------------------------------
    def _check_parties(self, actor: tuple[str, str], target: tuple[str, str],
                       role_id: str) -> models.Role:
        kind, actor_id = actor
        if kind == "user":
            self.identity.users.get_user(actor_id)
        else:
            self.identity.users.get_group(actor_id)
        if target[0] == "project":
            self.identity.resources.get_project(target[1])
        elif target[0] == "domain":
            self.identity.resources.get_domain(target[1])
        role = self.get_role(role_id)
        if role.domain_id != models.NULL_DOMAIN_ID:
            project_domain = (self.identity.resources.get_project(target[1]).domain_id
                              if target[0] == "project" else target[1])
            if project_domain != role.domain_id:
                raise exc.Forbidden("Domain-specific roles can be granted only within "
                                    "their domain.")
        return role

    def grant(self, actor: tuple[str, str], target: tuple[str, str], role_id: str,
              inherited: bool = False) -> None:
        """Grant ``role_id``; idempotent. 404 for an unknown actor, target or role."""
        self._check_parties(actor, target, role_id)
        kind = TYPES[(actor[0], target[0])]
        with self.identity.write() as s:
            key = (kind, actor[1], target[1], role_id, inherited)
            if s.get(models.RoleAssignment, key) is None:
                s.add(models.RoleAssignment(type=kind, actor_id=actor[1], target_id=target[1],
                                            role_id=role_id, inherited=inherited))

    def check_grant(self, actor, target, role_id: str, inherited: bool = False) -> None:
        """404 unless the grant exists."""
        self._check_parties(actor, target, role_id)
        kind = TYPES[(actor[0], target[0])]
        with self.identity.read() as s:
            if s.get(models.RoleAssignment, (kind, actor[1], target[1], role_id,
                                             inherited)) is None:
                raise exc.NotFound(f"Could not find role assignment with role: {role_id}, "
                                   f"{actor[0]}: {actor[1]}, {target[0]}: {target[1]}.")

    def revoke_grant(self, actor, target, role_id: str, inherited: bool = False) -> None:
        """Remove a grant (404 if absent) and revoke the tokens it backed."""
        self.check_grant(actor, target, role_id, inherited)
        kind = TYPES[(actor[0], target[0])]
        with self.identity.write() as s:
            s.execute(sa.delete(models.RoleAssignment).where(
                models.RoleAssignment.type == kind, models.RoleAssignment.actor_id == actor[1],
                models.RoleAssignment.target_id == target[1],
                models.RoleAssignment.role_id == role_id,
                models.RoleAssignment.inherited == inherited))
            if actor[0] == "user":
                users = [actor[1]]
            else:
                users = list(s.scalars(sa.select(models.UserGroupMembership.user_id).where(
                    models.UserGroupMembership.group_id == actor[1])))
            scope = {f"{target[0]}_id": target[1]} if target[0] != "system" else {}
            for user_id in users:
                self.identity.auth.revoke(s, user_id=user_id, **scope)

    def list_grants(self, actor, target, inherited: bool = False) -> list[models.Role]:
        """Roles granted directly to ``actor`` on ``target``."""
        kind = TYPES[(actor[0], target[0])]
        if actor[0] == "user":
            self.identity.users.get_user(actor[1])
        else:
            self.identity.users.get_group(actor[1])
        if target[0] == "project":
            self.identity.resources.get_project(target[1])
        elif target[0] == "domain":
            self.identity.resources.get_domain(target[1])
        with self.identity.read() as s:
            ids = list(s.scalars(sa.select(models.RoleAssignment.role_id).where(
                models.RoleAssignment.type == kind, models.RoleAssignment.actor_id == actor[1],
                models.RoleAssignment.target_id == target[1],
                models.RoleAssignment.inherited == inherited)))
        roles = self.roles_by_id()
        return [roles[i] for i in ids if i in roles]

    def delete_actor_grants(self, session, actor_ids: list[str]) -> None:
        if actor_ids:
            session.execute(sa.delete(models.RoleAssignment).where(
                models.RoleAssignment.actor_id.in_(actor_ids)))

    # -- effective roles and the assignment list ------------------------------
    def _rows(self) -> list[models.RoleAssignment]:
        def load():
            with self.identity.read() as s:
                return list(s.scalars(sa.select(models.RoleAssignment)))
        return self.identity.cache.get("assignments", load)

    def global_only(self, role_ids: list[str]) -> list[str]:
        """``role_ids`` without domain-specific roles: tokens carry only the global
        roles those imply, as Keystone's do."""
        roles = self.roles_by_id()
        return [r for r in role_ids
                if r in roles and roles[r].domain_id == models.NULL_DOMAIN_ID]

    def effective_role_ids(self, user_id: str, scope: tuple[str, str] | None) -> list[str]:
        """Role ids the user holds on ``scope`` (implied ones included), cached."""
        if scope is None:
            return []

        def load():
            assignments = self.list_assignments(user_id=user_id, target=scope, effective=True)
            return self.expand([a.role_id for a in assignments])
        return self.identity.cache.get(("effective", user_id, scope), load)

    def list_assignments(self, user_id: str | None = None, group_id: str | None = None,
                         role_id: str | None = None, target: tuple[str, str] | None = None,
                         effective: bool = False, include_subtree: bool = False,
                         inherited_only: bool = False) -> list[Assignment]:
        """``GET /v3/role_assignments``, filtered; ``effective`` expands groups,
        inheritance and implied roles into per-user assignments (domain-specific roles
        left out, as Keystone)."""
        resources = self.identity.resources
        out: list[Assignment] = []
        targets = None
        if target is not None and target[0] == "project" and include_subtree:
            targets = {target[1]} | {p.id for p in resources.subtree(target[1])}
        for row in self._rows():
            actor_kind = "user" if row.type.startswith("User") else "group"
            target_kind = row.type[len("User" if actor_kind == "user" else "Group"):].lower()
            if inherited_only and not row.inherited:
                continue
            actors = [(actor_kind, row.actor_id, None)]
            if effective and actor_kind == "group":
                actors = [("user", uid, row.actor_id) for uid in self._members(row.actor_id)]
            targets_here = [(target_kind, row.target_id, None)]
            if row.inherited and effective:
                targets_here = [("project", p.id, (target_kind, row.target_id))
                                    for p in self._inheritors(target_kind, row.target_id)]
            for a_kind, a_id, via in actors:
                if user_id and not (a_kind == "user" and a_id == user_id):
                    continue
                if group_id and not (a_kind == "group" and a_id == group_id):
                    continue
                for t_kind, t_id, inh_from in targets_here:
                    if target is not None:
                        if t_kind != target[0]:
                            continue
                        if targets is not None:
                            if t_id not in targets:
                                continue
                        elif t_id != target[1]:
                            continue
                    out.append(Assignment((a_kind, a_id), (t_kind, t_id), row.role_id,
                                          row.inherited and not effective, via, None, inh_from))
        if effective:
            # Keystone: a domain-specific role only stands for the roles it implies; it
            # is never an effective assignment (nor a token role) itself.
            roles = self.roles_by_id()
            out = [a for a in self._with_implied(out)
                   if a.role_id not in roles
                   or roles[a.role_id].domain_id in (None, models.NULL_DOMAIN_ID)]
        if role_id:
            out = [a for a in out if a.role_id == role_id]
        return out

    def _with_implied(self, assignments: list[Assignment]) -> list[Assignment]:
        implications = self.implications()
        out, seen = [], set()
        frontier = assignments
        while frontier:
            nxt = []
            for a in frontier:
                key = (a.actor, a.target, a.role_id, a.inherited)
                if key in seen:
                    continue
                seen.add(key)
                out.append(a)
                for implied in implications.get(a.role_id, ()):
                    nxt.append(Assignment(a.actor, a.target, implied, a.inherited,
                                          a.via_group, a.prior_role or a.role_id,
                                          a.inherited_from))
            frontier = nxt
        return out

    def _members(self, group_id: str) -> tuple[str, ...]:
        """The group's members: its own, plus federated users whose membership a
        mapping gave and has not expired (:class:`~kumo.identity.models_fed.
        ExpiringGroupMembership`)."""
        from kumo.identity.models_fed import ExpiringGroupMembership as Expiring

        def load():
            with self.identity.read() as s:
                own = tuple(s.scalars(sa.select(models.UserGroupMembership.user_id).where(
                    models.UserGroupMembership.group_id == group_id)))
                expiring = tuple(s.execute(sa.select(Expiring.user_id, Expiring.expires_at)
                                           .where(Expiring.group_id == group_id)).all())
            return own, expiring
        own, expiring = self.identity.cache.get(("members", group_id), load)
        if not expiring:
            return own
        now = utcnow()
        return tuple(dict.fromkeys(own + tuple(
            uid for uid, until in expiring if until is None or until > now)))

    def _inheritors(self, kind: str, target_id: str) -> list[models.Project]:
        """Projects that inherit a grant made on a domain or project with inheritance."""
        resources = self.identity.resources
        if kind == "domain":
            with self.identity.read() as s:
                return list(s.scalars(sa.select(models.Project).where(
                    models.Project.domain_id == target_id)))
        if kind == "project":
            return resources.subtree(target_id)
        return []
