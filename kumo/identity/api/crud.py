"""The list/show/update/delete handlers every plain Identity resource shares.

``standard_routes("region", "regions", "catalog", render.region, schemas.REGION_UPDATE)``
registers ``GET /v3/regions``, ``GET|PATCH|DELETE /v3/regions/{region_id}``: each enforces
``identity:<verb>_<name>``, calls ``identity.<part>.<verb>_<name>`` (``list_<collection>``
for the list) and renders. Creation differs per resource and stays with the resource.
"""
from __future__ import annotations

from typing import Callable

from kumo.common.http import Reply, Request
from kumo.identity.api import render as renderers
from kumo.identity.api import service

ALL = ("list", "get", "update", "delete")


def query_filters(req: Request) -> dict[str, list[str]]:
    """The request's query as a plain dict, each parameter's values in the order given
    (``?tags=a&tags=b`` -> ``{"tags": ["a", "b"]}``): what the identity managers' list
    methods take (they never see HTTP types)."""
    return {key: req.query.getlist(key) for key in req.query.keys()}


def standard_routes(name: str, collection: str, part: str, render: Callable,
                    update_schema: dict, operations: tuple = ALL,
                    get_target: Callable[[str], dict] | None = None,
                    truncate: bool = False) -> None:
    """Register the shared handlers of ``name`` (see the module doc).

    ``get_target(id)`` gives the policy target of a show (default: none); ``truncate``
    applies the ``list_limit`` setting to the list.
    """
    member = f"/v3/{collection}/{{{name}_id}}"

    def manager(req: Request):
        return getattr(req.cloud.identity, part)

    def list_(req: Request) -> Reply:
        req.context.enforce(f"identity:list_{collection}")
        rows = getattr(manager(req), f"list_{collection}")(query_filters(req))
        limit = req.cloud.settings.list_limit if truncate else 0
        return Reply(200, renderers.collection(req, collection,
                                               [render(req, r) for r in rows], limit))

    def get(req: Request) -> Reply:
        item_id = req.params[f"{name}_id"]
        req.context.enforce(f"identity:get_{name}",
                            get_target(item_id) if get_target else None)
        return Reply(200, {name: render(req, getattr(manager(req), f"get_{name}")(item_id))})

    def update(req: Request) -> Reply:
        req.context.enforce(f"identity:update_{name}")
        ref = req.json(update_schema)[name]
        row = getattr(manager(req), f"update_{name}")(req.params[f"{name}_id"], ref)
        return Reply(200, {name: render(req, row)})

    def delete(req: Request) -> Reply:
        req.context.enforce(f"identity:delete_{name}")
        getattr(manager(req), f"delete_{name}")(req.params[f"{name}_id"])
        return Reply(204)

    handlers = {"list": ("GET", f"/v3/{collection}", list_), "get": ("GET", member, get),
                "update": ("PATCH", member, update), "delete": ("DELETE", member, delete)}
    for op in operations:
        method, path, handler = handlers[op]
        handler.__name__ = f"{op}_{name}"
        service.route(method, path)(handler)
