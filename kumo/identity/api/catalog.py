"""Regions, services and endpoints (Identity API v3: "Regions", "Service catalog and
endpoints")."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.identity import schemas
from kumo.identity.api import render, service


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


@service.route("GET", "/v3/regions")
def list_regions(req: Request) -> Reply:
    req.context.enforce("identity:list_regions")
    regions = req.cloud.identity.catalog.list_regions(req.query)
    return Reply(200, render.collection(req, "regions", [render.region(req, r) for r in regions]))


@service.route("GET", "/v3/regions/{region_id}")
def get_region(req: Request) -> Reply:
    req.context.enforce("identity:get_region")
    return Reply(200, {"region": render.region(
        req, req.cloud.identity.catalog.get_region(req.params["region_id"]))})


@service.route("PATCH", "/v3/regions/{region_id}")
def update_region(req: Request) -> Reply:
    req.context.enforce("identity:update_region")
    ref = req.json(schemas.REGION_UPDATE)["region"]
    region = req.cloud.identity.catalog.update_region(req.params["region_id"], ref)
    return Reply(200, {"region": render.region(req, region)})


@service.route("DELETE", "/v3/regions/{region_id}")
def delete_region(req: Request) -> Reply:
    req.context.enforce("identity:delete_region")
    req.cloud.identity.catalog.delete_region(req.params["region_id"])
    return Reply(204)


# -- services ---------------------------------------------------------------------
@service.route("POST", "/v3/services")
def create_service(req: Request) -> Reply:
    req.context.enforce("identity:create_service")
    ref = req.json(schemas.SERVICE_CREATE)["service"]
    svc = req.cloud.identity.catalog.create_service(
        ref["type"], ref.get("name") or "", ref.get("description") or "",
        ref.get("enabled", True))
    return Reply(201, {"service": render.service(req, svc)})


@service.route("GET", "/v3/services")
def list_services(req: Request) -> Reply:
    req.context.enforce("identity:list_services")
    services = req.cloud.identity.catalog.list_services(req.query)
    return Reply(200, render.collection(req, "services",
                                        [render.service(req, s) for s in services]))


@service.route("GET", "/v3/services/{service_id}")
def get_service(req: Request) -> Reply:
    req.context.enforce("identity:get_service")
    return Reply(200, {"service": render.service(
        req, req.cloud.identity.catalog.get_service(req.params["service_id"]))})


@service.route("PATCH", "/v3/services/{service_id}")
def update_service(req: Request) -> Reply:
    req.context.enforce("identity:update_service")
    ref = req.json(schemas.SERVICE_UPDATE)["service"]
    svc = req.cloud.identity.catalog.update_service(req.params["service_id"], ref)
    return Reply(200, {"service": render.service(req, svc)})


@service.route("DELETE", "/v3/services/{service_id}")
def delete_service(req: Request) -> Reply:
    req.context.enforce("identity:delete_service")
    req.cloud.identity.catalog.delete_service(req.params["service_id"])
    return Reply(204)


# -- endpoints --------------------------------------------------------------------
@service.route("POST", "/v3/endpoints")
def create_endpoint(req: Request) -> Reply:
    req.context.enforce("identity:create_endpoint")
    ref = req.json(schemas.ENDPOINT_CREATE)["endpoint"]
    endpoint = req.cloud.identity.catalog.create_endpoint(
        ref["service_id"], ref["interface"], ref["url"],
        ref.get("region_id") or ref.get("region"), ref.get("enabled", True))
    return Reply(201, {"endpoint": render.endpoint(req, endpoint)})


@service.route("GET", "/v3/endpoints")
def list_endpoints(req: Request) -> Reply:
    req.context.enforce("identity:list_endpoints")
    endpoints = req.cloud.identity.catalog.list_endpoints(req.query)
    return Reply(200, render.collection(req, "endpoints",
                                        [render.endpoint(req, e) for e in endpoints]))


@service.route("GET", "/v3/endpoints/{endpoint_id}")
def get_endpoint(req: Request) -> Reply:
    req.context.enforce("identity:get_endpoint")
    return Reply(200, {"endpoint": render.endpoint(
        req, req.cloud.identity.catalog.get_endpoint(req.params["endpoint_id"]))})


@service.route("PATCH", "/v3/endpoints/{endpoint_id}")
def update_endpoint(req: Request) -> Reply:
    req.context.enforce("identity:update_endpoint")
    ref = req.json(schemas.ENDPOINT_UPDATE)["endpoint"]
    if "region" in ref and "region_id" not in ref:
        ref["region_id"] = ref.pop("region")
    endpoint = req.cloud.identity.catalog.update_endpoint(req.params["endpoint_id"], ref)
    return Reply(200, {"endpoint": render.endpoint(req, endpoint)})


@service.route("DELETE", "/v3/endpoints/{endpoint_id}")
def delete_endpoint(req: Request) -> Reply:
    req.context.enforce("identity:delete_endpoint")
    req.cloud.identity.catalog.delete_endpoint(req.params["endpoint_id"])
    return Reply(204)
