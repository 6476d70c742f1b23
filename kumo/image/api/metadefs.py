"""Metadata definitions under ``/v2/metadefs`` and their schemas under
``/v2/schemas/metadefs/`` (Image API v2 "Metadata definitions"). Reads are open to
every authenticated user (within namespace visibility); writes are admin-only, as
Glance's default ``metadef_admin`` rule. Logic in :mod:`kumo.image.metadefs`.
"""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request, validate
from kumo.image import metadef_schemas as ms
from kumo.image.api import service

NS = "/v2/metadefs/namespaces"


def _m(req: Request):
    return req.cloud.images.metadefs


def _ns_links(body: dict) -> dict:
    body["self"] = f"{NS}/{body['namespace']}"
    body["schema"] = "/v2/schemas/metadefs/namespace"
    return body


def _body(req: Request, schema: dict) -> dict:
    body = req.json()
    if not isinstance(body, dict):
        raise exc.BadRequest("Body must be a JSON object.")
    body = {k: v for k, v in body.items() if k not in ("self", "schema", "created_at",
                                                       "updated_at")}
    validate(body, schema)
    return body


# -- namespaces ---------------------------------------------------------------------
@service.route("GET", NS)
def list_namespaces(req: Request) -> Reply:
    """``{"namespaces", "first", "schema", "next"?}``; ``visibility``,
    ``resource_types`` (comma-separated), ``limit``, ``marker`` (a namespace name)."""
    req.context.enforce("get_metadef_namespaces")
    q = req.query
    visibility = q.get("visibility")
    if visibility not in (None, "public", "private"):
        raise exc.BadRequest(f"Invalid visibility value: {visibility}")
    types = [t for t in (q.get("resource_types") or "").split(",") if t]
    rows = _m(req).list_namespaces(req.context, visibility, types or None)
    if (marker := q.get("marker")) is not None:
        names = [r["namespace"] for r in rows]
        if marker not in names:
            raise exc.NotFound(f"Metadata definition namespace={marker} was not found.")
        rows = rows[names.index(marker) + 1:]
    limit = q.get("limit")
    body = {"first": NS, "schema": "/v2/schemas/metadefs/namespaces"}
    if limit is not None:
        if not limit.isdigit():
            raise exc.BadRequest("limit param must be an integer")
        limit = int(limit)
        if len(rows) > limit and limit > 0:
            body["next"] = f"{NS}?marker={rows[limit - 1]['namespace']}&limit={limit}"
        rows = rows[:limit]
    body["namespaces"] = [_ns_links(r) for r in rows]
    return Reply(200, body)


@service.route("POST", NS)
def create_namespace(req: Request) -> Reply:
    """201 with the namespace; 400 on a bad body, 409 if the name is taken."""
    req.context.enforce("add_metadef_namespace")
    body = _body(req, ms.NAMESPACE)
    return Reply(201, _ns_links(_m(req).create_namespace(req.context, body)))


@service.route("GET", NS + "/{ns}")
def get_namespace(req: Request) -> Reply:
    """The namespace with its associations, properties, objects and tags;
    ``resource_type`` prefixes the property names as that type sees them."""
    req.context.enforce("get_metadef_namespace")
    return Reply(200, _ns_links(_m(req).get_namespace(
        req.context, req.params["ns"], req.query.get("resource_type"))))


@service.route("PUT", NS + "/{ns}")
def update_namespace(req: Request) -> Reply:
    req.context.enforce("modify_metadef_namespace")
    body = _body(req, ms.NAMESPACE)
    return Reply(200, _ns_links(_m(req).update_namespace(req.context, req.params["ns"],
                                                         body)))


@service.route("DELETE", NS + "/{ns}")
def delete_namespace(req: Request) -> Reply:
    """204; 403 if protected."""
    req.context.enforce("delete_metadef_namespace")
    _m(req).delete_namespace(req.context, req.params["ns"])
    return Reply(204)


# -- objects ------------------------------------------------------------------------
def _obj_links(ns: str, body: dict) -> dict:
    body["self"] = f"{NS}/{ns}/objects/{body['name']}"
    body["schema"] = "/v2/schemas/metadefs/object"
    return body


@service.route("GET", NS + "/{ns}/objects")
def list_objects(req: Request) -> Reply:
    req.context.enforce("get_metadef_objects")
    ns = req.params["ns"]
    rows = _m(req).list_items(req.context, ns, "object")
    return Reply(200, {"objects": [_obj_links(ns, r) for r in rows],
                       "schema": "/v2/schemas/metadefs/objects"})


@service.route("POST", NS + "/{ns}/objects")
def create_object(req: Request) -> Reply:
    req.context.enforce("add_metadef_object")
    from kumo.image.metadefs import _object_body
    body = _body(req, ms.OBJECT)
    ns = req.params["ns"]
    return Reply(201, _obj_links(ns, _m(req).create_item(
        req.context, ns, "object", body["name"], _object_body(body))))


@service.route("GET", NS + "/{ns}/objects/{name}")
def get_object(req: Request) -> Reply:
    req.context.enforce("get_metadef_object")
    ns = req.params["ns"]
    return Reply(200, _obj_links(ns, _m(req).get_item(req.context, ns, "object",
                                                       req.params["name"])))


@service.route("PUT", NS + "/{ns}/objects/{name}")
def update_object(req: Request) -> Reply:
    req.context.enforce("modify_metadef_object")
    from kumo.image.metadefs import _object_body
    body = _body(req, ms.OBJECT)
    ns = req.params["ns"]
    return Reply(200, _obj_links(ns, _m(req).update_item(
        req.context, ns, "object", req.params["name"], body["name"], _object_body(body))))


@service.route("DELETE", NS + "/{ns}/objects/{name}")
def delete_object(req: Request) -> Reply:
    req.context.enforce("delete_metadef_object")
    _m(req).delete_item(req.context, req.params["ns"], "object", req.params["name"])
    return Reply(204)


# -- properties -----------------------------------------------------------------------
def _prop(body: dict) -> tuple[str, dict]:
    return body["name"], {k: v for k, v in body.items() if k != "name"}


@service.route("GET", NS + "/{ns}/properties")
def list_properties(req: Request) -> Reply:
    """``{"properties": {name: definition}}``."""
    req.context.enforce("get_metadef_properties")
    rows = _m(req).list_items(req.context, req.params["ns"], "property")
    return Reply(200, {"properties": dict(_prop(r) for r in rows)})


@service.route("POST", NS + "/{ns}/properties")
def create_property(req: Request) -> Reply:
    req.context.enforce("add_metadef_property")
    name, body = _prop(_body(req, ms.PROPERTY))
    return Reply(201, _m(req).create_item(req.context, req.params["ns"], "property",
                                          name, body))


@service.route("GET", NS + "/{ns}/properties/{name}")
def get_property(req: Request) -> Reply:
    req.context.enforce("get_metadef_property")
    return Reply(200, _m(req).get_item(req.context, req.params["ns"], "property",
                                       req.params["name"]))


@service.route("PUT", NS + "/{ns}/properties/{name}")
def update_property(req: Request) -> Reply:
    req.context.enforce("modify_metadef_property")
    name, body = _prop(_body(req, ms.PROPERTY))
    return Reply(200, _m(req).update_item(req.context, req.params["ns"], "property",
                                          req.params["name"], name, body))


@service.route("DELETE", NS + "/{ns}/properties/{name}")
def delete_property(req: Request) -> Reply:
    req.context.enforce("remove_metadef_property")
    _m(req).delete_item(req.context, req.params["ns"], "property", req.params["name"])
    return Reply(204)


# -- tags -----------------------------------------------------------------------------
@service.route("GET", NS + "/{ns}/tags")
def list_tags(req: Request) -> Reply:
    req.context.enforce("get_metadef_tags")
    return Reply(200, {"tags": _m(req).list_items(req.context, req.params["ns"], "tag")})


@service.route("POST", NS + "/{ns}/tags")
def create_tags(req: Request) -> Reply:
    """Bulk create ``{"tags": [{"name"}...]}``: replaces the namespace's tags, or adds
    to them with ``X-Openstack-Append: True``; 409 for duplicates."""
    req.context.enforce("add_metadef_tags")
    body = req.json()
    if not isinstance(body, dict):
        raise exc.BadRequest("Body must be a JSON object.")
    validate(body, {"type": "object", "required": ["tags"], "properties": {
        "tags": {"type": "array", "items": ms.TAG}}})
    append = (req.headers.get("x-openstack-append") or "").lower() == "true"
    rows = _m(req).create_tags(req.context, req.params["ns"],
                               [t["name"] for t in body["tags"]], append)
    return Reply(201, {"tags": [{"name": r["name"]} for r in rows]})


@service.route("POST", NS + "/{ns}/tags/{name}")
def create_tag(req: Request) -> Reply:
    req.context.enforce("add_metadef_tag")
    name = req.params["name"]
    if len(name) > 255:
        raise exc.BadRequest("Tag name is too long: at most 255 characters.")
    return Reply(201, _m(req).create_item(req.context, req.params["ns"], "tag", name, {}))


@service.route("GET", NS + "/{ns}/tags/{name}")
def get_tag(req: Request) -> Reply:
    req.context.enforce("get_metadef_tag")
    return Reply(200, _m(req).get_item(req.context, req.params["ns"], "tag",
                                       req.params["name"]))


@service.route("PUT", NS + "/{ns}/tags/{name}")
def update_tag(req: Request) -> Reply:
    """``{"name": new}``: renames the tag."""
    req.context.enforce("modify_metadef_tag")
    body = _body(req, ms.TAG)
    return Reply(200, _m(req).update_item(req.context, req.params["ns"], "tag",
                                          req.params["name"], body["name"], {}))


@service.route("DELETE", NS + "/{ns}/tags/{name}")
def delete_tag(req: Request) -> Reply:
    req.context.enforce("delete_metadef_tag")
    _m(req).delete_item(req.context, req.params["ns"], "tag", req.params["name"])
    return Reply(204)


@service.route("DELETE", NS + "/{ns}/{kind}")
def delete_all(req: Request) -> Reply:
    """``DELETE .../objects``, ``/properties``, ``/tags``: 204; 403 if protected."""
    kind = {"objects": "object", "properties": "property", "tags": "tag"}.get(
        req.params["kind"])
    if kind is None:
        raise exc.NotFound("The resource could not be found.")
    req.context.enforce({"object": "delete_metadef_object",
                         "property": "remove_metadef_property",
                         "tag": "delete_metadef_tags"}[kind])
    _m(req).delete_all(req.context, req.params["ns"], kind)
    return Reply(204)


# -- resource types -------------------------------------------------------------------
@service.route("GET", "/v2/metadefs/resource_types")
def list_resource_types(req: Request) -> Reply:
    req.context.enforce("list_metadef_resource_types")
    return Reply(200, {"resource_types": _m(req).list_resource_types()})


@service.route("GET", NS + "/{ns}/resource_types")
def list_associations(req: Request) -> Reply:
    req.context.enforce("get_metadef_resource_type")
    return Reply(200, {"resource_type_associations": _m(req).list_associations(
        req.context, req.params["ns"])})


@service.route("POST", NS + "/{ns}/resource_types")
def associate(req: Request) -> Reply:
    """201 with the association; the resource type is created if new; 409 if already
    associated."""
    req.context.enforce("add_metadef_resource_type_association")
    body = _body(req, ms.RESOURCE_TYPE_ASSOCIATION)
    return Reply(201, _m(req).associate(req.context, req.params["ns"], body))


@service.route("DELETE", NS + "/{ns}/resource_types/{name}")
def dissociate(req: Request) -> Reply:
    req.context.enforce("remove_metadef_resource_type_association")
    _m(req).dissociate(req.context, req.params["ns"], req.params["name"])
    return Reply(204)


# -- schemas --------------------------------------------------------------------------
@service.route("GET", "/v2/schemas/metadefs/{name}")
def get_schema(req: Request) -> Reply:
    schema = ms.BY_NAME.get(req.params["name"])
    if schema is None:
        raise exc.NotFound("The resource could not be found.")
    return Reply(200, schema)
