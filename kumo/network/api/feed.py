"""Kumo's data-plane feed under ``/networking/kumo/v1`` (admin, service role): the desired state
snapshot and the watch of changes. See :mod:`kumo.network.feed`."""
from __future__ import annotations

from kumo.common.changefeed import parse_watch
from kumo.common.http import Pending, Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.network.api import service

register([RuleDefault("kumo:watch_network_state", "rule:admin_or_service")])


@service.route("GET", "/kumo/v1/state")
def snapshot(req: Request) -> Reply:
    """``{"revision": R, <collection>: [...]}``: the desired state for ``?host=``."""
    req.context.enforce("kumo:watch_network_state")
    return Reply(200, req.cloud.networking.feed.snapshot(req.query.get("host")))


@service.route("GET", "/kumo/v1/changes")
def changes(req: Request) -> Reply | Pending:
    """Changes after ``?since=R`` for ``?host=H``, long-polling up to ``?wait=S`` s
    (0 to 300) without holding a worker thread while waiting
    (:meth:`kumo.common.changefeed.ChangeFeed.long_poll`). 400 for a bad ``since`` or
    ``wait``; 410 when ``since`` is older than the retained history or newer than the
    current revision (relist)."""
    req.context.enforce("kumo:watch_network_state")
    since, wait = parse_watch(req.query)
    return req.cloud.networking.feed.long_poll(since, req.query.get("host"), wait)
