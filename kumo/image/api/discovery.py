"""Version discovery, the health check, schemas and import/store info (Image API v2
"Versions", "Schemas", "Image Service Info (Discovery)"; ``/healthcheck`` as
oslo.middleware's healthcheck answers)."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.image import metadef_schemas, schemas
from kumo.image.api import service

CURRENT = "2.16"
SUPPORTED = ["2.15", "2.14", "2.13", "2.12", "2.11", "2.10", "2.9", "2.8", "2.7", "2.6",
             "2.5", "2.4", "2.3", "2.2", "2.1", "2.0"]


def _versions(req: Request) -> dict:
    href = req.url("/v2/")
    return {"versions": [
        {"id": f"v{v}", "status": "CURRENT" if v == CURRENT else "SUPPORTED",
         "links": [{"rel": "self", "href": href}]} for v in [CURRENT, *SUPPORTED]]}


@service.route("GET", "/", authenticated=False)
def versions(req: Request) -> Reply:
    """``GET /image``: 300 Multiple Choices with the versions."""
    return Reply(300, _versions(req))


@service.route("GET", "/versions", authenticated=False)
def list_versions(req: Request) -> Reply:
    return Reply(200, _versions(req))


@service.route("GET", "/v2", authenticated=False)
def version_v2(req: Request) -> Reply:
    return Reply(200, _versions(req))


@service.route("GET", "/healthcheck", authenticated=False)
def healthcheck(req: Request) -> Reply:
    """A plain ``200 OK``."""
    return Reply(200, b"OK", content_type="text/plain")


_SCHEMAS = {"image": schemas.IMAGE, "images": schemas.IMAGES, "member": schemas.MEMBER,
            "members": schemas.MEMBERS, "task": metadef_schemas.TASK,
            "tasks": metadef_schemas.TASKS}


@service.route("GET", "/v2/schemas/{name}")
def get_schema(req: Request) -> Reply:
    """``/v2/schemas/image``, ``images``, ``member``, ``members``, ``task``,
    ``tasks``."""
    schema = _SCHEMAS.get(req.params["name"])
    if schema is None:
        from kumo.common import exceptions as exc
        raise exc.NotFound("The resource could not be found.")
    return Reply(200, schema)


@service.route("GET", "/v2/info/import")
def info_import(req: Request) -> Reply:
    req.context.enforce("get_image_info")
    return Reply(200, {"import-methods": {"description": "Import methods available.",
                                          "type": "array", "value": ["glance-direct"]}})


@service.route("GET", "/v2/info/stores")
def info_stores(req: Request) -> Reply:
    req.context.enforce("get_image_info")
    return Reply(200, {"stores": [{"id": "file", "description": "Local filesystem store "
                                   "under the Kumo state directory", "default": True}]})
