"""The Kumo API application: one ASGI app serving every service under its path prefix.

:class:`Cloud` holds the settings, the database, the policy engine and each service's
manager. :func:`create_app` wraps it in the ASGI callable that ``kumo api`` and ``kumo
up`` serve with uvicorn.
"""
from __future__ import annotations

import json
import logging

import anyio
from starlette.datastructures import Headers, QueryParams

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.common.http import MAX_BODY_BYTES, ClientDisconnected, Reply, Request, Service
from kumo.common.policy import PolicyEngine
from kumo.config import Settings
from kumo.db import Database

LOG = logging.getLogger(__name__)


class Cloud:
    """Everything a request handler may call, built once per process."""

    def __init__(self, settings: Settings, db: Database | None = None):
        from kumo.compute.manager import Compute
        from kumo.identity.manager import Identity
        from kumo.image.manager import Images
        from kumo.network.manager import Networking

        self.settings = settings
        self.services = services()  # importing them registers their policy defaults
        self.db = db or Database(settings.db_url, pool_size=settings.worker_threads)
        self.policy = PolicyEngine(str(settings.policy_path))
        self.identity = Identity(settings, self.db)
        self.identity.auth.load_keys()
        self.networking = Networking(settings, self.db)
        self.images = Images(settings, self.db)
        self.compute = Compute(self)

    def authenticate(self, req: Request, required: bool) -> RequestContext:
        """Validate ``X-Auth-Token`` into a request context (401 if invalid or absent
        where ``required``)."""
        token_id = req.headers.get("x-auth-token")
        if not token_id:
            if required:
                raise exc.Unauthorized()
            return RequestContext(request_id=req.request_id, policy=self.policy)
        try:
            token = self.identity.auth.validate(token_id)
        except exc.NotFound:
            raise exc.Unauthorized() from None
        project = token.project
        return RequestContext(
            user_id=token.user.id, user_name=token.user.name,
            user_domain_id=token.user.domain_id,
            project_id=project.id if project else None,
            project_name=project.name if project else None,
            project_domain_id=project.domain_id if project else None,
            domain_id=token.domain.id if token.domain else None,
            system_scope="all" if token.system else None,
            roles=self.identity.auth.role_names(token), auth_token=token_id, token=token,
            request_id=req.request_id, policy=self.policy)

    def stop_watches(self) -> None:
        """End the data plane's long polls (shutdown): see ``ChangeFeed.close``."""
        self.networking.feed.close()
        self.compute.feed.close()

    def close(self) -> None:
        self.db.dispose()


def services() -> list[Service]:
    """The services Kumo serves, each with its routes registered."""
    from kumo.compute.api import service as compute
    from kumo.compute.metadata import service as metadata
    from kumo.identity.api import service as identity
    from kumo.image.api import service as image
    from kumo.network.api import service as network

    return [identity, network, image, compute, metadata]


class App:
    """The ASGI callable: picks the service by path prefix and runs its dispatch in a
    worker thread."""

    def __init__(self, cloud: Cloud):
        self.cloud = cloud
        self.services = sorted(cloud.services, key=lambda s: -len(s.prefix))
        for service in self.services:
            service.authenticate = cloud.authenticate
        self.limiter = anyio.CapacityLimiter(cloud.settings.worker_threads)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        service = next((s for s in self.services
                        if path == s.prefix or path.startswith(s.prefix + "/")), None)
        if service is None:
            await self._send(send, 404 if path != "/" else 300, self._root(scope), {})
            return
        sub_path = path[len(service.prefix):] or "/"
        too_long = _too_long(scope)
        if too_long is not None:
            await self._send(send, too_long.status, service.fault(too_long), {})
            return
        streamed = service.streams(scope["method"], sub_path)
        body = b""
        more = not streamed
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY_BYTES:
                err = exc.PayloadTooLarge()
                await self._send(send, err.status, service.fault(err), {})
                return
        headers = Headers(scope=scope)
        host = headers.get("host") or f"{scope['server'][0]}:{scope['server'][1]}"
        req = Request(scope["method"], sub_path,
                      QueryParams(scope["query_string"]), headers, body,
                      f"{scope.get('scheme', 'http')}://{host}{service.prefix}",
                      client=scope["client"][0] if scope.get("client") else None)
        req.cloud = self.cloud
        if streamed:
            req.stream = _BodyStream(receive)
        reply = await anyio.to_thread.run_sync(service.dispatch, req, limiter=self.limiter)
        if streamed:
            await req.stream.drain()
        if reply.streaming:
            await self._send_stream(send, reply, scope["method"] == "HEAD")
            return
        content = reply.encode()
        if scope["method"] == "HEAD":
            reply.headers.setdefault("content-length", str(len(content)))
            content = b""
        await self._send(send, reply.status, content, reply.headers, reply.content_type)

    async def _send_stream(self, send, reply: Reply, head: bool) -> None:
        """Send a reply whose body is an iterator of chunks, pulling each in a worker
        thread; chunked transfer encoding unless the reply set ``content-length``."""
        chunks = reply.body
        raw = [(b"content-type", reply.content_type.encode())]
        raw += [(k.lower().encode(), str(v).encode()) for k, v in reply.headers.items()]
        try:
            await send({"type": "http.response.start", "status": reply.status,
                        "headers": raw})
            while not head:
                chunk = await anyio.to_thread.run_sync(next, chunks, None,
                                                       limiter=self.limiter)
                if chunk is None:
                    break
                await send({"type": "http.response.body", "body": chunk,
                            "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                await anyio.to_thread.run_sync(close)

    def _root(self, scope) -> dict:
        return {"services": [{"name": s.name, "prefix": s.prefix} for s in self.services]}

    @staticmethod
    async def _send(send, status: int, body, headers: dict, content_type="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        raw = [(b"content-type", content_type.encode())] if body or "content-length" in headers \
            else []
        if "content-length" not in headers:
            raw.append((b"content-length", str(len(body)).encode()))
        raw += [(k.lower().encode(), str(v).encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})


#: Longest request target (path and query string, in bytes) served: longer is a 414.
MAX_URL_BYTES = 8192
#: Most header bytes (names and values) a request may carry: more is a 400.
MAX_HEADER_BYTES = 16384


def _too_long(scope) -> exc.KumoError | None:
    """The fault for a request whose URL or headers pass the limits, or None. (The
    HTTP parser has its own limits: h11 answers a plain-text 400 past 16 KiB of request
    line and headers; httptools has none.)"""
    url = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
    if url > MAX_URL_BYTES:
        return exc.URITooLong(f"The request URI is longer than {MAX_URL_BYTES} bytes.")
    if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
        return exc.BadRequest(f"The request headers are longer than {MAX_HEADER_BYTES} "
                              "bytes.")
    return None


class _BodyStream:
    """The request body as a synchronous iterator of chunks, for a handler running in a
    worker thread: each step awaits the next ASGI message on the event loop
    (``anyio.from_thread``). Raises :class:`ClientDisconnected` on ``http.disconnect``.
    ``done`` tells whether the body was read to its end (or the client left)."""

    def __init__(self, receive):
        self.receive = receive
        self.done = False

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        while not self.done:
            message = anyio.from_thread.run(self.receive)
            if message["type"] == "http.disconnect":
                self.done = True
                raise ClientDisconnected()
            self.done = not message.get("more_body", False)
            if message.get("body"):
                return message["body"]
        raise StopIteration

    async def drain(self) -> None:
        """Read and drop what the handler left unread (it answered early, e.g. 409 or
        413), so the client can finish sending and read the reply."""
        while not self.done:
            message = await self.receive()
            self.done = (message["type"] == "http.disconnect"
                         or not message.get("more_body", False))


def create_app(settings: Settings) -> App:
    return App(Cloud(settings))

