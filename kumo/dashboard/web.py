"""The dashboard's request plumbing: sessions, CSRF, rendering, API errors.

A view is ``async def view(ctx: Ctx) -> Response`` registered with :func:`page`, which
finds the session (redirecting to the login page when there is none), refuses a
state-changing request without the session's CSRF token (403), keeps admin pages to
tokens holding ``admin`` (403) and turns the APIs' errors into pages: a 401 ends the
session, a 403 is the dashboard's 403, any other error of a form post is shown as a
message on the page the form came from.
"""
from __future__ import annotations

import logging
import time

import anyio
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl, quote

from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from kumo.common import log
from kumo.dashboard.client import Api, ApiError
from kumo.dashboard.sessions import COOKIE, Session

LOG = logging.getLogger(__name__)

PREFIX = "/dashboard"
#: Headers of every dashboard page: no inline script can run (names are escaped, and
#: even an escaping bug would not execute), no framing, nothing cached.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; "
                               "style-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; "
                               "base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def url(path: str) -> str:
    return PREFIX + path


@dataclass
class Ctx:
    """One request to the dashboard: the Starlette request, the session, the API
    client as the session's user, the form of a POST."""

    request: Request
    session: Session
    api: Api
    dashboard: Any
    form: ImmutableMultiDict = field(default_factory=ImmutableMultiDict)
    cookie: str | None = None  # a new session id to set

    def render(self, template: str, status: int = 200, **values) -> "Deferred":
        """The page ``template`` with ``values``: rendered by :func:`run_view` in a
        worker thread (a list of hundreds of rows never holds up the event loop, which
        also serves the APIs)."""
        return Deferred(self, template, self.template_values(**values), status)

    def template_values(self, fragment: bool = False, **values) -> dict:
        """What every template sees; a ``fragment`` (a part of a page fetched by the
        page's script) leaves the session's messages for the next whole page."""
        flash = []
        if not fragment:
            flash, self.session.flash = self.session.flash, []
        return {"session": self.session, "csrf": self.session.csrf, "url": url,
                "path": self.request.url.path, "flash": flash, **values}

    def redirect(self, path: str) -> Response:
        return self.finish(RedirectResponse(path if path.startswith(PREFIX) else url(path),
                                            status_code=303))

    def json(self, data: Any, status: int = 200) -> Response:
        return self.finish(JSONResponse(data, status_code=status))

    def flash(self, message: str, kind: str = "info") -> None:
        self.session.flash.append((kind, message))

    def finish(self, response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if self.cookie is not None:
            set_cookie(self.request, response, self.cookie)
        return response


class Deferred:
    """A page to render (see :meth:`Ctx.render`)."""

    def __init__(self, ctx: Ctx, template: str, values: dict, status: int):
        self.ctx, self.template, self.values, self.status = ctx, template, values, status

    async def realize(self) -> Response:
        html = await anyio.to_thread.run_sync(self.ctx.dashboard.render, self.template,
                                              self.values)
        return self.ctx.finish(HTMLResponse(html, status_code=self.status))


def set_cookie(request: Request, response: Response, value: str, max_age: int | None = None):
    response.set_cookie(COOKIE, value, path=PREFIX, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=max_age)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or \
        request.headers.get("x-requested-with") == "fetch"


def page(dashboard, path: str, methods=("GET",), login: bool = True,
         admin: bool = False, form: bool = True):
    """Register ``view`` on ``path`` (under /dashboard) for ``methods``.

    ``login``: needs a logged-in session; ``admin``: and a token with ``admin``;
    ``form``: parse an urlencoded body (False: the view reads the body itself, e.g. an
    image upload streamed to Glance)."""
    def register(view: Callable[[Ctx], Awaitable[Response]]):
        async def endpoint(request: Request) -> Response:
            return await dashboard.run(request, view, login=login, admin=admin, form=form)
        dashboard.add_route(PREFIX + path, endpoint, list(methods))
        return view
    return register


async def run_view(dashboard, request: Request, view, login: bool, admin: bool,
                   form: bool) -> Response:
    """Run ``view`` as :func:`page` describes; a page it returns is rendered here."""
    response = await _run_view(dashboard, request, view, login, admin, form)
    if isinstance(response, Deferred):
        response = await response.realize()
    return response


async def _run_view(dashboard, request: Request, view, login: bool, admin: bool,
                    form: bool):
    store = dashboard.sessions
    session = store.get(request.cookies.get(COOKIE))
    cookie = None
    if session is None:
        session = store.new()
        cookie = session.id
    ctx = Ctx(request, session, Api(dashboard.http, session.token, _request_id()),
              dashboard, cookie=cookie)
    if request.method in UNSAFE_METHODS:
        if form:
            body = await request.body()
            ctx.form = ImmutableMultiDict(parse_qsl(body.decode("utf-8", "replace"),
                                                    keep_blank_values=True))
        token = ctx.form.get("csrf_token") or request.headers.get("x-csrf-token")
        if not session.check_csrf(token):
            LOG.info("dashboard: %s %s refused: no valid CSRF token", request.method,
                     request.url.path)
            return forbidden(ctx, "The form's CSRF token is missing or wrong: reload the "
                                  "page and try again.")
    if login and not session.logged_in:
        if request.method == "GET" and not _wants_json(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return ctx.redirect(url("/login?next=" + quote(target, safe="")))
        return ctx.finish(JSONResponse({"error": "not logged in"}, status_code=401))
    if admin and not session.is_admin:
        return forbidden(ctx, "This page is for administrators only.")
    try:
        return await view(ctx)
    except ApiError as err:
        if err.status == 401:
            dashboard.logout_local(session)
            return ctx.redirect(url("/login"))
        if err.status == 403:
            return forbidden(ctx, err.message)
        if request.method in UNSAFE_METHODS:
            ctx.flash(f"Error: {err.message}", "error")
            if _wants_json(request):
                return ctx.json({"error": err.message}, status=err.status)
            return ctx.redirect(_back(request))
        if _wants_json(request):
            return ctx.json({"error": err.message}, status=err.status)
        return ctx.render("error.html", status=err.status, status_code=err.status,
                          message=err.message)


def forbidden(ctx: Ctx, message: str):
    if _wants_json(ctx.request):
        return ctx.json({"error": message}, status=403)
    return ctx.render("error.html", status=403, status_code=403, message=message)


def _back(request: Request) -> str:
    """Where a failed form returns: the page it came from (same origin only)."""
    referer = request.headers.get("referer", "")
    host = request.headers.get("host", "")
    for scheme in ("http://", "https://"):
        start = scheme + host + PREFIX
        if host and referer.startswith(start):
            return referer[len(scheme + host):]
    return request.url.path


def _request_id() -> str | None:
    ctx = log.current()
    return ctx.request_id if ctx is not None else None


def fmt_time(value: str | None) -> str:
    return (value or "").replace("T", " ").replace("Z", "")[:19]


def age(seconds: float) -> str:
    return f"{int(seconds)} s" if seconds < 120 else f"{int(seconds // 60)} min"


def now() -> float:
    return time.time()
