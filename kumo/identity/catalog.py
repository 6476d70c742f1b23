"""Regions, services and endpoints, and the service catalog built from them (Identity
API v3: "Regions", "Service catalog and endpoints")."""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common import filters
from kumo.identity import models
from kumo.identity.manager import new_id

INTERFACES = ("public", "internal", "admin")


def _not_null(key: str, value):
    """A nullable text attribute set to null is stored as "" (as created)."""
    return "" if value is None and key in ("description", "name") else value


class Catalog:
    def __init__(self, identity):
        self.identity = identity

    # -- regions --------------------------------------------------------------
    def create_region(self, region_id: str | None, description: str = "",
                      parent_region_id: str | None = None) -> models.Region:
        with self.identity.write() as s:
            region_id = region_id or new_id()
            if s.get(models.Region, region_id) is not None:
                raise exc.Conflict(resource="region",
                                   details=f"Duplicate ID, {region_id}.")
            if parent_region_id and s.get(models.Region, parent_region_id) is None:
                raise exc.ValidationError(
                    f"Invalid input for field 'parent_region_id': region {parent_region_id} "
                    "does not exist.")
            region = models.Region(id=region_id, description=description or "",
                                   parent_region_id=parent_region_id, extra={})
            s.add(region)
            return region

    def get_region(self, region_id: str) -> models.Region:
        with self.identity.read() as s:
            region = s.get(models.Region, region_id)
        if region is None:
            raise exc.NotFound(resource="region", id=region_id)
        return region

    def list_regions(self, query: dict[str, list[str]]) -> list[models.Region]:
        stmt = filters.apply(sa.select(models.Region).order_by(models.Region.id), query,
                             {"parent_region_id": models.Region.parent_region_id})
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def update_region(self, region_id: str, changes: dict) -> models.Region:
        with self.identity.write() as s:
            region = s.get(models.Region, region_id)
            if region is None:
                raise exc.NotFound(resource="region", id=region_id)
            parent = changes.get("parent_region_id")
            if parent:
                ancestor = parent
                while ancestor:
                    if ancestor == region_id:
                        raise exc.ValidationError("Circular reference in region hierarchy.")
                    row = s.get(models.Region, ancestor)
                    if row is None:
                        raise exc.ValidationError(
                            f"Invalid input for field 'parent_region_id': region {parent} "
                            "does not exist.")
                    ancestor = row.parent_region_id
            for key in ("description", "parent_region_id"):
                if key in changes:
                    setattr(region, key, _not_null(key, changes[key]))
            return region

    def delete_region(self, region_id: str) -> None:
        with self.identity.write() as s:
            region = s.get(models.Region, region_id)
            if region is None:
                raise exc.NotFound(resource="region", id=region_id)
            if s.scalar(sa.select(models.Region.id).where(
                    models.Region.parent_region_id == region_id)):
                raise exc.Forbidden("Cannot delete a region that has child regions.")
            s.execute(sa.delete(models.Endpoint).where(models.Endpoint.region_id == region_id))
            s.delete(region)

    # -- services -------------------------------------------------------------
    def create_service(self, type: str, name: str = "", description: str = "",
                       enabled: bool = True) -> models.Service:
        with self.identity.write() as s:
            service = models.Service(id=new_id(), type=type, name=name or "",
                                     description=description or "", enabled=enabled, extra={})
            s.add(service)
            return service

    def get_service(self, service_id: str) -> models.Service:
        with self.identity.read() as s:
            service = s.get(models.Service, service_id)
        if service is None:
            raise exc.NotFound(resource="service", id=service_id)
        return service

    def list_services(self, query: dict[str, list[str]]) -> list[models.Service]:
        stmt = filters.apply(sa.select(models.Service).order_by(models.Service.type), query,
                             {"type": models.Service.type, "name": models.Service.name})
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def update_service(self, service_id: str, changes: dict) -> models.Service:
        with self.identity.write() as s:
            service = s.get(models.Service, service_id)
            if service is None:
                raise exc.NotFound(resource="service", id=service_id)
            for key in ("type", "name", "description", "enabled"):
                if key in changes:
                    setattr(service, key, _not_null(key, changes[key]))
            return service

    def delete_service(self, service_id: str) -> None:
        with self.identity.write() as s:
            service = s.get(models.Service, service_id)
            if service is None:
                raise exc.NotFound(resource="service", id=service_id)
            s.execute(sa.delete(models.Endpoint).where(models.Endpoint.service_id == service_id))
            s.delete(service)

    # -- endpoints ------------------------------------------------------------
    def create_endpoint(self, service_id: str, interface: str, url: str,
                        region_id: str | None = None, enabled: bool = True) -> models.Endpoint:
        with self.identity.write() as s:
            if s.get(models.Service, service_id) is None:
                raise exc.ValidationError(
                    f"Invalid input for field 'service_id': service {service_id} not found.")
            _ensure_region(s, region_id)
            endpoint = models.Endpoint(id=new_id(), service_id=service_id, interface=interface,
                                       url=url, region_id=region_id, enabled=enabled, extra={})
            s.add(endpoint)
            return endpoint

    def get_endpoint(self, endpoint_id: str) -> models.Endpoint:
        with self.identity.read() as s:
            endpoint = s.get(models.Endpoint, endpoint_id)
        if endpoint is None:
            raise exc.NotFound(resource="endpoint", id=endpoint_id)
        return endpoint

    def list_endpoints(self, query: dict[str, list[str]]) -> list[models.Endpoint]:
        stmt = filters.apply(sa.select(models.Endpoint).order_by(models.Endpoint.id), query, {
            "interface": models.Endpoint.interface, "service_id": models.Endpoint.service_id,
            "region_id": models.Endpoint.region_id, "enabled": models.Endpoint.enabled,
        }, booleans=("enabled",))
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def update_endpoint(self, endpoint_id: str, changes: dict) -> models.Endpoint:
        with self.identity.write() as s:
            endpoint = s.get(models.Endpoint, endpoint_id)
            if endpoint is None:
                raise exc.NotFound(resource="endpoint", id=endpoint_id)
            if "service_id" in changes and s.get(models.Service, changes["service_id"]) is None:
                raise exc.ValidationError("Invalid input for field 'service_id'.")
            _ensure_region(s, changes.get("region_id"))
            for key in ("service_id", "interface", "url", "region_id", "enabled"):
                if key in changes:
                    setattr(endpoint, key, changes[key])
            return endpoint

    def delete_endpoint(self, endpoint_id: str) -> None:
        with self.identity.write() as s:
            endpoint = s.get(models.Endpoint, endpoint_id)
            if endpoint is None:
                raise exc.NotFound(resource="endpoint", id=endpoint_id)
            from kumo.identity.models_more import ProjectEndpoint
            s.execute(sa.delete(ProjectEndpoint).where(
                ProjectEndpoint.endpoint_id == endpoint_id))
            s.delete(endpoint)

    # -- the catalog ----------------------------------------------------------
    def catalog(self, project_id: str | None = None) -> list[dict]:
        """The v3 catalog: enabled services with their enabled endpoints, cached. For
        a project with endpoint filter associations (``OS-EP-FILTER``: endpoints or
        endpoint groups), only those endpoints, and only services that keep some."""
        full = self._catalog()
        if project_id is None:
            return full
        allowed = self.identity.endpoint_filter.endpoint_ids_for_project(project_id)
        if allowed is None:
            return full
        out = []
        for service in full:
            eps = [e for e in service["endpoints"] if e["id"] in allowed]
            if eps:
                out.append({**service, "endpoints": eps})
        return out

    def _catalog(self) -> list[dict]:
        def load():
            with self.identity.read() as s:
                services = list(s.scalars(sa.select(models.Service).where(
                    models.Service.enabled).order_by(models.Service.type)))
                endpoints = list(s.scalars(sa.select(models.Endpoint).where(
                    models.Endpoint.enabled)))
            out = []
            for service in services:
                eps = [{"id": e.id, "interface": e.interface, "region": e.region_id,
                        "region_id": e.region_id, "url": e.url}
                       for e in endpoints if e.service_id == service.id]
                out.append({"endpoints": eps, "id": service.id, "type": service.type,
                            "name": service.name})
            return out
        return self.identity.cache.get("catalog", load)


def _ensure_region(session, region_id: str | None) -> None:
    """An endpoint in a region that does not exist creates the region (as Keystone)."""
    if region_id and session.get(models.Region, region_id) is None:
        session.add(models.Region(id=region_id, description="", parent_region_id=None,
                                  extra={}))
        session.flush()
