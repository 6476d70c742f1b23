"""Endpoint groups and project endpoint associations (Identity API v3 "OS-EP-FILTER").

A project associated with endpoints (directly, or through endpoint groups whose
``filters`` on ``interface``, ``service_id`` and ``region_id`` select them) sees only
those endpoints in its tokens' catalog; a project with no association sees the whole
catalog (Keystone's ``return_all_endpoints_if_no_filter``).
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.identity import models
from kumo.identity.manager import new_id
from kumo.identity.models_more import EndpointGroup, ProjectEndpoint, ProjectEndpointGroup

FILTER_KEYS = ("interface", "service_id", "region_id")


def _check_filters(filters: dict) -> dict:
    bad = [k for k in filters if k not in FILTER_KEYS]
    if bad or not all(isinstance(v, str) for v in filters.values()):
        raise exc.ValidationError(f"Invalid input for field 'filters': only "
                                  f"{', '.join(FILTER_KEYS)} with string values are "
                                  "allowed.")
    return dict(filters)


class EndpointFilter:
    def __init__(self, identity):
        self.identity = identity

    # -- endpoint groups --------------------------------------------------------
    def create_group(self, ref: dict) -> EndpointGroup:
        group = EndpointGroup(id=new_id(), name=ref["name"],
                              description=ref.get("description") or "",
                              filters=_check_filters(ref["filters"]))
        with self.identity.write() as s:
            s.add(group)
        return group

    def get_group(self, group_id: str) -> EndpointGroup:
        with self.identity.read() as s:
            group = s.get(EndpointGroup, group_id)
        if group is None:
            raise exc.NotFound(resource="endpoint group", id=group_id)
        return group

    def list_groups(self, name: str | None = None) -> list[EndpointGroup]:
        stmt = sa.select(EndpointGroup).order_by(EndpointGroup.id)
        if name:
            stmt = stmt.where(EndpointGroup.name == name)
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def update_group(self, group_id: str, changes: dict) -> EndpointGroup:
        with self.identity.write() as s:
            group = s.get(EndpointGroup, group_id)
            if group is None:
                raise exc.NotFound(resource="endpoint group", id=group_id)
            if "filters" in changes:
                group.filters = _check_filters(changes["filters"])
            if "name" in changes:
                group.name = changes["name"]
            if "description" in changes:
                group.description = changes["description"] or ""
            return group

    def delete_group(self, group_id: str) -> None:
        with self.identity.write() as s:
            s.execute(sa.delete(ProjectEndpointGroup).where(
                ProjectEndpointGroup.endpoint_group_id == group_id))
            if s.execute(sa.delete(EndpointGroup).where(EndpointGroup.id == group_id)
                         ).rowcount == 0:
                raise exc.NotFound(resource="endpoint group", id=group_id)

    def group_endpoints(self, group: EndpointGroup) -> list[models.Endpoint]:
        stmt = sa.select(models.Endpoint).order_by(models.Endpoint.id)
        for key, value in (group.filters or {}).items():
            stmt = stmt.where(getattr(models.Endpoint, key) == value)
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    # -- associations -------------------------------------------------------------
    def add_group_project(self, group_id: str, project_id: str) -> None:
        self.get_group(group_id)
        self.identity.resources.get_project(project_id)
        with self.identity.write() as s:
            if s.get(ProjectEndpointGroup, (group_id, project_id)) is None:
                s.add(ProjectEndpointGroup(endpoint_group_id=group_id, project_id=project_id))

    def check_group_project(self, group_id: str, project_id: str) -> None:
        self.get_group(group_id)
        self.identity.resources.get_project(project_id)
        with self.identity.read() as s:
            if s.get(ProjectEndpointGroup, (group_id, project_id)) is None:
                raise exc.NotFound(f"Could not find endpoint group {group_id} associated "
                                   f"with project {project_id}.")

    def remove_group_project(self, group_id: str, project_id: str) -> None:
        self.check_group_project(group_id, project_id)
        with self.identity.write() as s:
            s.execute(sa.delete(ProjectEndpointGroup).where(
                ProjectEndpointGroup.endpoint_group_id == group_id,
                ProjectEndpointGroup.project_id == project_id))

    def group_project_ids(self, group_id: str) -> list[str]:
        self.get_group(group_id)
        with self.identity.read() as s:
            return list(s.scalars(sa.select(ProjectEndpointGroup.project_id).where(
                ProjectEndpointGroup.endpoint_group_id == group_id)))

    def project_group_ids(self, project_id: str) -> list[str]:
        self.identity.resources.get_project(project_id)
        with self.identity.read() as s:
            return list(s.scalars(sa.select(ProjectEndpointGroup.endpoint_group_id).where(
                ProjectEndpointGroup.project_id == project_id)))

    def add_endpoint_project(self, project_id: str, endpoint_id: str) -> None:
        self.identity.resources.get_project(project_id)
        self.identity.catalog.get_endpoint(endpoint_id)
        with self.identity.write() as s:
            if s.get(ProjectEndpoint, (endpoint_id, project_id)) is None:
                s.add(ProjectEndpoint(endpoint_id=endpoint_id, project_id=project_id))

    def check_endpoint_project(self, project_id: str, endpoint_id: str) -> None:
        self.identity.resources.get_project(project_id)
        self.identity.catalog.get_endpoint(endpoint_id)
        with self.identity.read() as s:
            if s.get(ProjectEndpoint, (endpoint_id, project_id)) is None:
                raise exc.NotFound(f"Could not find endpoint {endpoint_id} associated with "
                                   f"project {project_id}.")

    def remove_endpoint_project(self, project_id: str, endpoint_id: str) -> None:
        self.check_endpoint_project(project_id, endpoint_id)
        with self.identity.write() as s:
            s.execute(sa.delete(ProjectEndpoint).where(
                ProjectEndpoint.endpoint_id == endpoint_id,
                ProjectEndpoint.project_id == project_id))

    def endpoint_project_ids(self, endpoint_id: str) -> list[str]:
        self.identity.catalog.get_endpoint(endpoint_id)
        with self.identity.read() as s:
            return list(s.scalars(sa.select(ProjectEndpoint.project_id).where(
                ProjectEndpoint.endpoint_id == endpoint_id)))

    def endpoint_ids_for_project(self, project_id: str) -> set[str] | None:
        """The endpoints a project's catalog keeps, or None (no association: all);
        cached per identity revision."""
        def load():
            with self.identity.read() as s:
                direct = set(s.scalars(sa.select(ProjectEndpoint.endpoint_id).where(
                    ProjectEndpoint.project_id == project_id)))
                groups = list(s.scalars(sa.select(EndpointGroup).join(
                    ProjectEndpointGroup,
                    ProjectEndpointGroup.endpoint_group_id == EndpointGroup.id).where(
                    ProjectEndpointGroup.project_id == project_id)))
            if not direct and not groups:
                return None
            for group in groups:
                direct.update(e.id for e in self.group_endpoints(group))
            return direct
        return self.identity.cache.get(("ep-filter", project_id), load)

    def project_endpoints(self, project_id: str) -> list[models.Endpoint]:
        """``GET /v3/OS-EP-FILTER/projects/{id}/endpoints``: directly associated ones
        and those of the project's endpoint groups."""
        self.identity.resources.get_project(project_id)
        ids = self.endpoint_ids_for_project(project_id) or set()
        with self.identity.read() as s:
            return list(s.scalars(sa.select(models.Endpoint).where(
                models.Endpoint.id.in_(ids)).order_by(models.Endpoint.id)))
