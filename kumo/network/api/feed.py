"""Kumo's data-plane feed under ``/networking/kumo/v1`` (admin only): the desired state
snapshot and the watch of changes. See :mod:`kumo.network.feed`."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.network.api import service
from kumo.network.feed import parse_keys

register([RuleDefault("kumo:watch_network_state", "rule:admin")])


def _float(req: Request, name: str, default: float) -> float:
    try:
        return float(req.query.get(name, default))
    except ValueError:
        raise exc.BadRequest(f"Invalid input for {name}: not a number.") from None


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
