"""Images: create, list, show, JSON-patch update, delete, tags, deactivate and
reactivate (Image API v2 "Images", "Image tags")."""
from __future__ import annotations

from urllib.parse import urlencode

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request, validate
from kumo.common.listing import plain
from kumo.image import patch, schemas
from kumo.image.api import render, service


def _images(req: Request):
    return req.cloud.images


def _check_create_body(body) -> dict:
    if not isinstance(body, dict):
        raise exc.BadRequest("Body must be a JSON object describing the image.")
    for key in body:
        if key in schemas.READ_ONLY:
            raise exc.Forbidden(f"Attribute '{key}' is read-only.")
        if key.startswith(schemas.RESERVED_PREFIX) or key in schemas.RESERVED:
            raise exc.Forbidden(f"Attribute '{key}' is reserved.")
    validate(body, schemas.IMAGE)
    schemas.check_db_ints(body)
    return body


def _enforce_visibility(req: Request, visibility: str | None, target: dict) -> None:
    if visibility == "public":
        req.context.enforce("publicize_image", target)
    elif visibility == "community":
        req.context.enforce("communitize_image", target)


@service.route("POST", "/v2/images")
def create_image(req: Request) -> Reply:
    """201 with the image (``queued``); 400 on a bad attribute or format, 403 for
    read-only/reserved attributes, ``public`` without admin, or another owner."""
    body = _check_create_body(req.json())
    ctx = req.context
    owner = body.get("owner") or ctx.project_id
    target = {"owner": owner or "", "project_id": owner or ""}
    if body.get("owner") and body["owner"] != ctx.project_id and not ctx.is_admin:
        raise exc.Forbidden(f"You are not permitted to create images owned by "
                            f"'{body['owner']}'.")
    ctx.enforce("add_image", target)
    _enforce_visibility(req, body.get("visibility"), target)
    image = _images(req).create(ctx, body)
    return Reply(201, render.image(image), headers={
        "Location": req.url(f"/v2/images/{image.id}"), **render.IMPORT_HEADERS})


@service.route("GET", "/v2/images")
def list_images(req: Request) -> Reply:
    """``{"images": [...], "first", "schema", "next"?}``; filters, sorting and paging
    as :mod:`kumo.image.listing` describes."""
    req.context.enforce("get_images", {"project_id": req.context.project_id or ""})
    rows, next_marker = _images(req).list(req.context, plain(req.query))
    params = [(k, v) for k, v in req.query.multi_items() if k != "marker"]
    body = {"images": [render.image(i) for i in rows],
            "first": "/v2/images" + (f"?{urlencode(params)}" if params else ""),
            "schema": "/v2/schemas/images"}
    if next_marker:
        body["next"] = "/v2/images?" + urlencode(params + [("marker", next_marker)])
    return Reply(200, body)


@service.route("GET", "/v2/images/{image_id}")
def get_image(req: Request) -> Reply:
    image = _images(req).get(req.context, req.params["image_id"])
    req.context.enforce("get_image", render.target(image))
    return Reply(200, render.image(image), headers=dict(render.IMPORT_HEADERS))


@service.route("PATCH", "/v2/images/{image_id}")
def update_image(req: Request) -> Reply:
    """JSON patch (``application/openstack-images-v2.1-json-patch``); 415 for another
    media type; errors as :mod:`kumo.image.patch` gives them, plus 403 for publicizing
    without admin or giving the image away without admin."""
    media_type = (req.headers.get("content-type") or "").split(";")[0].strip()
    if media_type not in patch.MEDIA_TYPES:
        raise exc.UnsupportedMediaType(
            f"Unsupported Content-Type {media_type or '(none)'}; use "
            f"{patch.MEDIA_TYPES[0]}.")
    images = _images(req)
    ctx = req.context
    image = images.get(ctx, req.params["image_id"])
    target = render.target(image)
    ctx.enforce("modify_image", target)
    ops = patch.normalize(req.json(), media_type)
    validate(ops, schemas.PATCH)
    changes = patch.apply(render.core(image), {p.name: p.value for p in image.properties},
                          ops, image.status, media_type)
    if "visibility" in changes.core and changes.core["visibility"] != image.visibility:
        _enforce_visibility(req, changes.core["visibility"], target)
    if "owner" in changes.core and changes.core["owner"] != image.owner and not ctx.is_admin:
        raise exc.Forbidden("Attribute 'owner' can be changed by an admin only.")
    image = images.update(ctx, image.id, changes.core, changes.props, changes.removed)
    return Reply(200, render.image(image))


@service.route("DELETE", "/v2/images/{image_id}")
def delete_image(req: Request) -> Reply:
    """204; 403 if protected; 404 for an image the caller cannot see."""
    images = _images(req)
    image = images.get(req.context, req.params["image_id"])
    req.context.enforce("delete_image", render.target(image))
    images.delete(req.context, image.id)
    return Reply(204)


@service.route("PUT", "/v2/images/{image_id}/tags/{tag}")
def add_tag(req: Request) -> Reply:
    images = _images(req)
    image = images.get(req.context, req.params["image_id"])
    req.context.enforce("modify_image", render.target(image))
    tag = req.params["tag"]
    if len(tag) > 255:
        raise exc.BadRequest("Tag is too long: at most 255 characters.")
    images.add_tag(req.context, image.id, tag)
    return Reply(204)


@service.route("DELETE", "/v2/images/{image_id}/tags/{tag}")
def remove_tag(req: Request) -> Reply:
    images = _images(req)
    image = images.get(req.context, req.params["image_id"])
    req.context.enforce("modify_image", render.target(image))
    images.remove_tag(req.context, image.id, req.params["tag"])
    return Reply(204)


@service.route("POST", "/v2/images/{image_id}/actions/{action}")
def image_action(req: Request) -> Reply:
    """``deactivate``/``reactivate`` (admins and the owner project's members, Glance's
    default policy): 204; 403 unless active or deactivated."""
    action = req.params["action"]
    if action not in ("deactivate", "reactivate"):
        raise exc.NotFound("The resource could not be found.")
    images = _images(req)
    image = images.get(req.context, req.params["image_id"])
    req.context.enforce(action, render.target(image))
    images.set_active(req.context, image.id, action == "reactivate")
    return Reply(204)
