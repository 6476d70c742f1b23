"""Volume transfers (Block Storage API v3 "Volume transfer", ``/os-volume-transfer``;
"Volume transfers (volume-transfers) 3.55 or later"): create, list (summary,
detail), show, delete, accept."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.common.timeutils import isotime
from kumo.volume import schemas
from kumo.volume.api import render as views
from kumo.volume.api import service
from kumo.volume.api.volumes import all_tenants, target

BASES = ("/v3/os-volume-transfer", "/v3/volume-transfers")


def _render(req: Request, row, detail: bool = True) -> dict:
    body = {"id": row.id, "name": row.name, "volume_id": row.volume_id,
            "links": views.links(req, "os-volume-transfer", row.id)}
    if detail:
        body["created_at"] = isotime(row.created_at)
    return body


def _routes(base: str) -> None:
    @service.route("POST", base)
    def create(req: Request) -> Reply:
        body = req.json(schemas.TRANSFER_CREATE)["transfer"]
        vol = req.cloud.volumes.volumes.get(req.context, body["volume_id"])
        req.context.enforce("volume:create_transfer", target(req, vol.project_id))
        row, key = req.cloud.volumes.transfers.create(
            req.context, vol.id, body.get("name"),
            schemas.as_bool(body.get("no_snapshots", False)))
        return Reply(202, {"transfer": {**_render(req, row), "auth_key": key}})

    @service.route("GET", base)
    def index(req: Request) -> Reply:
        req.context.enforce("volume:get_all_transfers", target(req))
        rows = req.cloud.volumes.transfers.list(req.context, all_tenants(req))
        return Reply(200, {"transfers": [_render(req, r, False) for r in rows]})

    @service.route("GET", base + "/detail")
    def detail(req: Request) -> Reply:
        req.context.enforce("volume:get_all_transfers", target(req))
        rows = req.cloud.volumes.transfers.list(req.context, all_tenants(req))
        return Reply(200, {"transfers": [_render(req, r) for r in rows]})

    @service.route("GET", base + "/{transfer_id}")
    def show(req: Request) -> Reply:
        row = req.cloud.volumes.transfers.get(req.context, req.params["transfer_id"])
        req.context.enforce("volume:get_transfer", target(req, row.project_id))
        return Reply(200, {"transfer": _render(req, row)})

    @service.route("DELETE", base + "/{transfer_id}")
    def delete(req: Request) -> Reply:
        row = req.cloud.volumes.transfers.get(req.context, req.params["transfer_id"])
        req.context.enforce("volume:delete_transfer", target(req, row.project_id))
        req.cloud.volumes.transfers.delete(req.context, row.id)
        return Reply(202)

    @service.route("POST", base + "/{transfer_id}/accept")
    def accept(req: Request) -> Reply:
        body = req.json(schemas.TRANSFER_ACCEPT)["accept"]
        req.context.enforce("volume:accept_transfer", target(req))
        row = req.cloud.volumes.transfers.accept(req.context, req.params["transfer_id"],
                                                 body["auth_key"])
        return Reply(202, {"transfer": {"id": row.id, "name": row.name,
                                        "volume_id": row.volume_id,
                                        "links": _render(req, row)["links"]}})

    for fn in (create, index, detail, show, delete, accept):
        fn.__name__ = f"{fn.__name__}_{base.rsplit('/', 1)[1].replace('-', '_')}"


for _base in BASES:
    _routes(_base)
