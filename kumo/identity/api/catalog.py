"""Regions, services and endpoints (Identity API v3: "Regions", "Service catalog and
endpoints")."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.identity import schemas
from kumo.identity.api import render, service
from kumo.identity.api.crud import standard_routes

standard_routes("region", "regions", "catalog", render.region, schemas.REGION_UPDATE)
standard_routes("service", "services", "catalog", render.service, schemas.SERVICE_UPDATE)
standard_routes("endpoint", "endpoints", "catalog", render.endpoint,
                schemas.ENDPOINT_UPDATE, operations=("list", "get", "delete"))


# -- regions ----------------------------------------------------------------------
def _create_region(req: Request, region_id: str | None) -> Reply:
    req.context.enforce("identity:create_region")
    ref = req.json(schemas.REGION_CREATE)["region"]
    region = req.cloud.identity.catalog.create_region(
        region_id or ref.get("id"), ref.get("description") or "", ref.get("parent_region_id"))
    return Reply(201, {"region": render.region(req, region)})


@service.route("POST", "/v3/regions")
def create_region(req: Request) -> Reply:
    return _create_region(req, None)


@service.route("PUT", "/v3/regions/{region_id}")
def create_region_with_id(req: Request) -> Reply:
    return _create_region(req, req.params["region_id"])


# -- services ---------------------------------------------------------------------
@service.route("POST", "/v3/services")
def create_service(req: Request) -> Reply:
    req.context.enforce("identity:create_service")
    ref = req.json(schemas.SERVICE_CREATE)["service"]
    svc = req.cloud.identity.catalog.create_service(
        ref["type"], ref.get("name") or "", ref.get("description") or "",
        ref.get("enabled", True))
    return Reply(201, {"service": render.service(req, svc)})


# -- endpoints --------------------------------------------------------------------
@service.route("POST", "/v3/endpoints")
def create_endpoint(req: Request) -> Reply:
    req.context.enforce("identity:create_endpoint")
    ref = req.json(schemas.ENDPOINT_CREATE)["endpoint"]
    endpoint = req.cloud.identity.catalog.create_endpoint(
        ref["service_id"], ref["interface"], ref["url"],
        ref.get("region_id") or ref.get("region"), ref.get("enabled", True))
    return Reply(201, {"endpoint": render.endpoint(req, endpoint)})


@service.route("PATCH", "/v3/endpoints/{endpoint_id}")
def update_endpoint(req: Request) -> Reply:
    req.context.enforce("identity:update_endpoint")
    ref = req.json(schemas.ENDPOINT_UPDATE)["endpoint"]
    if "region" in ref and "region_id" not in ref:
        ref["region_id"] = ref.pop("region")
    endpoint = req.cloud.identity.catalog.update_endpoint(req.params["endpoint_id"], ref)
    return Reply(200, {"endpoint": render.endpoint(req, endpoint)})


