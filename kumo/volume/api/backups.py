"""Backups (Block Storage API v3 "Backups (backups)", "Backup actions"): create,
list (summary, detail), show, update (3.9), delete, restore, export/import record,
``os-reset_status``, ``os-force_delete``."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.volume import schemas
from kumo.volume.api import at_least, render, service
from kumo.volume.api.volumes import admin_action, all_tenants, target


def _list(req: Request, detail: bool) -> Reply:
    req.context.enforce("backup:get_all", target(req))
    backups = req.cloud.volumes.backups
    rows, more = backups.list(req.context, req.query, all_tenants(req))
    if detail:
        with req.cloud.volumes.read() as s:
            items = [render.backup(req, b, backups.has_dependents(s, b.id)) for b in rows]
    else:
        items = [{"id": b.id, "name": b.name, "links": render.links(req, "backups", b.id)}
                 for b in rows]
    body = {"backups": items}
    if more and rows:
        body["backups_links"] = render.next_link(
            req, "backups/detail" if detail else "backups", rows[-1].id)
    return Reply(200, body)


@service.route("GET", "/v3/backups")
def index(req: Request) -> Reply:
    return _list(req, False)


@service.route("GET", "/v3/backups/detail")
def detail(req: Request) -> Reply:
    return _list(req, True)


@service.route("POST", "/v3/backups")
def create(req: Request) -> Reply:
    body = req.json(schemas.CREATE_BACKUP)["backup"]
    for key in ("incremental", "force"):
        body[key] = schemas.as_bool(body.get(key, False))
    vol = req.cloud.volumes.volumes.get(req.context, body["volume_id"])
    req.context.enforce("backup:create", target(req, vol.project_id))
    backup = req.cloud.volumes.backups.create(req.context, body)
    return Reply(202, {"backup": {"id": backup.id, "name": backup.name,
                                  "links": render.links(req, "backups", backup.id)}})


def _get(req: Request, action: str):
    backups = req.cloud.volumes.backups
    backup = backups.get(req.context, req.params["backup_id"])
    req.context.enforce(action, target(req, backup.project_id))
    return backups, backup


@service.route("GET", "/v3/backups/{backup_id}")
def show(req: Request) -> Reply:
    backups, backup = _get(req, "backup:get")
    with req.cloud.volumes.read() as s:
        dependents = backups.has_dependents(s, backup.id)
    return Reply(200, {"backup": render.backup(req, backup, dependents)})


@service.route("PUT", "/v3/backups/{backup_id}")
def update(req: Request) -> Reply:
    if not at_least(req, "3.9"):
        from kumo.common import exceptions as exc
        raise exc.NotFound("The resource could not be found.")
    attrs = req.json(schemas.UPDATE_BACKUP)["backup"]
    backups, backup = _get(req, "backup:update")
    backup = backups.update(req.context, backup.id, attrs)
    # Cinder answers an update with the summary view
    return Reply(200, {"backup": {"id": backup.id, "name": backup.name,
                                  "links": render.links(req, "backups", backup.id)}})


@service.route("DELETE", "/v3/backups/{backup_id}")
def delete(req: Request) -> Reply:
    backups, backup = _get(req, "backup:delete")
    backups.delete(req.context, backup.id)
    return Reply(202)


@service.route("POST", "/v3/backups/{backup_id}/restore")
def restore(req: Request) -> Reply:
    arg = req.json(schemas.RESTORE)["restore"] or {}
    backups, backup = _get(req, "backup:restore")
    backup, vol = backups.restore(req.context, backup.id, arg.get("volume_id"),
                                  arg.get("name"))
    return Reply(202, {"restore": {"backup_id": backup.id, "volume_id": vol.id,
                                   "volume_name": vol.name}})


@service.route("GET", "/v3/backups/{backup_id}/export_record")
def export_record(req: Request) -> Reply:
    backups, backup = _get(req, "backup:backup-export")
    return Reply(200, {"backup-record": backups.export_record(req.context, backup.id)})


@service.route("POST", "/v3/backups/import_record")
def import_record(req: Request) -> Reply:
    record = req.json(schemas.IMPORT_RECORD)["backup-record"]
    req.context.enforce("backup:backup-import", target(req))
    backup = req.cloud.volumes.backups.import_record(
        req.context, record["backup_service"], record["backup_url"])
    return Reply(201, {"backup": {"id": backup.id, "name": backup.name,
                                  "links": render.links(req, "backups", backup.id)}})


@service.route("POST", "/v3/backups/{backup_id}/action")
def action(req: Request) -> Reply:
    backups = req.cloud.volumes.backups
    return admin_action(req, "backup", backups, backups.get(req.context, req.params["backup_id"]))
