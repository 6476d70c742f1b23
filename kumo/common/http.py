"""HTTP glue shared by every service: routing, request parsing, replies and faults.

A service is a :class:`Service` holding routes whose handlers are plain synchronous
functions ``handler(req: Request) -> Reply``. The ASGI edge reads the body, then runs
token validation and the handler in one worker thread (so database work and bcrypt never
block the event loop), and renders any :class:`~kumo.common.exceptions.KumoError` in the
service's own fault format.

Streaming, for bodies too large to hold (image data). Waiting for the network never
holds a worker thread:

- a route declared ``stream=True`` gets no ``req.body``: the edge does not read the
  body (nor cap it at :data:`MAX_BODY_BYTES`) before the handler runs. The handler
  checks what it must (policy, state) and hands a :class:`BodySink` to
  ``req.receive_into(sink)``, then returns the reply to send once the body is in. The
  edge then reads the body on the event loop and calls ``sink.write(chunk)`` (batches
  of up to 256 KiB) and finally ``sink.finish()`` in short worker-thread hops; if the
  client goes away (:class:`ClientDisconnected`, 400), sends nothing for the body idle
  timeout (:class:`BodyTimeout`, 408) or a sink call raises, it calls
  ``sink.abort()`` and answers that error instead. A handler that answers without a
  sink leaves the body unread; the edge drains it before replying;
- a buffered body is also received whole on the event loop (with the same idle
  timeout) before the worker thread is taken;
- a :class:`Reply` whose ``body`` is an iterator of ``bytes`` is sent chunk by chunk:
  each ``next`` runs in a short worker-thread hop (so it may read files), each send
  waits on the event loop (a slow reader holds no thread); with a ``content-length``
  header it is sent as is, without one chunked. The iterator's ``close()`` (a
  generator's ``finally``) runs when the response ends or fails;
- a handler may return a :class:`Pending` instead of a :class:`Reply` (a long poll
  with nothing to answer yet): the edge awaits ``pending.wait()`` on the event loop,
  holding no worker thread, then calls ``pending.then()`` in a short worker-thread hop
  (errors rendered as by :meth:`Service.dispatch`), which answers or waits again. A
  client that disconnects meanwhile ends the wait (nothing is sent).
"""
from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

import jsonschema
from starlette.datastructures import Headers, QueryParams

from kumo.common import exceptions as exc
from kumo.common import log

LOG = logging.getLogger(__name__)
MAX_BODY_BYTES = 1 << 20


@dataclass
class Reply:
    """What a handler returns: status, a JSON-able body (or raw bytes) and headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    @property
    def streaming(self) -> bool:
        """True when ``body`` is an iterator of ``bytes`` chunks (sent as they come)."""
        return self.body is not None and not isinstance(self.body, (bytes, dict, list, str))

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":")).encode()


class Pending:
    """A handler's answer that is not ready yet (see the module docstring):
    ``wait`` is an ``async`` callable returning when it is worth checking again (a
    wake-up or the deadline); ``then`` runs in a worker thread and returns the
    :class:`Reply` or another :class:`Pending`. Neither is called after the client
    left."""

    __slots__ = ("wait", "then")

    def __init__(self, wait: Callable[[], Awaitable[None]],
                 then: Callable[[], "Reply | Pending"]):
        self.wait = wait
        self.then = then


class Request:
    """One API request as handlers see it.

    Attributes: ``method``, ``path`` (below the service prefix), ``params`` (path
    parameters), ``query`` (a multi-dict), ``headers``, ``body`` (bytes; empty on a
    ``stream=True`` route, whose handler calls :meth:`receive_into`), ``sink`` (the
    :class:`BodySink` given to :meth:`receive_into`, or None),
    ``context`` (the :class:`~kumo.common.context.RequestContext`), ``url_base`` (scheme, host and
    service prefix, for ``links``), ``cloud`` (the :class:`~kumo.app.Cloud` whose
    managers handlers call), ``request_id`` (``req-<uuid4>``: the current
    :class:`~kumo.common.log.LogContext`'s, i.e. the edge's, else a new one) and
    ``global_request_id`` (a well-formed incoming ``X-OpenStack-Request-ID``, or None).
    """

    __slots__ = ("method", "path", "params", "query", "headers", "body", "context",
                 "url_base", "request_id", "global_request_id", "client", "cloud", "sink")

    def __init__(self, method: str, path: str, query: QueryParams, headers: Headers,
                 body: bytes, url_base: str, client: str | None = None):
        self.method = method
        self.path = path
        self.params: dict[str, str] = {}
        self.query = query
        self.headers = headers
        self.body = body
        self.url_base = url_base
        self.context = None
        self.cloud = None
        self.client = client
        self.sink: BodySink | None = None
        bound = log.current()
        if bound is not None:
            self.request_id = bound.request_id
            self.global_request_id = bound.global_request_id
        else:
            self.request_id = log.new_request_id()
            self.global_request_id = log.global_request_id(
                headers.get("x-openstack-request-id"))

    def json(self, schema: dict | None = None) -> Any:
        """The body parsed as JSON and checked against ``schema`` (JSON Schema).

        Raises :class:`~kumo.common.exceptions.ValidationError` (400) otherwise.
        """
        data = parse_json(self.body)
        if schema is not None:
            validate(data, schema)
        return data

    def receive_into(self, sink: BodySink) -> None:
        """On a ``stream=True`` route: have the edge feed the body to ``sink`` after
        the handler returns (see the module docstring); the handler's reply is sent
        only if ``sink.finish()`` succeeds."""
        self.sink = sink

    def flag(self, name: str) -> bool:
        """A boolean query flag: present and empty, or a true-ish value, is true."""
        if name not in self.query:
            return False
        return self.query[name].lower() not in ("0", "false", "no", "off")

    def url(self, path: str) -> str:
        return self.url_base + path


#: Deepest nesting of arrays and objects a JSON body may have (Kumo's bodies need < 10).
MAX_JSON_DEPTH = 64
_INVALID_JSON = ("Expecting to find valid JSON in request body. The server could not "
                 "comply with the request since it is either malformed or otherwise "
                 "incorrect. The client is assumed to be in error.")
#: A JSON string token, or one bracket (the depth scan skips brackets inside strings).
#: An unterminated string matches to the end, so every match succeeds: linear time.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)
#: A ``\\uD800``-``\\uDFFF`` escape: the only way a strict UTF-8 body yields a surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"{text} is out of range for a number")
    return value


def parse_json(body: bytes | str) -> Any:
    """A request body parsed as JSON, refusing with a 400 (ValidationError) what no
    handler or database could take: bytes that are not UTF-8, nesting deeper than
    :data:`MAX_JSON_DEPTH`, the non-standard ``NaN``/``Infinity`` literals and numbers
    that overflow a float (``1e400``), and strings holding a lone surrogate
    (``"\\ud800"``: not a Unicode scalar value, so no database can store it)."""
    try:
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
    except UnicodeDecodeError:
        raise exc.ValidationError(_INVALID_JSON) from None
    _check_depth(text)
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        raise exc.ValidationError(_INVALID_JSON) from None
    if _SURROGATE_ESCAPE.search(text) and _has_surrogate(data):
        raise exc.ValidationError("Invalid input: a string in the request body is not "
                                  "valid Unicode (lone surrogate).")
    return data


def _check_depth(text: str) -> None:
    """400 when arrays/objects nest deeper than :data:`MAX_JSON_DEPTH` (counted over the
    text, without recursion, before parsing)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return
    depth = 0
    for m in _JSON_TOKEN.finditer(text):
        c = m.group()
        if c == "[" or c == "{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise exc.ValidationError(
                    f"Request body is nested deeper than {MAX_JSON_DEPTH} levels.")
        elif c == "]" or c == "}":
            depth -= 1


def _has_surrogate(data: Any) -> bool:
    """True if any string (key or value) in parsed JSON holds a lone surrogate."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def has_surrogate(text: str) -> bool:
    """True if ``text`` holds a lone surrogate (not a sequence of Unicode scalars)."""
    return _SURROGATE.search(text) is not None


def validate(data: Any, schema: dict) -> None:
    """Check ``data`` against a JSON Schema, raising a 400 naming the bad field."""
    validator = _VALIDATORS.get(id(schema))
    if validator is None:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validator = cls(schema, format_checker=jsonschema.FormatChecker())
        _VALIDATORS[id(schema)] = validator
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        e = error
        where = ".".join(str(p) for p in e.absolute_path)
        if where:
            msg = f"Invalid input for field '{where}': {e.message}"
        else:
            msg = e.message
        raise exc.ValidationError(msg)


#: Compiled validators by schema identity (schemas are module-level constants).
_VALIDATORS: dict[int, object] = {}

Handler = Callable[[Request], Reply]
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    handler: Handler
    authenticated: bool
    segments: int
    stream: bool = False
    #: The path as registered (``/v3/users/{user_id}``).
    path: str = ""


class ClientDisconnected(exc.BadRequest):
    """The client went away before sending the whole body of a streamed request."""

    message = "The client disconnected before the request body was complete."


class BodyTimeout(exc.KumoError):
    """The client sent no part of the request body for the body idle timeout
    (``body_idle_timeout_s``): 408, as the HTTP servers in front of OpenStack APIs
    (Apache's mod_reqtimeout, nginx's ``client_body_timeout``) answer; the connection
    is closed."""

    status = 408
    title = "Request Timeout"
    message = ("The request body was not received in time: no data for %(seconds)s "
               "seconds.")


class BodySink(Protocol):
    """Where a ``stream=True`` handler has the body go (``req.receive_into``). Each
    method runs in a worker thread, one at a time, in this order: ``write`` for every
    batch of bytes, then ``finish`` once the body is complete, or ``abort`` (instead of
    or after a failed ``write``/``finish``) when the request fails. ``write`` and
    ``finish`` may raise a :class:`~kumo.common.exceptions.KumoError`, which becomes
    the reply; ``abort`` must undo everything and not raise."""

    def write(self, chunk: bytes) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


def _segments(path: str) -> int:
    return path.strip("/").count("/") + 1 if path.strip("/") else 0


FaultRenderer = Callable[[exc.KumoError], dict]


def keystone_fault(error: exc.KumoError) -> dict:
    """Keystone's fault body: ``{"error": {"code", "title", "message"}}``."""
    return {"error": {"code": error.status, "title": error.title, "message": error.message}}


def media_type(req: Request) -> str:
    """The request's media type: Content-Type without parameters, lower case ('' when
    absent)."""
    return (req.headers.get("content-type") or "").split(";")[0].strip().lower()


def keystone_media_type(req: Request) -> None:
    """Keystone's rule for a request body: JSON (``application/json`` or
    ``application/*+json``) or no Content-Type at all; anything else is a 400
    ValidationError naming the header (Keystone's JSON body check)."""
    kind = media_type(req)
    if kind and kind != "application/json" and not (
            kind.startswith("application/") and kind.endswith("+json")):
        raise exc.ValidationError(
            "Expecting to find application/json in Content-Type header. The server "
            "could not comply with the request since it is either malformed or otherwise "
            "incorrect. The client is assumed to be in error.")


class Service:
    """A named API served under ``prefix`` (``/identity``, ``/networking``...).

    ``fault`` renders errors in the service's format. ``authenticate(req)`` is set by the
    application: it validates ``X-Auth-Token`` and returns a request context (or raises
    401); routes declared ``authenticated=False`` get a context only if a token is sent.
    """

    def __init__(self, name: str, prefix: str, fault: FaultRenderer = keystone_fault,
                 media_type: Callable[[Request], None] | None = None):
        self.name = name
        self.prefix = prefix.rstrip("/")
        self.fault = fault
        #: ``media_type(req)`` refuses a body's Content-Type (see check_media_type).
        self.media_type = media_type
        self.routes: list[Route] = []
        #: Routes by number of path segments: a request is matched only against those.
        self._by_segments: dict[int, list[Route]] = {}
        self.authenticate: Callable[[Request, bool], Any] | None = None
        #: Response headers carrying the request id (Nova adds x-compute-request-id).
        self.request_id_headers: tuple[str, ...] = ("x-openstack-request-id",)

    def route(self, method: str, path: str, authenticated: bool = True,
              stream: bool = False):
        """Decorator registering ``handler`` for ``method`` on ``path`` (``{param}``).

        ``stream=True``: the body is not read up front; the handler hands a
        :class:`BodySink` to ``req.receive_into`` (see the module docstring)."""
        regex = "^" + _PARAM.sub(r"(?P<\1>[^/]+)", path.rstrip("/") or "/") + "/?$"
        pattern = re.compile(regex)

        def register(handler: Handler) -> Handler:
            for m in method.split(","):
                route = Route(m.strip(), pattern, handler, authenticated, _segments(path),
                              stream, path)
                self.routes.append(route)
                self._by_segments.setdefault(route.segments, []).append(route)
            return handler
        return register

    def match(self, method: str, path: str) -> tuple[Route, dict]:
        """The route for ``method path``; raises 404 or 405 as the API does."""
        allowed = False
        for route in self._by_segments.get(_segments(path), ()):
            m = route.pattern.match(path)
            if m is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, m.groupdict()
            allowed = True
        if allowed:
            raise exc.MethodNotAllowed()
        raise exc.NotFound("The resource could not be found.")

    def context_for(self, req: Request, route) -> Any:
        """The request's context (``authenticate``'s, when set); a service that
        negotiates more per request (compute's microversion) extends it."""
        if self.authenticate is None:
            return req.context
        return self.authenticate(req, route.authenticated)

    def streams(self, method: str, path: str) -> bool:
        """True if ``method path`` goes to a ``stream=True`` route."""
        try:
            return self.match(method, path)[0].stream
        except exc.KumoError:
            return False

    def check_media_type(self, req: Request) -> None:
        """Refuse a request body's Content-Type as the service does (raise 400/415);
        runs after authentication, for requests with a body. Default: any type."""
        if self.media_type is not None:
            self.media_type(req)

    def dispatch(self, req: Request) -> Reply | Pending:
        """Authenticate, route and run the handler; errors become fault replies.

        Bad input that only shows deep down (a RecursionError, an integer or float the
        database cannot hold, a string it cannot encode) is a 400, not a 500: see
        :func:`input_error`. A handler's :class:`Pending` is returned as is (the edge
        waits, then calls :meth:`resume`).

        Logging: lines logged meanwhile carry the request id, user and project (the
        current :class:`~kumo.common.log.LogContext`, bound here if the edge did not);
        a 5xx is an ERROR line with the traceback, a 4xx an INFO line with the fault's
        message. Every reply carries the id in :attr:`request_id_headers`."""
        return self._logged(req, self._handle)

    def resume(self, req: Request, pending: Pending) -> Reply | Pending:
        """Run ``pending.then()`` (in a worker thread) as :meth:`dispatch` runs a
        handler: errors become fault replies, logged with the request's id."""
        return self._logged(req, lambda r: pending.then())

    def _logged(self, req: Request, step: Callable[[Request], Reply | Pending]
                ) -> Reply | Pending:
        token = None
        bound = log.current()
        if bound is None or bound.request_id != req.request_id:
            token = log.bind(req.request_id, req.global_request_id)
        try:
            reply = self._run(req, step)
        finally:
            if token is not None:
                log.CURRENT.reset(token)
        if not isinstance(reply, Pending):
            for name in self.request_id_headers:
                reply.headers.setdefault(name, req.request_id)
        return reply

    def _handle(self, req: Request) -> Reply | Pending:
        check_text(req)
        route, params = self.match(req.method, req.path)
        req.params = params
        req.context = self.context_for(req, route)
        bound = log.current()
        if req.context is not None and bound is not None:
            bound.user_id = getattr(req.context, "user_id", None)
            bound.project_id = getattr(req.context, "project_id", None)
        if req.body:
            self.check_media_type(req)
        return route.handler(req)

    def _run(self, req: Request, step: Callable[[Request], Reply | Pending]
             ) -> Reply | Pending:
        try:
            return step(req)
        except Exception as e:
            return self.error_reply(req, e)

    def error_reply(self, req: Request, e: Exception) -> Reply:
        """Log ``e`` (raised serving ``req``: by a handler, a :class:`Pending`'s
        re-check or the edge's body sink) and give its fault reply: a
        :class:`~kumo.common.exceptions.KumoError` as is, bad input found deep down as
        a 400 (:func:`input_error`), anything else as a 500."""
        # a hostile path may hold a lone surrogate: escaped, so no log handler meets a
        # string it cannot encode
        where = f"{req.method} {self.prefix}{req.path}".encode(
            "utf-8", "backslashreplace").decode("utf-8")
        if isinstance(e, exc.KumoError):
            if e.status >= 500:
                LOG.error("%s failed: %d %s: %s", where, e.status, e.title, e.message,
                          exc_info=e)
            else:
                LOG.info("%s failed: %d %s: %s", where, e.status, e.title, e.message)
            return self.fault_reply(req, e)
        error = input_error(e)
        if error is None:
            LOG.error("%s failed: unexpected error: %s: %s", where, type(e).__name__, e,
                      exc_info=e)
            error = exc.KumoError()
        else:
            LOG.info("%s failed: bad input: %d %s: %s (%r)", where, error.status,
                     error.title, error.message, e)
        return self.fault_reply(req, error)

    def fault_reply(self, req: Request, e: exc.KumoError) -> Reply:
        """The fault reply for ``e`` in the service's format."""
        reply = Reply(e.status, self.fault(e))
        if e.status == 401:
            reply.headers["WWW-Authenticate"] = 'Keystone uri="%s"' % req.url_base
        return reply


def check_text(req: Request) -> None:
    """400 when the path or the query string holds a lone surrogate (not Unicode
    scalars: no database could store or compare it)."""
    if _SURROGATE.search(req.path) or any(
            _SURROGATE.search(k) or _SURROGATE.search(v)
            for k, v in req.query.multi_items()):
        raise exc.ValidationError("Invalid input: the URL is not valid Unicode "
                                  "(lone surrogate).")


def input_error(e: BaseException) -> exc.KumoError | None:
    """The 400 for an exception that bad input caused below the API layer, or None.

    - ``RecursionError``: a structure too deep for some recursive code;
    - ``OverflowError``: an integer or float no column can hold (SQLite's driver);
    - ``UnicodeEncodeError``: a string the database driver cannot encode;
    - ``sqlalchemy.exc.DataError``: the database refused a value (PostgreSQL's "integer
      out of range", "value too long", a NUL character in text), and a driver error
      raised while binding parameters (``StatementError`` wrapping one of the above).
    """
    if isinstance(e, RecursionError):
        return exc.ValidationError("Invalid input: the request is nested too deeply.")
    if isinstance(e, OverflowError):
        return exc.ValidationError("Invalid input: a number is out of range.")
    if isinstance(e, UnicodeEncodeError):
        return exc.ValidationError("Invalid input: a string is not valid Unicode.")
    import sqlalchemy.exc as sa_exc

    if isinstance(e, sa_exc.DataError):
        return exc.ValidationError("Invalid input: a value is out of range or "
                                   "malformed for its field.")
    if isinstance(e, sa_exc.StatementError) and e.orig is not None and \
            not isinstance(e.orig, sa_exc.StatementError):
        return input_error(e.orig)
    return None
