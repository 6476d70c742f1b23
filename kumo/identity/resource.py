"""Domains and projects (Identity API v3: "Domains", "Projects", "Project tags").

Projects form a hierarchy through ``parent_id``; a project's domain is its parent's.
Deleting needs a disabled domain, or a leaf project; disabling a project with enabled
children is refused (403), as Keystone does.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common import filters
from kumo.identity import models
from kumo.identity.manager import new_id

DEFAULT_DOMAIN_ID = "default"


def _not_null(key: str, value):
    """A nullable text attribute set to null is stored as "" (as created)."""
    return "" if value is None and key in ("description", "name") else value


class Resources:
    def __init__(self, identity):
        self.identity = identity

    # -- domains -------------------------------------------------------------
    def create_domain(self, name: str, description: str = "", enabled: bool = True,
                      domain_id: str | None = None, tags: list | None = None,
                      options: dict | None = None) -> models.Domain:
        """Create a domain; 409 if the name (or the explicit id) is taken."""
        with self.identity.write() as s:
            if s.scalar(sa.select(models.Domain.id).where(
                    (models.Domain.name == name) | (models.Domain.id == (domain_id or "")))):
                raise exc.Conflict(resource="domain",
                                   details=f"Duplicate entry found with name {name}.")
            domain = models.Domain(id=domain_id or new_id(), name=name,
                                   description=description or "", enabled=enabled,
                                   tags=tags or [], options=options or {}, extra={})
            s.add(domain)
            return domain

    def get_domain(self, domain_id: str) -> models.Domain:
        """The domain, cached; 404 if unknown."""
        def load():
            with self.identity.read() as s:
                return s.get(models.Domain, domain_id)
        domain = self.identity.cache.get(("domain", domain_id), load)
        if domain is None:
            raise exc.NotFound(resource="domain", id=domain_id)
        return domain

    def find_domain(self, ref: dict) -> models.Domain:
        """A domain named by ``{"id": ...}`` or ``{"name": ...}``; 404/401 otherwise."""
        if ref.get("id"):
            return self.get_domain(ref["id"])
        name = ref.get("name")

        def load():
            with self.identity.read() as s:
                return s.scalar(sa.select(models.Domain).where(models.Domain.name == name))
        domain = self.identity.cache.get(("domain-by-name", name), load)
        if domain is None:
            raise exc.NotFound(resource="domain", id=name)
        return domain

    def list_domains(self, query: dict[str, list[str]]) -> list[models.Domain]:
        stmt = sa.select(models.Domain).order_by(models.Domain.name)
        stmt = filters.apply(stmt, query, {"name": models.Domain.name,
                                           "enabled": models.Domain.enabled},
                             booleans=("enabled",), inexact=("name",))
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def update_domain(self, domain_id: str, changes: dict) -> models.Domain:
        with self.identity.write() as s:
            domain = s.get(models.Domain, domain_id)
            if domain is None:
                raise exc.NotFound(resource="domain", id=domain_id)
            if "name" in changes and changes["name"] != domain.name and s.scalar(
                    sa.select(models.Domain.id).where(models.Domain.name == changes["name"])):
                raise exc.Conflict(resource="domain",
                                   details=f"Duplicate entry found with name {changes['name']}.")
            was_enabled = domain.enabled
            for key in ("name", "description", "enabled", "tags", "options"):
                if key in changes:
                    setattr(domain, key, _not_null(key, changes[key]))
            if was_enabled and not domain.enabled:
                self.identity.auth.revoke(s, domain_id=domain_id)
            return domain

    def delete_domain(self, domain_id: str) -> None:
        """Delete a disabled domain and everything in it; 403 while it is enabled."""
        with self.identity.write() as s:
            domain = s.get(models.Domain, domain_id)
            if domain is None:
                raise exc.NotFound(resource="domain", id=domain_id)
            if domain.enabled:
                raise exc.Forbidden("Cannot delete a domain that is enabled, please "
                                    "disable it first.")
            project_ids = list(s.scalars(sa.select(models.Project.id).where(
                models.Project.domain_id == domain_id)))
            for pid in project_ids:
                s.execute(sa.delete(models.RoleAssignment).where(
                    models.RoleAssignment.target_id == pid))
            # Children before parents, then the rest of the domain's contents.
            s.execute(sa.update(models.Project).where(models.Project.domain_id == domain_id)
                      .values(parent_id=None))
            s.execute(sa.delete(models.Project).where(models.Project.domain_id == domain_id))
            for model in (models.User, models.Group):
                ids = list(s.scalars(sa.select(model.id).where(model.domain_id == domain_id)))
                self.identity.assignments.delete_actor_grants(s, ids)
                s.execute(sa.delete(model).where(model.domain_id == domain_id))
            s.execute(sa.delete(models.RoleAssignment).where(
                models.RoleAssignment.target_id == domain_id))
            s.execute(sa.delete(models.Role).where(models.Role.domain_id == domain_id))
            s.delete(domain)
            self.identity.auth.revoke(s, domain_id=domain_id)

    # -- projects ------------------------------------------------------------
    def create_project(self, name: str, domain_id: str | None, parent_id: str | None = None,
                       description: str = "", enabled: bool = True,
                       tags: list | None = None, options: dict | None = None,
                       project_id: str | None = None) -> models.Project:
        """Create a project under ``parent_id`` (or at the top of ``domain_id``).

        400 if the parent is in another domain; 404 for an unknown domain or parent;
        409 for a name already used in the domain.
        """
        with self.identity.write() as s:
            if parent_id:
                parent = s.get(models.Project, parent_id)
                if parent is None:
                    raise exc.NotFound(resource="project", id=parent_id)
                if domain_id and domain_id != parent.domain_id:
                    raise exc.ValidationError(
                        "Cannot create project, the parent is in a different domain.")
                domain_id = parent.domain_id
            domain_id = domain_id or DEFAULT_DOMAIN_ID
            if s.get(models.Domain, domain_id) is None:
                raise exc.NotFound(resource="domain", id=domain_id)
            if s.scalar(sa.select(models.Project.id).where(
                    models.Project.domain_id == domain_id, models.Project.name == name)):
                raise exc.Conflict(resource="project",
                                   details=f"Duplicate entry found with name {name} at "
                                           f"domain ID {domain_id}.")
            project = models.Project(
                id=project_id or new_id(), name=name, domain_id=domain_id,
                parent_id=parent_id, description=description or "", enabled=enabled,
                tags=_check_tags(tags or []), options=options or {}, extra={})
            s.add(project)
            return project

    def get_project(self, project_id: str) -> models.Project:
        """The project, cached; 404 if unknown."""
        def load():
            with self.identity.read() as s:
                return s.get(models.Project, project_id)
        project = self.identity.cache.get(("project", project_id), load)
        if project is None:
            raise exc.NotFound(resource="project", id=project_id)
        return project

    def find_project(self, ref: dict) -> models.Project:
        """A project named by ``{"id"}`` or ``{"name", "domain": {"id"|"name"}}``."""
        if ref.get("id"):
            return self.get_project(ref["id"])
        domain = self.find_domain(ref.get("domain") or {})

        def load():
            with self.identity.read() as s:
                return s.scalar(sa.select(models.Project).where(
                    models.Project.domain_id == domain.id,
                    models.Project.name == ref.get("name")))
        project = self.identity.cache.get(("project-by-name", domain.id, ref.get("name")), load)
        if project is None:
            raise exc.NotFound(resource="project", id=ref.get("name"))
        return project

    def list_projects(self, query: dict[str, list[str]],
                      ids: set[str] | None = None) -> list[models.Project]:
        """Projects matching the reference's filters (``query``: each parameter's
        values); ``ids`` restricts the result."""
        stmt = sa.select(models.Project).order_by(models.Project.name)
        stmt = filters.apply(stmt, query, {
            "name": models.Project.name, "enabled": models.Project.enabled,
            "domain_id": models.Project.domain_id, "parent_id": models.Project.parent_id,
            "id": models.Project.id,
        }, booleans=("enabled",), inexact=("name",))
        if ids is not None:
            stmt = stmt.where(models.Project.id.in_(ids))
        is_domain = (query.get("is_domain") or [""])[-1]
        if is_domain and filters.to_bool(is_domain, "is_domain"):
            return []
        with self.identity.read() as s:
            projects = list(s.scalars(stmt))
        return [p for p in projects if _tags_match(p.tags, query)]

    def update_project(self, project_id: str, changes: dict) -> models.Project:
        with self.identity.write() as s:
            project = s.get(models.Project, project_id)
            if project is None:
                raise exc.NotFound(resource="project", id=project_id)
            for immutable in ("domain_id", "parent_id", "is_domain"):
                if immutable in changes and changes[immutable] != getattr(
                        project, immutable, False):
                    raise exc.ValidationError(f"Update of `{immutable}` is not allowed.")
            if "name" in changes and changes["name"] != project.name and s.scalar(
                    sa.select(models.Project.id).where(
                        models.Project.domain_id == project.domain_id,
                        models.Project.name == changes["name"])):
                raise exc.Conflict(resource="project",
                                   details=f"Duplicate entry found with name {changes['name']} "
                                           f"at domain ID {project.domain_id}.")
            if changes.get("enabled") is False and project.enabled:
                if s.scalar(sa.select(models.Project.id).where(
                        models.Project.parent_id == project_id, models.Project.enabled)):
                    raise exc.Forbidden(f"Cannot disable project {project_id} since its "
                                        "subtree contains enabled projects.")
                self.identity.auth.revoke(s, project_id=project_id)
            if "tags" in changes:
                changes["tags"] = _check_tags(changes["tags"])
            for key in ("name", "description", "enabled", "tags", "options"):
                if key in changes:
                    setattr(project, key, _not_null(key, changes[key]))
            return project

    def delete_project(self, project_id: str) -> None:
        """Delete a leaf project and its grants; 403 if it has children."""
        with self.identity.write() as s:
            project = s.get(models.Project, project_id)
            if project is None:
                raise exc.NotFound(resource="project", id=project_id)
            if s.scalar(sa.select(models.Project.id).where(
                    models.Project.parent_id == project_id)):
                raise exc.Forbidden(
                    f"Cannot delete the project {project_id} since it is not a leaf in the "
                    "hierarchy. Use the cascade option if you want to delete a whole subtree.")
            s.execute(sa.delete(models.RoleAssignment).where(
                models.RoleAssignment.target_id == project_id))
            s.execute(sa.delete(models.ApplicationCredential).where(
                models.ApplicationCredential.project_id == project_id))
            s.delete(project)
            self.identity.auth.revoke(s, project_id=project_id)

    def parents(self, project: models.Project) -> list[models.Project]:
        """Ancestors of ``project``, nearest first."""
        out = []
        while project.parent_id:
            project = self.get_project(project.parent_id)
            out.append(project)
        return out

    def subtree(self, project_id: str) -> list[models.Project]:
        """Descendants of ``project_id``, breadth first."""
        out, frontier = [], [project_id]
        with self.identity.read() as s:
            while frontier:
                children = list(s.scalars(sa.select(models.Project).where(
                    models.Project.parent_id.in_(frontier))))
                out.extend(children)
                frontier = [c.id for c in children]
        return out

    def set_tags(self, project_id: str, tags: list[str]) -> models.Project:
        return self.update_project(project_id, {"tags": tags})


def _check_tags(tags: list) -> list:
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag) > 255 or "/" in tag or "," in tag:
            raise exc.ValidationError(f"Invalid tag {tag!r}: tags are non-empty strings of "
                                      "at most 255 characters without '/' or ','.")
    if len(tags) > 80:
        raise exc.ValidationError("A resource has at most 80 tags.")
    return list(dict.fromkeys(tags))


def _tags_match(tags: list, query: dict[str, list[str]]) -> bool:
    """Keystone's ``tags``, ``tags-any``, ``not-tags``, ``not-tags-any`` filters."""
    have = set(tags)

    def wanted(key):
        return [t for v in query[key] for t in v.split(",") if t]
    if "tags" in query and not set(wanted("tags")) <= have:
        return False
    if "tags-any" in query and not set(wanted("tags-any")) & have:
        return False
    if "not-tags" in query and set(wanted("not-tags")) <= have:
        return False
    if "not-tags-any" in query and set(wanted("not-tags-any")) & have:
        return False
    return True

