"""A server's in-progress live migrations (Compute API "Server migrations (servers,
migrations)"), admin only: list (2.23+), show (2.23+), force complete (2.22+) and abort
(2.24+). Kumo's live migrations between netns hosts are moves by stop and restart
(:mod:`kumo.compute.snapshots`): there is no memory copy to force, so force complete is
accepted and changes nothing, and once the guest is stopped a move cannot be undone, so
abort answers Nova's 400 for a migration in a state it cannot abort. Memory and disk
byte counters are 0 (nothing is copied live)."""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request, validate
from kumo.compute.api import at_least, service
from kumo.compute.api.migrations import _time
from kumo.compute.api.servers import get_row
from kumo.compute.models import Migration

P = "os_compute_api:servers:migrations:"
IN_PROGRESS = ("queued", "preparing", "running", "post-migrating")


def _not_found(req: Request) -> None:
    raise exc.NotFound("The resource could not be found.")


def _in_progress(req: Request, server_id: str) -> list[Migration]:
    with req.cloud.compute.read() as s:
        return list(s.scalars(sa.select(Migration).where(
            Migration.instance_uuid == server_id,
            Migration.migration_type == "live-migration",
            Migration.status.in_(IN_PROGRESS)).order_by(Migration.id)))


def _one(req: Request, server_id: str) -> Migration:
    found = [m for m in _in_progress(req, server_id)
             if str(m.id) == req.params["migration_id"]]
    if not found:
        raise exc.NotFound(f"In-progress live migration {req.params['migration_id']} is "
                           f"not found for server {server_id}.")
    return found[0]


def render(req: Request, m: Migration) -> dict:
    body = {"created_at": _time(m.created_at), "dest_compute": m.dest_compute,
            "dest_host": m.dest_host, "dest_node": m.dest_node,
            "disk_processed_bytes": 0, "disk_remaining_bytes": 0, "disk_total_bytes": 0,
            "id": m.id, "memory_processed_bytes": 0, "memory_remaining_bytes": 0,
            "memory_total_bytes": 0, "server_uuid": m.instance_uuid,
            "source_compute": m.source_compute, "source_node": m.source_node,
            "status": m.status, "updated_at": _time(m.updated_at)}
    if at_least(req, "2.59"):
        body["uuid"] = m.uuid
    if at_least(req, "2.80"):
        body["user_id"], body["project_id"] = m.user_id, m.project_id
    return body


@service.route("GET", "/v2.1/servers/{server_id}/migrations")
def index(req: Request) -> Reply:
    if not at_least(req, "2.23"):
        _not_found(req)
    row = get_row(req)
    req.context.enforce(P + "index", {"project_id": row.project_id})
    return Reply(200, {"migrations": [render(req, m) for m in _in_progress(req, row.id)]})


@service.route("GET", "/v2.1/servers/{server_id}/migrations/{migration_id}")
def show(req: Request) -> Reply:
    if not at_least(req, "2.23"):
        _not_found(req)
    row = get_row(req)
    req.context.enforce(P + "show", {"project_id": row.project_id})
    return Reply(200, {"migration": render(req, _one(req, row.id))})


@service.route("POST", "/v2.1/servers/{server_id}/migrations/{migration_id}/action")
def force_complete(req: Request) -> Reply:
    if not at_least(req, "2.22"):
        _not_found(req)
    row = get_row(req)
    req.context.enforce(P + "force_complete", {"project_id": row.project_id})
    validate(req.json(), {"type": "object", "properties": {"force_complete": {
        "type": "null"}}, "required": ["force_complete"], "additionalProperties": False})
    req.cloud.compute.servers.check_unlocked(req.context, row)
    if row.task_state != "migrating":
        raise exc.Conflict(f"Cannot 'force_complete' instance {row.id} while it is in "
                           f"task_state {row.task_state}" if row.task_state else
                           f"Cannot 'force_complete' instance {row.id} while it is in "
                           f"vm_state {row.vm_state}")
    m = _one(req, row.id) if req.params["migration_id"].isdigit() else None
    if m is None or m.status != "running":
        raise exc.BadRequest(f"Migration {req.params['migration_id']} state of instance "
                             f"{row.id} is {m.status if m else 'unknown'}. Cannot "
                             "force_complete while the migration is in this state.")
    return Reply(202)  # a move by stop and restart has no memory copy to cut short


@service.route("DELETE", "/v2.1/servers/{server_id}/migrations/{migration_id}")
def abort(req: Request) -> Reply:
    if not at_least(req, "2.24"):
        _not_found(req)
    row = get_row(req)
    req.context.enforce(P + "delete", {"project_id": row.project_id})
    m = _one(req, row.id)
    raise exc.BadRequest(f"Migration {m.id} state of instance {row.id} is {m.status}. "
                         "Cannot abort live migration while the migration is in this "
                         "state.")
