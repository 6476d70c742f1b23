"""The compute agents' routes under ``/compute/kumo/v1`` (admin only; Kumo's own API):
the desired-state snapshot and change feed, instance status reports and host
heartbeats. See the compute contract in :mod:`kumo.compute.feed` and
:mod:`kumo.compute.actions`."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.compute import schemas
from kumo.compute.api import service

RULE = "kumo:compute_agent"


@service.route("GET", "/kumo/v1/state")
def state(req: Request) -> Reply:
    """``{"revision": R, "instances": [...]}`` for ``?host=``."""
    req.context.enforce(RULE)
    return Reply(200, req.cloud.compute.feed.snapshot(req.query.get("host")))


@service.route("GET", "/kumo/v1/changes")
def changes(req: Request) -> Reply:
    """Changes after ``?since=R`` for ``?host=H``, long-polling up to ``?wait=S`` s
    (max 30); 410 when ``since`` is older than the retained history."""
    req.context.enforce(RULE)
    try:
        since = int(req.query.get("since", "0"))
        wait = float(req.query.get("wait", "0"))
    except ValueError:
        raise exc.BadRequest("since must be an integer and wait a number.") from None
    return Reply(200, req.cloud.compute.feed.changes(since, req.query.get("host"), wait))


@service.route("POST", "/kumo/v1/instances/{instance_id}/status")
def status(req: Request) -> Reply:
    """An agent's report on one instance: 204; 404 unknown, 409 not on that host.
    Observed state only, so no revision row unless the report changes desired state
    (:meth:`kumo.compute.actions.Actions.report`); ``console`` goes to
    ``compute_console`` in a transaction of its own."""
    req.context.enforce(RULE)
    body = req.json(schemas.STATUS)
    req.cloud.compute.actions.report(req.params["instance_id"], body)
    return Reply(204)


@service.route("POST", "/kumo/v1/hosts/heartbeat")
def heartbeat(req: Request) -> Reply:
    """A host's heartbeat: creates or refreshes its service and hypervisor; 204 (one
    short ``UPDATE`` when the host's facts are unchanged; no revision row)."""
    req.context.enforce(RULE)
    req.cloud.compute.hosts.heartbeat(req.json(schemas.HEARTBEAT))
    return Reply(204)
