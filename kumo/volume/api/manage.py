"""Volume manage and unmanage (Block Storage API v3 "Volume manage extension
(manageable_volumes)"): ``POST /v3/os-volume-manage`` (every microversion) and
``POST /v3/manageable_volumes`` (3.8+) bring existing backend data under management;
``GET /v3/manageable_volumes`` and ``.../detail`` (3.8+, admins, ``host`` required)
list what a backend could hand over; the ``os-unmanage`` volume action
(kumo/volume/api/volume_actions.py) lets a volume go and keeps its data. The logic is
kumo/volume/manage.py. Manageable snapshots are not offered (404)."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.volume import schemas
from kumo.volume.api import at_least, render, service
from kumo.volume.api.volumes import target


def _manage(req: Request) -> Reply:
    body = req.json(schemas.MANAGE_VOLUME)["volume"]
    req.context.enforce("volume_extension:volume_manage", target(req))
    if body.get("bootable") is not None:
        body["bootable"] = schemas.as_bool(body["bootable"])
    vol = req.cloud.volumes.manage.manage(req.context, body)
    return Reply(202, {"volume": render.volume(req, vol, created=True)})


@service.route("POST", "/v3/os-volume-manage")
def manage_legacy(req: Request) -> Reply:
    return _manage(req)


@service.route("POST", "/v3/manageable_volumes")
def manage(req: Request) -> Reply:
    if not at_least(req, "3.8"):
        raise exc.NotFound("The resource could not be found.")
    return _manage(req)


def _list(req: Request, detail: bool) -> Reply:
    if not at_least(req, "3.8"):
        raise exc.NotFound("The resource could not be found.")
    req.context.enforce("volume_extension:list_manageable", target(req))
    items = req.cloud.volumes.manage.manageable(req.query.get("host"))
    if not detail:
        items = [{k: i[k] for k in ("reference", "size", "safe_to_manage")}
                 for i in items]
    return Reply(200, {"manageable-volumes": items})


@service.route("GET", "/v3/manageable_volumes")
def index(req: Request) -> Reply:
    return _list(req, detail=False)


@service.route("GET", "/v3/manageable_volumes/detail")
def detail(req: Request) -> Reply:
    return _list(req, detail=True)
