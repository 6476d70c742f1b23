"""Login (Keystone password), project switch and logout."""
from __future__ import annotations

from urllib.parse import unquote

from kumo.dashboard import web
from kumo.dashboard.sessions import COOKIE
from kumo.dashboard.client import ApiError
from kumo.dashboard.web import Ctx, page


def _safe_next(value: str | None) -> str:
    """Only a path inside the dashboard (never another site: no open redirect)."""
    value = unquote(value or "")
    if value.startswith(web.PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return web.url("/project/")


def register(dash) -> None:
    @page(dash, "/login", methods=("GET", "POST"), login=False)
    async def login(ctx: Ctx):
        nxt = _safe_next(ctx.request.query_params.get("next") or ctx.form.get("next"))
        if ctx.request.method == "GET":
            if ctx.session.logged_in:
                return ctx.redirect(nxt)
            return ctx.render("login.html", next=nxt, domain="Default", username="")
        domain = ctx.form.get("domain") or "Default"
        username = ctx.form.get("username", "")
        try:
            await dash.login(ctx.session, domain, username, ctx.form.get("password", ""))
        except ApiError as err:
            message = "Invalid credentials." if err.status == 401 and \
                "project" not in err.message else err.message
            return ctx.render("login.html", status=401, next=nxt, domain=domain,
                              username=username, error=message)
        ctx.cookie = ctx.session.id  # rotated at login
        return ctx.redirect(nxt)

    @page(dash, "/logout", methods=("POST",), login=False)
    async def logout(ctx: Ctx):
        await dash.logout(ctx.session)
        ctx.cookie = None
        response = ctx.redirect(web.url("/login"))
        response.delete_cookie(COOKIE, path=web.PREFIX)
        return response

    @page(dash, "/switch", methods=("POST",))
    async def switch(ctx: Ctx):
        project_id = ctx.form.get("project_id", "")
        if project_id not in {p["id"] for p in ctx.session.projects}:
            ctx.flash("Unknown project.", "error")
        else:
            await dash.scope(ctx.session, project_id)
            ctx.flash(f"Switched to project {ctx.session.project_name}.")
        return ctx.redirect(web.url("/project/"))
