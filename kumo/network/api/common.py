"""What every Networking API handler shares: Neutron's fault body, request bodies
(single and bulk), ``fields=`` and list rendering with ``<collection>_links``, and the
generic create/list/show/update/delete routes of a resource built from its definition
(:mod:`kumo.network.definitions`)."""
from __future__ import annotations

from typing import Callable

from kumo.common import exceptions as exc
from kumo.common.collection import select_fields
from kumo.common.http import Reply, Request, validate
from kumo.common.resource import Resource

#: Fault ``type`` for the generic errors (specific ones use their class name).
_GENERIC_TYPES = {exc.BadRequest: "HTTPBadRequest", exc.ValidationError: "HTTPBadRequest",
                  exc.Unauthorized: "HTTPUnauthorized", exc.Forbidden: "HTTPForbidden",
                  exc.PolicyNotAuthorized: "PolicyNotAuthorized",
                  exc.NotFound: "HTTPNotFound", exc.MethodNotAllowed: "HTTPMethodNotAllowed",
                  exc.Conflict: "HTTPConflict", exc.KumoError: "HTTPInternalServerError",
                  exc.PreconditionFailed: "HTTPPreconditionFailed",
                  exc.ServiceUnavailable: "HTTPServiceUnavailable",
                  exc.PayloadTooLarge: "HTTPRequestEntityTooLarge",
                  exc.URITooLong: "HTTPRequestURITooLong",
                  exc.UnsupportedMediaType: "HTTPUnsupportedMediaType"}


def neutron_fault(error: exc.KumoError) -> dict:
    """Neutron's fault body: ``{"NeutronError": {"type", "message", "detail"}}``."""
    kind = _GENERIC_TYPES.get(type(error), type(error).__name__)
    return {"NeutronError": {"type": kind, "message": error.message, "detail": ""}}


def items(req: Request, resource: str, collection: str, schema: dict) -> tuple[list, bool]:
    """The request body's resources: ``({resource: {...}})`` or bulk
    ``({collection: [...]})``; each is validated against ``schema`` (the inner object's
    schema). Returns ``(list of dicts, is_bulk)``."""
    body = req.json()
    if not isinstance(body, dict):
        raise exc.BadRequest("Body contains invalid data")
    if collection in body:
        entries = body[collection]
        if not isinstance(entries, list) or not entries:
            raise exc.BadRequest(f"Resources required: {collection} must be a non-empty list")
        bulk = True
    elif resource in body:
        entries = [body[resource]]
        bulk = False
    else:
        raise exc.BadRequest(f"Resource body required: expected '{resource}'")
    for entry in entries:
        if not isinstance(entry, dict):
            raise exc.BadRequest(f"Invalid input for {resource}: not a JSON object")
        validate(entry, schema)
    return entries, bulk


def one(req: Request, resource: str, schema: dict) -> dict:
    """The ``{resource: {...}}`` body of an update, validated against ``schema``."""
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get(resource), dict):
        raise exc.BadRequest(f"Resource body required: expected '{resource}'")
    validate(body[resource], schema)
    return body[resource]


def renderer(definition: Resource, load: Callable | None = None) -> Callable:
    """``render(req, session, rows) -> [dict]`` for a resource: ``definition.render``
    over the extras ``load(networking, session, rows)`` returns (loaded through the
    managers), with the caller's context for attributes that have a read policy."""
    def render(req: Request, session, rows: list) -> list[dict]:
        extras = load(req.cloud.networking, session, rows) if load is not None else {}
        return definition.render(rows, extras, req.context)
    return render


def tags_of(networking, session, rows: list) -> dict:
    """The extras of a resource whose only computed attribute is ``tags``."""
    return {"tags": networking.tags_of(session, [r.id for r in rows])}


def show(req: Request, resource: str, item: dict, status: int = 200) -> Reply:
    return Reply(status, {resource: select_fields(item, req.query)})


def created(req: Request, resource: str, collection: str, rendered: list[dict],
            bulk: bool) -> Reply:
    if bulk:
        return Reply(201, {collection: rendered})
    return Reply(201, {resource: rendered[0]})


def listing(req: Request, collection: str, rendered: list[dict], links: list[dict]) -> Reply:
    body = {collection: [select_fields(i, req.query) for i in rendered]}
    if links:
        body[f"{collection}_links"] = links
    return Reply(200, body)


def target_of(req: Request, attrs: dict | None = None) -> dict:
    """Policy target for a create: the project the resource will belong to."""
    attrs = attrs or {}
    return {"project_id": attrs.get("project_id") or attrs.get("tenant_id")
            or req.context.project_id}


def member_routes(definition: Resource, path: str, part_name: str, render: Callable, *,
                  param: str | None = None,
                  before: Callable[[Request], None] | None = None) -> None:
    """Register ``GET``, ``PUT`` (when the definition has updatable attributes) and
    ``DELETE`` on ``/v2.0/<path>/{<param>}`` for a resource whose logic part
    (``networking.parts[part_name]``) has ``get(session, ctx, id)``, ``update(session,
    ctx, row, attrs)`` and ``delete(session, ctx, row)``. ``before(req)`` runs first.
    ``PUT`` validates the body against ``definition.update_schema``, converts it
    (``definition.prepare``), enforces ``update_<resource>`` on its project and the
    attribute rules (``definition.enforce``), ``If-Match``, calls the part, renders
    with ``render(req, session, rows)``.
    """
    from kumo.network.api import service
    from kumo.network.manager import check_if_match

    resource = definition.name
    param = param or f"{resource}_id"
    member = f"/v2.0/{path}/{{{param}}}"

    def part(req: Request):
        return req.cloud.networking.parts[part_name]

    def show_(req: Request) -> Reply:
        if before is not None:
            before(req)
        with req.cloud.networking.read() as s:
            item = render(req, s, [part(req).get(s, req.context, req.params[param])])[0]
        return show(req, resource, item)

    def update(req: Request) -> Reply:
        attrs = definition.prepare(one(req, resource, definition.update_schema))
        with req.cloud.networking.write() as s:
            row = part(req).get(s, req.context, req.params[param])
            target = {"project_id": row.project_id}
            req.context.enforce(f"update_{resource}", target)
            definition.enforce(req.context, "update", attrs, target)
            check_if_match(row, req.headers.get("if-match"))
            part(req).update(s, req.context, row, attrs)
            s.flush()
            item = render(req, s, [row])[0]
        return show(req, resource, item)

    def delete(req: Request) -> Reply:
        with req.cloud.networking.write() as s:
            row = part(req).get(s, req.context, req.params[param])
            req.context.enforce(f"delete_{resource}", {"project_id": row.project_id})
            check_if_match(row, req.headers.get("if-match"))
            part(req).delete(s, req.context, row)
        return Reply(204)

    handlers = [("GET", show_), ("DELETE", delete)]
    if definition.update_schema["properties"]:
        handlers.append(("PUT", update))
    for method, handler in handlers:
        handler.__name__ = f"{handler.__name__.rstrip('_')}_{resource}"
        service.route(method, member)(handler)


def list_route(definition: Resource, path: str, part_name: str, render: Callable, *,
               visible: str = "visible", core_rows: bool = False,
               before: Callable[[Request], None] | None = None) -> None:
    """Register ``GET /v2.0/<path>``: the rows the caller may see
    (``networking.parts[part_name].<visible>(ctx)``), filtered, sorted and paged by
    the definition's collection (:meth:`Networking.page`), rendered by
    ``render(req, session, rows)``, with ``fields=`` and ``<collection>_links``."""
    from kumo.network.api import service

    collection = definition.collection

    def list_(req: Request) -> Reply:
        if before is not None:
            before(req)
        networking = req.cloud.networking
        with networking.read() as s:
            where = getattr(networking.parts[part_name], visible)(req.context)
            rows, links = networking.page(s, definition.collection_of, where, req.query,
                                          req.url(f"/v2.0/{path}"), core_rows=core_rows)
            rendered = render(req, s, rows)
        return listing(req, collection, rendered, links)

    list_.__name__ = f"list_{collection}"
    service.route("GET", f"/v2.0/{path}")(list_)


def create_route(definition: Resource, path: str, part_name: str, render: Callable, *,
                 quota: str | None = None, make: Callable | None = None) -> None:
    """Register ``POST /v2.0/<path>`` for single and bulk creates (all or nothing, in one
    transaction), bodies validated against ``definition.create_schema``. Per entry:
    ``definition.prepare``, then ``create_<resource>:project_id`` when creating for
    another project, then ``make(req, session, attrs, target)`` if given, else:
    ``create_<resource>``, the attribute rules (``definition.enforce``), the quota of
    ``quota`` and ``part.create(session, ctx, attrs)``; then the entry's tags. Renders
    with ``render(req, session, rows)``."""
    from kumo.network.api import service

    resource, collection = definition.name, definition.collection

    def default_make(req: Request, s, attrs: dict, target: dict):
        networking = req.cloud.networking
        req.context.enforce(f"create_{resource}", target)
        definition.enforce(req.context, "create", attrs, target)
        if quota is not None:
            networking.check_quota(s, target["project_id"], quota, 1)
        return networking.parts[part_name].create(s, req.context, attrs)

    def create(req: Request) -> Reply:
        entries, bulk = items(req, resource, collection, definition.create_schema)
        networking = req.cloud.networking
        with networking.write() as s:
            rows = []
            for attrs in entries:
                definition.prepare(attrs)
                target = target_of(req, attrs)
                if target["project_id"] != req.context.project_id:
                    req.context.enforce(f"create_{resource}:project_id", target)
                row = (make or default_make)(req, s, attrs, target)
                if attrs.get("tags"):
                    networking.set_tags(s, row, attrs["tags"])
                    row.revision_number = 0
                rows.append(row)
            s.flush()
            rendered = render(req, s, rows)
        return created(req, resource, collection, rendered, bulk)

    create.__name__ = f"create_{resource}"
    service.route("POST", f"/v2.0/{path}")(create)
