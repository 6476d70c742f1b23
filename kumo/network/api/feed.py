"""Kumo's data-plane feed under ``/networking/kumo/v1`` (admin, service role): the desired state
snapshot and the watch of changes. See :mod:`kumo.network.feed`."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.changefeed import parse_watch
from kumo.common.http import Pending, Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.network.api import service
from kumo.network.feed import parse_keys

register([RuleDefault("kumo:watch_network_state", "rule:admin_or_service")])


@service.route("GET", "/kumo/v1/state")
def snapshot(req: Request) -> Reply:
    """``{"revision": R, <collection>: [...]}``: the desired state for ``?host=``.
    With ``?keys=ports:ID,networks:ID,...`` only those objects (those in the host's
    state; a key not answered is not), in only those collections: what an agent
    fetches for a batch of changes. 400 for a malformed key."""
    req.context.enforce("kumo:watch_network_state")
    keys = None
    if "keys" in req.query:
        try:
            keys = parse_keys(",".join(req.query.getlist("keys")))
        except ValueError as e:
            raise exc.BadRequest(f"Invalid input for keys: '{e}' is not "
                                 "collection:id.") from None
    return Reply(200, req.cloud.networking.feed.snapshot(req.query.get("host"), keys))


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
