"""Kumo's web dashboard, served under ``/dashboard`` by the API process itself.

A client of the public APIs as Horizon is: every page is built from calls into the
same :class:`kumo.app.App` (in process, :mod:`kumo.dashboard.client`) with the logged-in
user's own token, so policy applies exactly as to the CLI. Pages are Jinja2 templates
(autoescaped) with a little plain JavaScript (``static/dashboard.js``: refreshing
lists, the topology graph, the upload progress bar); nothing to build.

Modules: ``web`` (sessions, CSRF, errors, rendering), ``sessions`` (the session
table), ``client`` (API calls), ``auth`` (login, project switch, logout),
``project``/``network``/``resources`` (the project's pages), ``topology``, ``admin``.
"""
from __future__ import annotations

import datetime
from pathlib import Path

import jinja2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from kumo.dashboard import web
from kumo.dashboard.client import IDENTITY, Api, ApiError, make_http
from kumo.dashboard.sessions import COOKIE, Session, SessionStore

HERE = Path(__file__).resolve().parent


class Dashboard:
    """The ASGI app for paths under ``/dashboard``; ``api_app`` serves the API calls
    (the process's :class:`kumo.app.App`)."""

    def __init__(self, api_app):
        self.http = make_http(api_app)
        self.sessions = SessionStore()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(HERE / "templates")),
            autoescape=True, trim_blocks=True, lstrip_blocks=True,
            undefined=jinja2.ChainableUndefined)
        self.env.filters["time"] = web.fmt_time
        self._routes: list = [
            Route(web.PREFIX, self._root), Route(web.PREFIX + "/", self._root),
            Mount(web.PREFIX + "/static", StaticFiles(directory=str(HERE / "static")),
                  name="static")]
        from kumo.dashboard import admin, auth, network, project, resources, topology

        for module in (auth, project, topology, network, resources, admin):
            module.register(self)
        self.router = Router(routes=self._routes, default=self._not_found)

    def add_route(self, path: str, endpoint, methods: list[str]) -> None:
        self._routes.append(Route(path, endpoint, methods=methods))

    async def run(self, request: Request, view, **kw) -> Response:
        return await web.run_view(self, request, view, **kw)

    def render(self, template: str, values: dict) -> str:
        return self.env.get_template(template).render(values)

    async def __call__(self, scope, receive, send):
        await self.router(scope, receive, send)

    async def _not_found(self, scope, receive, send) -> None:
        async def view(ctx):
            return ctx.render("error.html", status=404, status_code=404,
                              message="There is no such page.")
        response = await self.run(Request(scope, receive), view, login=False, admin=False,
                                  form=False)
        await response(scope, receive, send)

    async def _root(self, request: Request) -> Response:
        return RedirectResponse(web.PREFIX + "/project/", status_code=303)

    # -- the session's tokens ------------------------------------------------------

    async def login(self, session: Session, domain: str, user: str, password: str) -> None:
        """Password login (unscoped), then scoped to the user's first project; raises
        :class:`ApiError` (401 for wrong credentials)."""
        api = Api(self.http, None)
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": domain}, "password": password}}}}}
        resp = await api.request("POST", IDENTITY + "/auth/tokens", body)
        unscoped = resp.headers["x-subject-token"]
        token = resp.json()["token"]
        projects = (await Api(self.http, unscoped).get(IDENTITY + "/auth/projects"))[
            "projects"]
        projects = sorted(({"id": p["id"], "name": p["name"]} for p in projects
                           if p.get("enabled", True)), key=lambda p: p["name"])
        if not projects:
            await self._revoke(unscoped, [unscoped])
            raise ApiError(401, "You are not authorized for any projects.")
        session.unscoped_token = unscoped
        session.user_id = token["user"]["id"]
        session.user_name = token["user"]["name"]
        session.domain_name = domain
        session.projects = projects
        session.expires = _epoch(token["expires_at"])
        await self.scope(session, projects[0]["id"])
        self.sessions.rotate(session)

    async def scope(self, session: Session, project_id: str) -> None:
        """Re-scope the session to ``project_id`` with its unscoped token (the previous
        scoped token is revoked)."""
        body = {"auth": {"identity": {"methods": ["token"], "token": {
            "id": session.unscoped_token}}, "scope": {"project": {"id": project_id}}}}
        resp = await Api(self.http, None).request("POST", IDENTITY + "/auth/tokens", body)
        old = session.token
        token = resp.json()["token"]
        session.token = resp.headers["x-subject-token"]
        session.project_id = token["project"]["id"]
        session.project_name = token["project"]["name"]
        session.roles = sorted(r["name"] for r in token.get("roles", []))
        session.expires = min(session.expires, _epoch(token["expires_at"]))
        if old:
            await self._revoke(session.token, [old])

    async def logout(self, session: Session) -> None:
        """Revoke the session's tokens and forget it."""
        tokens = [t for t in (session.token, session.unscoped_token) if t]
        if tokens:
            await self._revoke(tokens[0], tokens)
        self.logout_local(session)

    def logout_local(self, session: Session) -> None:
        self.sessions.drop(session)
        session.token = session.unscoped_token = None

    async def _revoke(self, auth: str, tokens: list[str]) -> None:
        """Revoke each token (each with itself: a user may always revoke their own)."""
        for token in tokens:
            try:
                await Api(self.http, token).request(
                    "DELETE", IDENTITY + "/auth/tokens", headers={"x-subject-token": token},
                    ok=(401, 404))
            except ApiError:
                pass

    async def aclose(self) -> None:
        await self.http.aclose()


def _epoch(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


__all__ = ["Dashboard", "COOKIE"]
