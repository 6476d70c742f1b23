"""The image proxy of the Compute API ("Images (DEPRECATED)" and "Image Metadata
(DEPRECATED)"), served up to 2.35 (404 "The resource could not be found." from 2.36,
as Nova): ``/images``, ``/images/detail`` (filters ``name``, ``status``,
``changes-since``, ``server``, ``type``, ``minRam``, ``minDisk``, ``limit``,
``marker``), show, delete and the image's metadata (its custom properties), all through
the image service's manager with the caller's context (Glance's visibility rules).
"""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request, validate
from kumo.common.listing import plain
from kumo.common.timeutils import parse_isotime
from kumo.compute.api import at_least, service
from kumo.compute.schemas import METADATA

P = "os_compute_api:"
STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING",
          "uploading": "SAVING", "importing": "SAVING", "deleted": "DELETED",
          "pending_delete": "DELETED", "killed": "ERROR"}
PROGRESS = {"queued": 25, "saving": 50, "uploading": 50, "importing": 50, "active": 100}
#: Nova's status filter back to Glance's
GLANCE_STATUS = {"ACTIVE": ["active"], "SAVING": ["queued", "saving", "uploading",
                                                  "importing"],
                 "ERROR": ["killed"], "DELETED": ["deleted", "pending_delete"]}


class NotFound404(exc.NotFound):
    message = "The resource could not be found."


def _gate(req: Request, rule: str) -> None:
    if at_least(req, "2.36"):
        raise NotFound404()
    req.context.enforce(P + rule, {"project_id": req.context.project_id})


def _image(req: Request, image_id: str):
    try:
        return req.cloud.images.get(req.context, image_id)
    except exc.NotFound:
        raise exc.NotFound("Image not found.") from None


def _props(image) -> dict:
    return {p.name: p.value for p in image.properties}


def _links(req: Request, kind: str, id_: str) -> list[dict]:
    return [{"rel": "self", "href": req.url(f"/v2.1/{kind}/{id_}")},
            {"rel": "bookmark", "href": req.url(f"/{kind}/{id_}")}]


def render(req: Request, image, detail: bool) -> dict:
    links = _links(req, "images", image.id)
    links.append({"rel": "alternate", "type": "application/vnd.openstack.image",
                  "href": req.url_base.rsplit("/compute", 1)[0] + f"/image/images/{image.id}"})
    body = {"id": image.id, "name": image.name, "links": links}
    if not detail:
        return body
    props = _props(image)
    body.update({
        "minRam": int(image.min_ram or 0), "minDisk": int(image.min_disk or 0),
        "metadata": props, "created": image.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated": image.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": STATUS.get(image.status, "UNKNOWN"),
        "progress": PROGRESS.get(image.status, 0), "OS-EXT-IMG-SIZE:size": image.size})
    if props.get("instance_uuid"):
        body["server"] = {"id": props["instance_uuid"],
                          "links": _links(req, "servers", props["instance_uuid"])}
    if props.get("auto_disk_config") is not None:
        body["OS-DCF:diskConfig"] = "AUTO" if str(props["auto_disk_config"]).lower() in (
            "true", "1", "yes", "on", "t", "y") else "MANUAL"
    return body


def _list(req: Request, detail: bool) -> Reply:
    _gate(req, "images:detail" if detail else "images:index")
    q = plain(req.query)
    query: dict = {}
    for key in ("name", "limit", "marker"):
        if q.get(key):
            query[key] = q[key]
    if q.get("status"):
        query["status"] = GLANCE_STATUS.get(str(q["status"]).upper(),
                                            [str(q["status"]).lower()])
    if q.get("server"):
        query["instance_uuid"] = str(q["server"]).rsplit("/", 1)[-1]
    if q.get("type"):
        query["image_type"] = q["type"]
    since = None
    if q.get("changes-since"):
        try:
            since = parse_isotime(str(q["changes-since"]))
        except ValueError:
            raise exc.BadRequest("Invalid filter field: changes-since.") from None
    try:
        rows, _ = req.cloud.images.list(req.context, query)
    except exc.BadRequest as e:
        raise exc.BadRequest(e.message) from None
    out = []
    for image in rows:
        if q.get("minRam") and int(image.min_ram or 0) < _int(q["minRam"], "minRam"):
            continue
        if q.get("minDisk") and int(image.min_disk or 0) < _int(q["minDisk"], "minDisk"):
            continue
        if since is not None and image.updated_at.replace(tzinfo=None) < \
                since.replace(tzinfo=None):
            continue
        out.append(render(req, image, detail))
    return Reply(200, {"images": out})


def _int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise exc.BadRequest(f"Invalid filter field: {name}.") from None


@service.route("GET", "/v2.1/images")
def index(req: Request) -> Reply:
    return _list(req, False)


@service.route("GET", "/v2.1/images/detail")
def detail(req: Request) -> Reply:
    return _list(req, True)


@service.route("GET", "/v2.1/images/{image_id}")
def show(req: Request) -> Reply:
    _gate(req, "images:show")
    return Reply(200, {"image": render(req, _image(req, req.params["image_id"]), True)})


@service.route("DELETE", "/v2.1/images/{image_id}")
def delete(req: Request) -> Reply:
    _gate(req, "images:delete")
    image = _image(req, req.params["image_id"])
    req.cloud.images.delete(req.context, image.id)
    return Reply(204)


# -- metadata ---------------------------------------------------------------------------
@service.route("GET", "/v2.1/images/{image_id}/metadata")
def metadata(req: Request) -> Reply:
    _gate(req, "image-metadata:index")
    return Reply(200, {"metadata": _props(_image(req, req.params["image_id"]))})


def _write(req: Request, rule: str, new: dict, replace: bool) -> dict:
    _gate(req, rule)
    image = _image(req, req.params["image_id"])
    old = _props(image)
    props = {k: str(v) for k, v in new.items()}
    removed = [k for k in old if k not in props] if replace else []
    try:
        image = req.cloud.images.update(req.context, image.id, {}, props, removed)
    except exc.Forbidden as e:
        raise exc.Forbidden(e.message) from None
    return _props(image)


@service.route("POST", "/v2.1/images/{image_id}/metadata")
def update_metadata(req: Request) -> Reply:
    if at_least(req, "2.36"):
        raise NotFound404()
    body = req.json()
    if not at_least(req, "2.36"):
        validate(body, {"type": "object", "properties": {"metadata": METADATA},
                        "required": ["metadata"], "additionalProperties": False})
    return Reply(200, {"metadata": _write(req, "image-metadata:update",
                                          body["metadata"], False)})


@service.route("PUT", "/v2.1/images/{image_id}/metadata")
def replace_metadata(req: Request) -> Reply:
    if at_least(req, "2.36"):
        raise NotFound404()
    body = req.json()
    if not at_least(req, "2.36"):
        validate(body, {"type": "object", "properties": {"metadata": METADATA},
                        "required": ["metadata"], "additionalProperties": False})
    return Reply(200, {"metadata": _write(req, "image-metadata:update_all",
                                          body["metadata"], True)})


@service.route("GET", "/v2.1/images/{image_id}/metadata/{key}")
def show_meta(req: Request) -> Reply:
    _gate(req, "image-metadata:show")
    props = _props(_image(req, req.params["image_id"]))
    key = req.params["key"]
    if key not in props:
        raise NotFound404()
    return Reply(200, {"meta": {key: props[key]}})


@service.route("PUT", "/v2.1/images/{image_id}/metadata/{key}")
def set_meta(req: Request) -> Reply:
    if at_least(req, "2.36"):
        raise NotFound404()
    body = req.json()
    key = req.params["key"]
    if not at_least(req, "2.36"):
        validate(body, {"type": "object", "properties": {"meta": {
            **METADATA, "minProperties": 1}}, "required": ["meta"],
            "additionalProperties": False})
        if len(body["meta"]) > 1:
            raise exc.BadRequest("Request body contains too many items")
        if key not in body["meta"]:
            raise exc.BadRequest("Request body and URI mismatch")
    props = _write(req, "image-metadata:update", body["meta"], False)
    return Reply(200, {"meta": {key: props[key]}})


@service.route("DELETE", "/v2.1/images/{image_id}/metadata/{key}")
def delete_meta(req: Request) -> Reply:
    _gate(req, "image-metadata:delete")
    image = _image(req, req.params["image_id"])
    key = req.params["key"]
    if key not in _props(image):
        raise exc.NotFound("Invalid metadata key")
    req.cloud.images.update(req.context, image.id, {}, {}, [key])
    return Reply(204)
