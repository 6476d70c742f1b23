"""Kumo's data-plane feed under ``/networking/kumo/v1`` (admin, service role): the desired state
snapshot and the watch of changes. See :mod:`kumo.network.feed`."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.network.api import service

register([RuleDefault("kumo:watch_network_state", "rule:admin_or_service")])


def _float(req: Request, name: str, default: float) -> float:
    try:
        return float(req.query.get(name, default))
    except ValueError:
        raise exc.BadRequest(f"Invalid input for {name}: not a number.") from None


@service.route("GET", "/kumo/v1/state")
def snapshot(req: Request) -> Reply:
    """``{"revision": R, <collection>: [...]}``: the desired state for ``?host=``."""
    req.context.enforce("kumo:watch_network_state")
    return Reply(200, req.cloud.networking.feed.snapshot(req.query.get("host")))


@service.route("GET", "/kumo/v1/changes")
def changes(req: Request) -> Reply:
    """Changes after ``?since=R`` for ``?host=H``, long-polling up to ``?wait=S`` s.
    410 when ``since`` is older than the retained history (relist)."""
    req.context.enforce("kumo:watch_network_state")
    try:
        since = int(req.query.get("since", "0"))
    except ValueError:
        raise exc.BadRequest("Invalid input for since: not an integer.") from None
    body = req.cloud.networking.feed.changes(since, req.query.get("host"),
                                             _float(req, "wait", 0.0))
    return Reply(200, body)
