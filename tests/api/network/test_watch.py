"""Watches hold no threads: long polls of the data-plane feeds wait on the event loop,
so an API process with few worker threads keeps serving users while many agents watch;
other API processes' commits wake them (LISTEN/NOTIFY on PostgreSQL); bad watch
parameters are 400s; agents reconnect, relist and re-authenticate."""
from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
import uuid

import httpx
import pytest

from kumo.agent import client as agent_client
from kumo.agent.watch import Informer
from tests.conftest import BIN, _backends, _free_port, _pg_database, _pg_drop, _start
from tests.waiting import stop_process, wait_for

WORKER_THREADS = 8
TOKEN_EXPIRATION_S = 8
TIMEOUT = 10.0  # generous per-request timeout; never a timing assertion


def _token(url: str) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    resp = httpx.post(url + "/identity/v3/auth/tokens", json=body, timeout=TIMEOUT)
    assert resp.status_code == 201, resp.text
    return resp.headers["x-subject-token"]


@pytest.fixture(scope="module", params=_backends())
def small(request, tmp_path_factory):
    """A ``kumo up`` of its own with only 8 worker threads (no in-process compute
    agents, which would add threads) and 8-second tokens; yields (Cloud, db_url)."""
    db_url = base = None
    if request.param == "postgresql":
        base = os.environ.get("KUMO_TEST_PG_URL")
        if not base:
            pytest.skip("KUMO_TEST_PG_URL is not set (make test sets it)")
        db_url = _pg_database(base, "watch-" + os.environ.get("PYTEST_XDIST_WORKER", "main"))
    tmp = tmp_path_factory.mktemp(f"kumo-watch-{request.param}")
    server = _start(tmp, db_url, request.param, {
        "KUMO_WORKER_THREADS": str(WORKER_THREADS), "KUMO_COMPUTE_FAKE_HOSTS": "0",
        "KUMO_TOKEN_EXPIRATION_S": str(TOKEN_EXPIRATION_S)})
    yield server, db_url
    stop_process(server.process)
    if db_url:
        _pg_drop(base, db_url)


def test_api_answers_while_more_watches_than_threads_wait(small):
    """100 network and 20 compute long polls (wait=30) against 8 worker threads: the
    networks list, a token and the server list still answer; a new network then wakes
    every network watch with its change."""
    cloud, _ = small
    url = cloud.url
    token = _token(url)
    headers = {"X-Auth-Token": token}
    net_since = httpx.get(url + "/networking/kumo/v1/state", headers=headers,
                          params={"host": "w-0"}, timeout=TIMEOUT).json()["revision"]
    cmp_since = httpx.get(url + "/compute/kumo/v1/state", headers=headers,
                          params={"host": "w-0"}, timeout=TIMEOUT).json()["revision"]
    name = f"woken-{uuid.uuid4().hex[:8]}"

    async def main():
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits,
                                     timeout=60.0) as http:
            net_polls = [asyncio.create_task(http.get(
                "/networking/kumo/v1/changes",
                # unfiltered: a new network with no ports concerns no host
                params={"since": net_since, "wait": 30}))
                for i in range(100)]
            cmp_polls = [asyncio.create_task(http.get(
                "/compute/kumo/v1/changes",
                params={"since": cmp_since, "host": f"w-{i}", "wait": 30}))
                for i in range(20)]
            await asyncio.sleep(2)  # let them all reach the server and wait
            async with httpx.AsyncClient(base_url=url, headers=headers,
                                         timeout=TIMEOUT) as user:
                nets = await user.get("/networking/v2.0/networks")
                assert nets.status_code == 200, nets.text
                issued = await user.post("/identity/v3/auth/tokens", json={"auth": {
                    "identity": {"methods": ["token"], "token": {"id": token}}}})
                assert issued.status_code == 201, issued.text
                servers = await user.get("/compute/v2.1/servers")
                assert servers.status_code == 200, servers.text
                assert not any(p.done() for p in net_polls)  # still waiting (wait=30)
                created = await user.post("/networking/v2.0/networks",
                                          json={"network": {"name": name}})
                assert created.status_code == 201, created.text
            net_id = created.json()["network"]["id"]
            replies = await asyncio.gather(*net_polls)
            for poll in cmp_polls:  # nothing for them: leave (the server abandons them)
                poll.cancel()
            await asyncio.gather(*cmp_polls, return_exceptions=True)
            async with httpx.AsyncClient(base_url=url, headers=headers,
                                         timeout=TIMEOUT) as user:
                await user.delete(f"/networking/v2.0/networks/{net_id}")
            return net_id, replies

    net_id, replies = asyncio.run(main())
    for reply in replies:
        assert reply.status_code == 200, reply.text
        assert net_id in {c["resource_id"] for c in reply.json()["changes"]}


def test_agent_client_reauthenticates_after_its_token_expires(small):
    """Tokens live 8 s here: the agent's keystoneauth session gets a new one and the
    watch goes on."""
    cloud, _ = small
    ctl = agent_client.ControllerClient.from_password(
        cloud.url + "/identity", "admin", "secret", "admin", endpoint=cloud.url + "/networking")
    since = ctl.snapshot("expiry-host")["revision"]
    first = ctl.session.get_token()
    time.sleep(TOKEN_EXPIRATION_S + 1)
    resp = httpx.get(cloud.url + "/networking/v2.0/networks",
                     headers={"X-Auth-Token": first}, timeout=TIMEOUT)
    assert resp.status_code == 401  # the first token has expired...
    body = ctl.changes(since, "expiry-host", 0)  # ...yet the agent's client goes on
    assert body["revision"] >= since
    assert ctl.session.get_token() != first


def test_watch_on_another_api_process_wakes_on_a_commit(small, tmp_path):
    """PostgreSQL: a second API process (``kumo api`` on the same database) answers a
    watch as soon as a port is created through the first one (LISTEN/NOTIFY), also
    after its LISTEN connection was killed (it reconnects)."""
    cloud, db_url = small
    if db_url is None:
        pytest.skip("several API processes share one database on PostgreSQL")
    port = _free_port()
    log = open(tmp_path / "api-b.log", "w")
    proc = subprocess.Popen([str(BIN / "kumo"), "api", "--db", db_url, "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=cloud.env)
    b_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(b_url), "kumo api to listen", interval=0.1)
        token = _token(cloud.url)
        headers = {"X-Auth-Token": token}
        net = httpx.post(cloud.url + "/networking/v2.0/networks", headers=headers,
                         json={"network": {"name": "cross"}}, timeout=TIMEOUT).json()["network"]
        try:
            assert _woken_by_port(cloud.url, b_url, headers, net["id"])
            _kill_listeners(db_url)
            assert _woken_by_port(cloud.url, b_url, headers, net["id"])
        finally:
            for p in httpx.get(cloud.url + "/networking/v2.0/ports", headers=headers,
                               params={"network_id": net["id"]},
                               timeout=TIMEOUT).json()["ports"]:
                httpx.delete(cloud.url + f"/networking/v2.0/ports/{p['id']}",
                             headers=headers, timeout=TIMEOUT)
            httpx.delete(cloud.url + f"/networking/v2.0/networks/{net['id']}",
                         headers=headers, timeout=TIMEOUT)
    finally:
        stop_process(proc)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/identity/v3", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _woken_by_port(a_url: str, b_url: str, headers: dict, network_id: str) -> bool:
    """Start a watch (wait=60) on B, create a port on A; True when B's watch answered
    (within its 30 s client timeout) with that port's change."""
    since = httpx.get(b_url + "/networking/kumo/v1/state", headers=headers,
                      params={"host": "cross-host"}, timeout=TIMEOUT).json()["revision"]
    answer: dict = {}

    def watch():
        answer["resp"] = httpx.get(b_url + "/networking/kumo/v1/changes", headers=headers,
                                   params={"since": since, "host": "cross-host",
                                           "wait": 60}, timeout=30.0)
    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(1)  # the watch is waiting on B
    port = httpx.post(a_url + "/networking/v2.0/ports", headers=headers,
                      # bound to the watching host: a port concerns the host it is on
                      json={"port": {"network_id": network_id,
                                     "binding:host_id": "cross-host"}},
                      timeout=TIMEOUT).json()["port"]
    watcher.join(40)
    resp = answer["resp"]
    assert resp.status_code == 200, resp.text
    return port["id"] in {c["resource_id"] for c in resp.json()["changes"]}


def _kill_listeners(db_url: str) -> None:
    """Terminate every API process's LISTEN connection, then wait until they are back."""
    import psycopg

    from kumo.common.pglisten import APPLICATION_NAME

    plain = db_url.replace("postgresql+psycopg://", "postgresql://")
    name = db_url.rsplit("/", 1)[1]
    query = ("SELECT pid FROM pg_stat_activity WHERE application_name = %s "
             "AND datname = %s")
    with psycopg.connect(plain, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute(query, (APPLICATION_NAME, name))]
        assert pids, "no listener connection"
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))

        def back():
            now = {r[0] for r in conn.execute(query, (APPLICATION_NAME, name))}
            return len(now) >= len(pids) and not now & set(pids)
        wait_for(back, "the listeners to reconnect", interval=0.1)


@pytest.mark.parametrize("feed", ["/networking/kumo/v1/changes",
                                  "/compute/kumo/v1/changes"])
@pytest.mark.parametrize("query", [
    {"since": "abc"}, {"since": "-1"}, {"since": "1.5"}, {"since": ""},
    {"since": "0", "wait": "1e9"}, {"since": "0", "wait": "-1"},
    {"since": "0", "wait": "nan"}, {"since": "0", "wait": "inf"},
    {"since": "0", "wait": "x"}])
def test_garbage_since_and_wait_are_400(cloud, admin, feed, query):
    resp = admin.session.get(cloud.url + feed, params=query, raise_exc=False)
    assert resp.status_code == 400, resp.text
    if feed.startswith("/networking"):
        assert resp.json()["NeutronError"]["type"] == "HTTPBadRequest"
    else:
        assert resp.json()["badRequest"]["code"] == 400


@pytest.mark.parametrize("feed", ["/networking/kumo/v1", "/compute/kumo/v1"])
def test_a_revision_from_the_future_is_410(cloud, admin, feed):
    base = cloud.url
    revision = admin.session.get(base + feed + "/state").json()["revision"]
    resp = admin.session.get(base + feed + "/changes", params={
        "since": revision + 1_000_000, "wait": 5}, raise_exc=False)
    assert resp.status_code == 410, resp.text


def test_agent_reauthenticates_after_its_token_is_revoked(cloud, admin):
    """keystoneauth retries a 401 once with a new token."""
    ctl = agent_client.ControllerClient.from_password(
        cloud.url + "/identity", "admin", "secret", "admin", endpoint=cloud.url + "/networking")
    since = ctl.snapshot("revoked-host")["revision"]
    old = ctl.session.get_token()
    admin.session.delete(cloud.url + "/identity/v3/auth/tokens",
                         headers={"X-Subject-Token": old})
    assert ctl.changes(since, "revoked-host", 0)["revision"] >= since
    assert ctl.session.get_token() != old


def test_informer_survives_an_api_process_killed_mid_watch(tmp_path):
    """SIGKILL the API while the informer long-polls; a network created after the
    restart (same database) reaches the informer's cache: it reconnected and relisted."""
    server = _start(tmp_path, None, "sqlite", {"KUMO_COMPUTE_FAKE_HOSTS": "0"})
    port = int(server.url.rsplit(":", 1)[1])
    informer = None
    try:
        ctl = agent_client.ControllerClient.from_password(
            server.url + "/identity", "admin", "secret", "admin",
            endpoint=server.url + "/networking")
        informer = Informer(ctl, "killed-host", wait_s=30, backoff_min_s=0.2,
                            backoff_max_s=1.0)
        informer.start()
        wait_for(informer.synced.is_set, "the first list", interval=0.1)
        time.sleep(0.5)  # the informer is in its long poll
        server.process.kill()
        server.process.wait(10)
        server = _start(tmp_path, None, "sqlite", {"KUMO_COMPUTE_FAKE_HOSTS": "0"},
                        port=port)
        headers = {"X-Auth-Token": _token(server.url)}
        net = httpx.post(server.url + "/networking/v2.0/networks", headers=headers,
                         json={"network": {"name": "after-restart"}},
                         timeout=TIMEOUT).json()["network"]
        # the network enters the host's state with a port bound to it
        httpx.post(server.url + "/networking/v2.0/ports", headers=headers,
                   json={"port": {"network_id": net["id"], "binding:host_id": "killed-host"}},
                   timeout=TIMEOUT).raise_for_status()
        wait_for(lambda: informer.get(("networks", net["id"])), "the new network",
                 interval=0.1)
        assert informer.lists >= 2  # relisted after the connection broke
    finally:
        if informer is not None:
            informer.stop(timeout=0)
        stop_process(server.process)
