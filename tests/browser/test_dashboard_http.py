"""The dashboard over plain HTTP (httpx): the session cookie, CSRF, admin pages, names
escaped, logout revoking the token, API errors shown. No browser needed."""
from __future__ import annotations

import re

import httpx

from tests.browser.conftest import csrf_of, http_login
from tests.waiting import wait_for

XSS = "<script>alert(1)</script>"


def test_login_page_sets_a_strict_httponly_cookie(dash_cloud):
    resp = httpx.get(dash_cloud.url + "/dashboard/project/instances")
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/dashboard/login?next=")
    page = httpx.get(dash_cloud.url + "/dashboard/login")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_wrong_password_is_refused(dash_cloud, users):
    client = httpx.Client(base_url=dash_cloud.url, timeout=60)
    page = client.get("/dashboard/login")
    resp = client.post("/dashboard/login", data={
        "csrf_token": csrf_of(page.text), "domain": "Default",
        "username": users["demo"].name, "password": "wrong"})
    assert resp.status_code == 401
    assert "Invalid credentials." in resp.text
    assert client.get("/dashboard/project/").status_code == 303


def test_login_without_csrf_is_refused(dash_cloud, users):
    client = httpx.Client(base_url=dash_cloud.url, timeout=60)
    client.get("/dashboard/login")
    resp = client.post("/dashboard/login", data={
        "domain": "Default", "username": users["demo"].name,
        "password": users["demo"].password})
    assert resp.status_code == 403


def test_forged_post_without_csrf_is_refused_and_changes_nothing(dash_cloud, users,
                                                                 demo_conn):
    client = http_login(dash_cloud, users["demo"])
    name = "forged-net"
    for data in ({"name": name}, {"name": name, "csrf_token": "x" * 43}):
        resp = client.post("/dashboard/project/networks", data=data)
        assert resp.status_code == 403
        assert "CSRF" in resp.text
    assert not list(demo_conn.network.networks(name=name))
    # the same form with the session's token works
    page = client.get("/dashboard/project/networks")
    resp = client.post("/dashboard/project/networks",
                       data={"name": name, "csrf_token": csrf_of(page.text)})
    assert resp.status_code == 200
    made = list(demo_conn.network.networks(name=name))
    assert len(made) == 1
    demo_conn.network.delete_network(made[0].id)


def test_member_gets_403_on_admin_pages(dash_cloud, users):
    member = http_login(dash_cloud, users["demo"])
    admin = http_login(dash_cloud, users["admin"])
    assert "Hypervisors" not in member.get("/dashboard/project/").text
    for page in ("hypervisors", "agents", "services", "projects", "users", "quotas"):
        assert member.get(f"/dashboard/admin/{page}").status_code == 403, page
        resp = admin.get(f"/dashboard/admin/{page}")
        assert resp.status_code == 200, (page, resp.text)
    assert "fake-0" in admin.get("/dashboard/admin/hypervisors").text
    assert "demo" in admin.get("/dashboard/admin/users").text
    # a router's page shows admins where it runs (L3 agents, HA state)
    conn = dash_cloud.connect("kumo-admin")
    router = next(iter(conn.network.routers(name="router1")))
    conn.close()
    page = admin.get(f"/dashboard/project/routers/{router.id}")
    assert page.status_code == 200 and "L3 agents" in page.text
    page = member.get(f"/dashboard/project/routers/{router.id}")
    assert page.status_code == 200 and "L3 agents" not in page.text


def test_names_are_escaped(dash_cloud, users, demo_conn):
    net = demo_conn.network.create_network(name=XSS)
    try:
        client = http_login(dash_cloud, users["demo"])
        html = client.get("/dashboard/project/networks").text
        assert XSS not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        data = client.get("/dashboard/project/topology.json").json()
        assert XSS in [n["name"] for n in data["networks"]]  # JSON; the page uses textContent
    finally:
        demo_conn.network.delete_network(net.id)


def test_api_errors_are_shown(dash_cloud, users):
    client = http_login(dash_cloud, users["demo"])
    page = client.get("/dashboard/project/networks")
    resp = client.post("/dashboard/project/networks", data={
        "name": "bad-cidr", "cidr": "10.0.0.0/33", "csrf_token": csrf_of(page.text)})
    assert resp.status_code == 200
    assert re.search(r'class="flash error"[^>]*>Error: .*10\.0\.0\.0/33', resp.text), resp.text
    assert "bad-cidr" not in client.get("/dashboard/project/networks").text
    assert client.get("/dashboard/project/instances/nope").status_code == 404


def test_project_switch(dash_cloud, users):
    conn = dash_cloud.connect("kumo-admin")
    project = conn.identity.create_project(name="switch-to", domain_id="default")
    me = next(iter(conn.identity.users(name=users["admin"].name)))
    member = next(iter(conn.identity.roles(name="member")))
    conn.identity.assign_project_role_to_user(project, me, member)
    try:
        admin = http_login(dash_cloud, users["admin"])
        page = admin.get("/dashboard/project/")
        assert f'<option value="{project.id}" >switch-to</option>' in page.text
        resp = admin.post("/dashboard/switch", data={"project_id": project.id,
                                                     "csrf_token": csrf_of(page.text)})
        assert "Switched to project switch-to." in resp.text
        assert f'<option value="{project.id}" selected>switch-to</option>' in resp.text
        # a member there: no admin pages any more
        assert "Hypervisors" not in resp.text
        assert admin.get("/dashboard/admin/hypervisors").status_code == 403
        refused = admin.post("/dashboard/switch", data={
            "project_id": "0" * 32, "csrf_token": csrf_of(resp.text)})
        assert "Unknown project." in refused.text
    finally:
        conn.identity.delete_project(project)
        conn.close()


def test_logout_revokes_the_token(dash_cloud, users):
    client = http_login(dash_cloud, users["demo"])
    page = client.get("/dashboard/project/")
    revoked = '"DELETE /identity/v3/auth/tokens HTTP/1.1" status: 204'
    before = dash_cloud.log.read_text().count(revoked)
    resp = client.post("/dashboard/logout", data={"csrf_token": csrf_of(page.text)})
    assert resp.url.path == "/dashboard/login"
    # the scoped and the unscoped token, each revoked with a 204
    wait_for(lambda: dash_cloud.log.read_text().count(revoked) >= before + 2,
        "the tokens' revocation in the access log", 30)
    assert client.get("/dashboard/project/").url.path == "/dashboard/login"


def test_the_session_ends_when_the_token_expires(tmp_path, users):
    """A server whose tokens live 4 s: the dashboard's session ends with them (the
    next page is the login form), though the browser still sends its cookie."""
    from tests.conftest import _start
    from tests.waiting import stop_process

    server = _start(tmp_path, None, "sqlite", {"KUMO_TOKEN_EXPIRATION_S": "4",
                                               "KUMO_COMPUTE_FAKE_HOSTS": "0"})
    try:
        client = http_login(server, users["demo"])
        assert client.get("/dashboard/project/instances").url.path == \
            "/dashboard/project/instances"
        wait_for(lambda: client.get("/dashboard/project/instances").url.path ==
                 "/dashboard/login", "the session to end with its token", 30, 0.5)
        assert "kumo_dashboard" in client.cookies  # the cookie alone is worth nothing
    finally:
        stop_process(server.process)


def test_project_pages_show_the_project_not_everything_an_admin_sees(dash_cloud, users,
                                                                     demo_conn):
    demo_net = demo_conn.network.create_network(name="demo-only-net")
    try:
        admin = http_login(dash_cloud, users["admin"])
        member = http_login(dash_cloud, users["demo"])
        assert "demo-only-net" in member.get("/dashboard/project/networks").text
        page = admin.get("/dashboard/project/networks").text
        assert "demo-only-net" not in page and "public" in page  # external: shown
        names = {n["name"] for n in admin.get("/dashboard/project/topology.json")
                 .json()["networks"]}
        assert "demo-only-net" not in names and "public" in names
    finally:
        demo_conn.network.delete_network(demo_net.id)
