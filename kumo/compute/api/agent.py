"""The compute agents' routes under ``/compute/kumo/v1`` (admin, service role; Kumo's own API):
the desired-state snapshot and change feed, instance status reports and host
heartbeats. See the compute contract in :mod:`kumo.compute.feed` and
:mod:`kumo.compute.actions`."""
from __future__ import annotations

import base64

from kumo.common import exceptions as exc
from kumo.common.changefeed import parse_watch
from kumo.common.http import Pending, Reply, Request
from kumo.compute import schemas
from kumo.compute.api import service

RULE = "kumo:compute_agent"


@service.route("GET", "/kumo/v1/state")
def state(req: Request) -> Reply:
    """``{"revision": R, "instances": [...]}`` for ``?host=``."""
    req.context.enforce(RULE)
    return Reply(200, req.cloud.compute.feed.snapshot(req.query.get("host")))


@service.route("GET", "/kumo/v1/changes")
def changes(req: Request) -> Reply | Pending:
    """Changes after ``?since=R`` for ``?host=H``, long-polling up to ``?wait=S`` s
    (0 to 300) without holding a worker thread while waiting; 400 for a bad ``since``
    or ``wait``, 410 when ``since`` is outside the retained history (relist)."""
    req.context.enforce(RULE)
    since, wait = parse_watch(req.query)
    return req.cloud.compute.feed.long_poll(since, req.query.get("host"), wait)


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


@service.route("PUT", "/kumo/v1/instances/{instance_id}/snapshots/{image_id}", stream=True)
def snapshot_data(req: Request) -> Reply:
    """The agent's upload of a pending snapshot's data (``?host=H``; the body is the
    gzip'd root filesystem tar): 204 once the image is ``active`` and the server's task
    ended (:meth:`kumo.compute.snapshots.Snapshots.begin_upload`). 404 unknown
    instance or image (deleted meanwhile), 409 not on that host, no such snapshot in
    progress, or the image not ``queued``; 413 past the image store's quota."""
    req.context.enforce(RULE)
    length = req.headers.get("content-length")
    req.receive_into(req.cloud.compute.snapshots.begin_upload(
        req.params["instance_id"], req.params["image_id"], req.query.get("host"),
        int(length) if length and length.isdigit() else None))
    return Reply(204)


@service.route("POST", "/kumo/v1/instances/{instance_id}/snapshots/{image_id}")
def snapshot_failed(req: Request) -> Reply:
    """The agent could not take or upload a pending snapshot: ``{"host", "error"}``;
    204: the server's task ends and the image is deleted (as Nova). 404/409 as
    :func:`snapshot_data`."""
    req.context.enforce(RULE)
    body = req.json(schemas.SNAPSHOT_FAILED)
    req.cloud.compute.snapshots.finished(req.params["instance_id"],
                                         req.params["image_id"], body.get("host"),
                                         body["error"][:1000] or "snapshot failed")
    return Reply(204)


@service.route("GET", "/kumo/v1/instances/{instance_id}/config_drive")
def config_drive(req: Request) -> Reply:
    """The files of an instance's config drive for the agent of ``?host=H`` that builds
    it: ``{"files": {path: base64 content}}``
    (:func:`kumo.compute.metadata.config_drive_files`, the metadata service's
    renderings). 404 unknown instance; 409 not on that host or no config drive."""
    req.context.enforce(RULE)
    from kumo.compute.metadata import config_drive_files
    compute = req.cloud.compute
    with compute.read() as s:
        row = compute.servers.get(s, None, req.params["instance_id"])
        if row.host != req.query.get("host"):
            raise exc.Conflict(f"Instance {row.id} is not on host "
                               f"{req.query.get('host')}.")
        if row.config_drive != "True":
            raise exc.Conflict(f"Instance {row.id} has no config drive.")
        facts = compute.servers.port_facts(s, [p["port_id"] for p in row.ports])
        files = config_drive_files(row, [facts[p["port_id"]] for p in row.ports
                                         if p["port_id"] in facts])
    return Reply(200, {"files": {k: base64.b64encode(v).decode()
                                 for k, v in files.items()}})
