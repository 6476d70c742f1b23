"""The ASGI edge's per-request bookkeeping: a request id on every response and one
access line per request on logger ``kumo.access``.

:func:`serve` wraps the application's handling of one HTTP request:

- it makes the request id (``req-<uuid4>``) and binds it (with a valid incoming
  ``X-OpenStack-Request-ID`` as the global request id) as the current
  :class:`~kumo.common.log.LogContext`, so every line logged for the request, on the
  event loop or in its worker thread, carries it;
- every response gets the id in ``x-openstack-request-id`` (and the service's other
  id headers, e.g. Nova's ``x-compute-request-id``) unless the reply set them: faults,
  the router's 404s and the errors the edge answers itself (414, 408, 413) alike;
- once the response is sent (or the request ends otherwise), one line as Neutron's and
  Nova's WSGI servers write it::

      127.0.0.1 "GET /networking/v2.0/networks?limit=1 HTTP/1.1" status: 200 len: 123
      time: 0.0123

  (one line in the log; ``len`` is body bytes sent, ``time`` seconds). INFO, except successful calls of the
  agents' own routes (``/kumo/v1/``: long polls, heartbeats, status reports), which
  are DEBUG so that a cloud with many hosts still has a readable INFO log. A request
  whose client left before any response is logged with status 499 (nginx's "client
  closed request");
- an exception escaping the application is logged at ERROR with its traceback and,
  if nothing was sent yet, answered with a 500 carrying the request id.
"""
from __future__ import annotations

import logging
import re
import time
from typing import Awaitable, Callable

from kumo.common import log

ACCESS = logging.getLogger("kumo.access")
LOG = logging.getLogger(__name__)

#: Paths of the agents' routes, logged at DEBUG when they succeed.
AGENT_ROUTE = re.compile(r"^/[^/]+/kumo/v1/")
#: Longest request target written in an access line.
MAX_LOGGED_URL = 2048
#: Status logged for a request whose client went away before any response.
CLIENT_CLOSED = 499


def request_line(scope) -> str:
    """``METHOD /path?query HTTP/x.y`` as the client sent it (non-ASCII bytes
    escaped, at most :data:`MAX_LOGGED_URL` characters of target)."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    query = scope.get("query_string") or b""
    target = raw + (b"?" + query if query else b"")
    text = target.decode("ascii", "backslashreplace")
    if not text.isprintable():  # no control character may start a forged line
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > MAX_LOGGED_URL:
        text = text[:MAX_LOGGED_URL] + "..."
    return f"{scope['method']} {text} HTTP/{scope.get('http_version', '1.1')}"


async def serve(app: Callable[..., Awaitable[None]], scope, receive, send,
                id_headers: tuple[str, ...] = ("x-openstack-request-id",)) -> None:
    """Run ``app(scope, receive, send)`` for one HTTP request with a request id, the
    id headers on its response and its access line (see the module docstring)."""
    request_id = log.new_request_id()
    incoming = None
    for name, value in scope.get("headers") or ():
        if name == b"x-openstack-request-id":
            incoming = log.global_request_id(value.decode("latin-1"))
    token = log.bind(request_id, incoming)
    ctx = log.current()
    started = time.perf_counter()
    state = {"status": None, "bytes": 0}
    wanted = [(h.lower().encode(), request_id.encode()) for h in id_headers]

    async def send_logged(message):
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or ())
            have = {k.lower() for k, _ in headers}
            headers += [(k, v) for k, v in wanted if k not in have]
            message = {**message, "headers": headers}
            state["status"] = message["status"]
        elif message["type"] == "http.response.body":
            state["bytes"] += len(message.get("body") or b"")
        await send(message)

    try:
        await app(scope, receive, send_logged)
    except Exception:
        LOG.exception("unexpected error serving %s", request_line(scope))
        if state["status"] is None:
            await send_logged({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"application/json")]})
            await send_logged({"type": "http.response.body", "body": (
                b'{"error": {"code": 500, "title": "Internal Server Error", "message": '
                b'"An unexpected error prevented the server from fulfilling your '
                b'request."}}')})
    finally:
        status = state["status"] or CLIENT_CLOSED
        level = logging.DEBUG if status < 400 and AGENT_ROUTE.match(scope["path"]) \
            else logging.INFO
        if ACCESS.isEnabledFor(level):
            client = scope.get("client")
            ACCESS.log(level, '%s "%s" status: %d len: %d time: %.4f',
                       client[0] if client else "-", request_line(scope), status,
                       state["bytes"], time.perf_counter() - started,
                       extra={"context": ctx.text(), "request_id": request_id})
        log.CURRENT.reset(token)
