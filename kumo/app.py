"""The Kumo API application: one ASGI app serving every service under its path prefix.

:class:`Cloud` holds the settings, the database, the policy engine and each service's
manager. :func:`create_app` wraps it in the ASGI callable that ``kumo api`` and ``kumo
up`` serve with uvicorn.
"""
from __future__ import annotations

import functools
import json
import logging

import anyio
from starlette.datastructures import Headers, QueryParams

from kumo.common import access
from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.common.http import (MAX_BODY_BYTES, BodyTimeout, ClientDisconnected, Pending,
                              Reply, Request, Service)
from kumo.common.policy import PolicyEngine
from kumo.config import Settings
from kumo.db import Database, retrying
from kumo.identity.access_rules import permits, service_types
from kumo.identity.tokens import share_metadata_secret

LOG = logging.getLogger(__name__)


class Cloud:
    """Everything a request handler may call, built once per process."""

    def __init__(self, settings: Settings, db: Database | None = None):
        from kumo.compute.manager import Compute
        from kumo.identity.manager import Identity
        from kumo.image.manager import Images
        from kumo.network.manager import Networking
        from kumo.volume.manager import VolumeManager

        self.settings = settings
        self.services = services()  # importing them registers their policy defaults
        self.db = db or Database(settings.db_url, pool_size=settings.worker_threads,
                                 pg_pool_size=settings.db_pool_size,
                                 pg_max_overflow=settings.db_max_overflow)
        self.policy = PolicyEngine(str(settings.policy_path))
        self.identity = Identity(settings, self.db)
        self.identity.auth.load_keys()
        share_metadata_secret(self.db, settings)
        _retry_handlers(self.services)
        self.networking = Networking(settings, self.db)
        self.images = Images(settings, self.db)
        self.compute = Compute(self)
        self.volumes = VolumeManager(settings, self.db, self.images)
        self.volumes.attachments.listeners.append(self.compute.volumes_changed)
        self.volumes.attachments.extend_listeners.append(self.compute.volume_extended)
        self.volumes.attachments.instance_project = self.compute.project_of
        #: PostgreSQL: the process's LISTEN connection waking the feeds' watchers when
        #: other API processes commit (started by the first waiting watch).
        self.feed_listener = None
        if not self.db.is_sqlite:
            from kumo.common.pglisten import FeedListener

            self.feed_listener = FeedListener(self.db.engine.url,
                                              [self.networking.feed, self.compute.feed])

    def authenticate(self, req: Request, required: bool,
                     service_prefix: str | None = None) -> RequestContext:
        """Validate ``X-Auth-Token`` into a request context (401 if invalid or absent
        where ``required``).

        A token of an application credential with access rules is valid only for the
        requests one rule permits (keystonemiddleware's check, done here once for
        every service): the service under ``service_prefix`` is known by its catalog
        types, the path is ``req.path`` (below the prefix, e.g. ``/v2.1/servers``);
        any other request is 401."""
        token_id = req.headers.get("x-auth-token")
        if not token_id:
            if required:
                raise exc.Unauthorized()
            return RequestContext(request_id=req.request_id, policy=self.policy)
        try:
            token = self.identity.auth.validate(token_id)
        except exc.NotFound:
            raise exc.Unauthorized() from None
        cred = token.application_credential
        if cred is not None and cred.access_rules and not permits(
                cred.access_rules, service_types(service_prefix), req.method, req.path):
            if not required:  # a public route (version roots, token issue): upstream
                # these are not behind the token middleware at all, so the token is ignored
                return RequestContext(request_id=req.request_id, policy=self.policy)
            raise exc.Unauthorized("The request you have made is not permitted by the "
                                   "access rules of the application credential.")
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
        if self.feed_listener is not None:
            self.feed_listener.stop()
        self.db.dispose()


def _retry_handlers(services: list[Service]) -> None:
    """Wrap every route's handler in :func:`kumo.db.retrying`: a request whose first
    write transaction fails on a deadlock or serialization failure (PostgreSQL) or a
    locked database (SQLite) runs again from the start (nothing of it was kept)."""
    for service in services:
        for route in service.routes:
            if not getattr(route.handler, "__wrapped_retrying__", False):
                route.handler = retrying(route.handler)


def services() -> list[Service]:
    """The services Kumo serves, each with its routes registered."""
    from kumo.compute.api import service as compute
    from kumo.compute.metadata import service as metadata
    from kumo.identity.api import service as identity
    from kumo.image.api import service as image
    from kumo.network.api import service as network
    from kumo.volume.api import service as volume

    return [identity, network, image, compute, metadata, volume]


#: Most bytes of a streamed body handed to a sink's ``write`` in one worker-thread hop.
BATCH_BYTES = 256 << 10


class App:
    """The ASGI callable: picks the service by path prefix, receives the body on the
    event loop, and runs the service's dispatch in a worker thread.

    Three capacity limiters: ``limiter`` (``worker_threads``) for dispatch and the
    database work that ends a streamed upload; ``data_limiter`` (``data_threads``)
    for the short hops that move streamed data (an upload's batch to disk, a
    download's chunk from disk); ``wait_limiter`` (a quarter of ``worker_threads``,
    2 to 8) for the re-checks of waiting requests (a :class:`Pending` long poll after
    a wake-up), so a thousand woken watches queue there, not before users' requests.
    Waiting for the network or for a wake-up holds none of them."""

    def __init__(self, cloud: Cloud):
        self.cloud = cloud
        self.services = sorted(cloud.services, key=lambda s: -len(s.prefix))
        for service in self.services:
            service.authenticate = functools.partial(cloud.authenticate,
                                                     service_prefix=service.prefix)
        self.limiter = anyio.CapacityLimiter(cloud.settings.worker_threads)
        self.data_limiter = anyio.CapacityLimiter(max(1, cloud.settings.data_threads))
        self.wait_limiter = anyio.CapacityLimiter(
            min(8, max(2, cloud.settings.worker_threads // 4)))
        self.idle_timeout = cloud.settings.body_idle_timeout_s or None
        from kumo.dashboard import Dashboard

        #: The web dashboard under /dashboard: a client of this same app's APIs.
        self.dashboard = Dashboard(self)

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
        await access.serve(self._http, scope, receive, send, self._id_headers(scope))

    def _id_headers(self, scope) -> tuple[str, ...]:
        """The request id headers of the service under the request's path."""
        path = scope["path"]
        service = next((s for s in self.services
                        if path == s.prefix or path.startswith(s.prefix + "/")), None)
        return service.request_id_headers if service else ("x-openstack-request-id",)

    async def _http(self, scope, receive, send):
        """One HTTP request (inside :func:`kumo.common.access.serve`)."""
        path = scope["path"]
        if path == "/dashboard" or path.startswith("/dashboard/"):
            await self.dashboard(scope, receive, send)
            return
        service = next((s for s in self.services
                        if path == s.prefix or path.startswith(s.prefix + "/")), None)
        if service is None:
            await self._send(send, 404 if path != "/" else 300, self._root(scope), {})
            return
        sub_path = path[len(service.prefix):] or "/"
        too_long = _too_long(scope)
        if too_long is not None:
            await self._send(send, too_long.status, _edge_fault(service, too_long), {})
            return
        streamed = service.streams(scope["method"], sub_path)
        body = b""
        if not streamed:
            try:
                body = await self._read_body(receive)
            except ClientDisconnected:
                return  # nobody to answer
            except BodyTimeout as err:  # the rest of the body is unread: close
                await self._send(send, err.status, _edge_fault(service, err),
                                 {"connection": "close"})
                return
            except exc.PayloadTooLarge as err:  # the server drops the rest unread
                await self._send(send, err.status, _edge_fault(service, err), {})
                return
        headers = Headers(scope=scope)
        host = headers.get("host") or f"{scope['server'][0]}:{scope['server'][1]}"
        req = Request(scope["method"], sub_path,
                      QueryParams(scope["query_string"]), headers, body,
                      f"{scope.get('scheme', 'http')}://{host}{service.prefix}",
                      client=scope["client"][0] if scope.get("client") else None)
        req.cloud = self.cloud
        reply = await anyio.to_thread.run_sync(service.dispatch, req, limiter=self.limiter)
        if isinstance(reply, Pending):
            reply = await self._settle(service, req, receive, reply)
            if reply is None:
                return  # the client left while waiting: nobody to answer
        if streamed:
            reply = await self._receive_streamed(service, req, receive, reply)
        if reply.streaming:
            await self._send_stream(send, reply, scope["method"] == "HEAD")
            return
        content = reply.encode()
        if scope["method"] == "HEAD":
            reply.headers.setdefault("content-length", str(len(content)))
            content = b""
        await self._send(send, reply.status, content, reply.headers, reply.content_type)

    async def _settle(self, service: Service, req: Request, receive,
                      pending: Pending) -> Reply | None:
        """Await a :class:`Pending` on the event loop (no worker thread held), re-check
        in short hops on ``wait_limiter`` until it gives a reply; None if the client
        disconnected meanwhile (the wait is abandoned)."""
        reply: Reply | Pending = pending
        async with anyio.create_task_group() as tg:
            async def client_gone():
                while (await receive())["type"] != "http.disconnect":
                    pass
                tg.cancel_scope.cancel()
            tg.start_soon(client_gone)
            while isinstance(reply, Pending):
                await reply.wait()
                reply = await anyio.to_thread.run_sync(service.resume, req, reply,
                                                       limiter=self.wait_limiter)
            tg.cancel_scope.cancel()
        return reply if isinstance(reply, Reply) else None

    async def _next(self, receive) -> dict:
        """The next ASGI message of the request; :class:`BodyTimeout` after the idle
        timeout, :class:`ClientDisconnected` on ``http.disconnect``."""
        with anyio.move_on_after(self.idle_timeout):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            return message
        raise BodyTimeout(seconds=f"{self.idle_timeout:g}")

    async def _read_body(self, receive) -> bytes:
        """A buffered body, received whole on the event loop (no worker thread is
        taken meanwhile); 413 past :data:`MAX_BODY_BYTES`."""
        body = bytearray()
        while True:
            message = await self._next(receive)
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                raise exc.PayloadTooLarge()
            if not message.get("more_body", False):
                return bytes(body)

    async def _receive_streamed(self, service: Service, req: Request, receive,
                                reply: Reply) -> Reply:
        """After a ``stream=True`` handler: feed the body to its sink (then ``reply``
        if it all went well, else the error's fault), or drain a body the handler did
        not take so the client can read the answer."""
        sink = req.sink
        if sink is None or reply.status >= 300:
            if sink is not None:
                await self._abort(sink)
            return await self._drain(receive, reply)
        pending: list[bytes] = []
        size = 0
        try:
            more = True
            while more:
                message = await self._next(receive)
                more = message.get("more_body", False)
                data = message.get("body", b"")
                if data:
                    pending.append(data)
                    size += len(data)
                if pending and (size >= BATCH_BYTES or not more):
                    batch = pending[0] if len(pending) == 1 else b"".join(pending)
                    pending, size = [], 0
                    await anyio.to_thread.run_sync(sink.write, batch,
                                                   limiter=self.data_limiter)
            await anyio.to_thread.run_sync(sink.finish, limiter=self.limiter)
            return reply
        except BaseException as e:
            await self._abort(sink)
            if isinstance(e, ClientDisconnected):
                return _fault(service, req, e)  # not sent: nobody is listening
            if isinstance(e, BodyTimeout):
                fault = _fault(service, req, e)
                fault.headers["connection"] = "close"  # the rest of the body is unread
                return fault
            if isinstance(e, Exception):
                return await self._drain(receive, _fault(service, req, e))
            raise

    async def _abort(self, sink) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await anyio.to_thread.run_sync(sink.abort, limiter=self.limiter)
            except Exception:
                LOG.exception("aborting a streamed request body failed")

    async def _drain(self, receive, reply: Reply) -> Reply:
        """Read and drop the rest of a body nobody takes (the handler answered early,
        e.g. 409 or 413), so the client can finish sending and read the reply; if the
        client stalls past the idle timeout, the reply closes the connection."""
        try:
            while (await self._next(receive)).get("more_body", False):
                pass
        except ClientDisconnected:
            pass
        except BodyTimeout:
            reply.headers["connection"] = "close"
        return reply

    async def _send_stream(self, send, reply: Reply, head: bool) -> None:
        """Send a reply whose body is an iterator of chunks, pulling each in a short
        worker-thread hop (``data_limiter``) and sending it on the event loop (a slow
        client holds no thread); chunked transfer encoding unless the reply set
        ``content-length``."""
        chunks = reply.body
        raw = [(b"content-type", reply.content_type.encode())]
        raw += [(k.lower().encode(), str(v).encode()) for k, v in reply.headers.items()]
        try:
            await send({"type": "http.response.start", "status": reply.status,
                        "headers": raw})
            while not head:
                chunk = await anyio.to_thread.run_sync(next, chunks, None,
                                                       limiter=self.data_limiter)
                if chunk is None:
                    break
                await send({"type": "http.response.body", "body": chunk,
                            "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(close, limiter=self.data_limiter)

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


def _edge_fault(service: Service, error: exc.KumoError) -> dict:
    """The fault body for an error the edge answers itself (414, 408, 413...), logged
    at INFO as dispatch logs a handler's 4xx."""
    LOG.info("request failed at the edge: %d %s: %s", error.status, error.title,
             error.message)
    return service.fault(error)


def _fault(service: Service, req: Request, error: Exception) -> Reply:
    """The service's fault reply for an error raised after dispatch (by a body sink),
    as :meth:`Service.dispatch` renders errors of handlers."""
    reply = service.error_reply(req, error)
    for name in service.request_id_headers:
        reply.headers.setdefault(name, req.request_id)
    return reply


def create_app(settings: Settings) -> App:
    return App(Cloud(settings))

