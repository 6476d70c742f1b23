"""Several API processes on one PostgreSQL database behave as one cloud.

A module fixture starts ``kumo up`` (process A) and ``kumo api --db URL`` (process B)
on one fresh database, each with its own state directory, sharing only the image store
directory (``KUMO_IMAGE_STORE_DIR``); periodic jobs run every second.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet, InvalidToken

from tests import waiting
from tests.conftest import BIN, _free_port, _pg_database, _pg_drop
from tests.waiting import stop_process

pytestmark = [pytest.mark.postgresql]

PASSWORD = "secret"


class Proc:
    def __init__(self, url: str, env: dict, process: subprocess.Popen, log: Path):
        self.url, self.env, self.process, self.log = url, env, process, log

    def stop(self) -> None:
        stop_process(self.process, 15, 5)


def _spawn(tmp: Path, cmd: list[str], db_url: str, images: Path) -> Proc:
    port = _free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "home").mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(tmp / "home"), "KUMO_STATE_DIR": str(tmp / "state"),
           "PYTHONUNBUFFERED": "1", "KUMO_DATAPLANE": "off",
           "KUMO_IMAGE_STORE_DIR": str(images), "KUMO_PERIODIC_INTERVAL_S": "1",
           "KUMO_LOG_LEVEL": "INFO"}
    env.pop("OS_CLOUD", None)
    log = tmp / "server.log"
    out = open(log, "w")
    proc = subprocess.Popen([str(BIN / "kumo"), *cmd, "--port", str(port), "--db", db_url],
                            stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 90
    while "kumo: ready" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"kumo {cmd[0]} did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return Proc(f"http://127.0.0.1:{port}", env, proc, log)


@pytest.fixture(scope="module")
def procs(tmp_path_factory):
    base = os.environ.get("KUMO_TEST_PG_URL")
    if not base:
        pytest.skip("KUMO_TEST_PG_URL is not set")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    db_url = _pg_database(base, f"mp_{worker}")
    tmp = tmp_path_factory.mktemp("multiproc")
    images = tmp / "shared-images"
    started = []
    try:
        started.append(_spawn(tmp / "a", ["up"], db_url, images))
        started.append(_spawn(tmp / "b", ["api"], db_url, images))
        yield {"a": started[0], "b": started[1], "db_url": db_url, "images": images,
               "tmp": tmp}
    finally:
        for p in started:
            p.stop()
        _pg_drop(base, db_url)


def _pg(db_url: str) -> psycopg.Connection:
    return psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True)


def issue(url: str) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    r = httpx.post(url + "/identity/v3/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return r.headers["x-subject-token"]


def validates(url: str, token: str) -> bool:
    r = httpx.get(url + "/identity/v3/auth/tokens", timeout=30,
                  headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert r.status_code in (200, 401, 404), r.text
    return r.status_code == 200


def key_index(db_url: str, token: str) -> int | None:
    """The number of the key that encrypted ``token`` (None: no key in the database)."""
    with _pg(db_url) as conn:
        keys = conn.execute("SELECT idx, key FROM identity_fernet_key").fetchall()
    raw = token + "=" * (-len(token) % 4)
    for idx, key in keys:
        try:
            Fernet(key.encode()).decrypt(raw.encode())
            return idx
        except InvalidToken:
            continue
    return None


def rotate(procs) -> None:
    a = procs["a"]
    out = subprocess.run([str(BIN / "kumo"), "fernet", "rotate", "--db", procs["db_url"]],
                         capture_output=True, text=True, timeout=60, env=a.env)
    assert out.returncode == 0, out.stderr


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    return waiting.wait_for(predicate, what, timeout)


def test_a_token_issued_by_one_process_validates_on_the_other(procs):
    a, b = procs["a"], procs["b"]
    assert validates(b.url, issue(a.url))
    assert validates(a.url, issue(b.url))
    assert not validates(b.url, issue(a.url)[:-4] + "AAAA")


def test_fernet_rotate_applies_to_every_process_without_restart(procs):
    a, b = procs["a"], procs["b"]
    db_url = procs["db_url"]
    old = issue(a.url)
    before = key_index(db_url, old)
    rotate(procs)
    # Old tokens still validate everywhere; a token made with the new primary (the
    # former staged key every process already held) validates everywhere at once.
    assert validates(a.url, old) and validates(b.url, old)
    new = wait_for(lambda: (t := issue(b.url)) and key_index(db_url, t) == before + 1
                   and t, what="process B to encrypt with the new primary key")
    assert validates(a.url, new) and validates(b.url, new)
    rotate(procs)  # 3 active keys: the key that made `old` is gone now
    wait_for(lambda: not validates(a.url, old) and not validates(b.url, old),
             what="both processes to drop the oldest key")
    assert validates(a.url, new) and validates(b.url, new)
    assert validates(b.url, issue(a.url))


def test_a_process_that_only_issues_tokens_follows_a_rotation(procs):
    """B validates one token (its revision check is fresh), the keys rotate, then B
    only issues tokens: it must still move to the new primary (the issuing path
    re-reads the identity revision too), else it would go on encrypting with a key
    the next rotations retire."""
    a, b = procs["a"], procs["b"]
    db_url = procs["db_url"]
    assert validates(b.url, issue(a.url))
    before = key_index(db_url, issue(b.url))
    rotate(procs)
    wait_for(lambda: key_index(db_url, issue(b.url)) == before + 1,
             what="process B, issuing only, to encrypt with the new primary key")


def _image(url: str, token: str) -> str:
    r = httpx.post(url + "/image/v2/images", headers={"X-Auth-Token": token}, timeout=30,
                   json={"name": "mp", "disk_format": "raw", "container_format": "bare"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_image_uploaded_through_one_downloads_through_the_other(procs):
    a, b = procs["a"], procs["b"]
    token = issue(a.url)
    image_id = _image(a.url, token)
    data = os.urandom(300_000)
    r = httpx.put(f"{a.url}/image/v2/images/{image_id}/file", content=data, timeout=60,
                  headers={"X-Auth-Token": token,
                           "Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    r = httpx.get(f"{b.url}/image/v2/images/{image_id}/file", timeout=60,
                  headers={"X-Auth-Token": token})
    assert r.status_code == 200, r.text
    assert r.content == data
    assert (procs["images"] / image_id).is_file()


def test_starting_a_process_does_not_break_an_upload_in_flight(procs):
    a, b = procs["a"], procs["b"]
    token = issue(a.url)
    image_id = _image(a.url, token)
    first, rest = os.urandom(512 * 1024), os.urandom(256 * 1024)
    go_on = threading.Event()

    def body():
        yield first
        assert go_on.wait(120)
        yield rest

    result = {}

    def upload():
        result["r"] = httpx.put(
            f"{a.url}/image/v2/images/{image_id}/file", content=body(), timeout=180,
            headers={"X-Auth-Token": token, "Content-Type": "application/octet-stream"})

    t = threading.Thread(target=upload)
    t.start()
    third = None
    try:
        tmp_dir = procs["images"] / ".tmp"
        wait_for(lambda: any(p.stat().st_size > 0 for p in tmp_dir.iterdir()),
                 what="the upload's temporary file")
        third = _spawn(procs["tmp"] / "c", ["api"], procs["db_url"], procs["images"])
    finally:
        go_on.set()
        t.join(180)
        if third is not None:
            third.stop()
    assert result["r"].status_code == 204, result["r"].text
    r = httpx.get(f"{b.url}/image/v2/images/{image_id}", timeout=30,
                  headers={"X-Auth-Token": token})
    assert r.json()["status"] == "active"
    assert r.json()["checksum"] == hashlib.md5(first + rest).hexdigest()


def _runs(db_url: str, name: str) -> int:
    with _pg(db_url) as conn:
        row = conn.execute("SELECT runs FROM kumo_periodic_job WHERE name = %s",
                           (name,)).fetchone()
    return row[0] if row else 0


def test_periodic_jobs_run_in_one_process_at_a_time(procs):
    """Both processes run the jobs every second, but only under the job's advisory
    lock: while the test holds it, neither runs the job; the job's work gets done."""
    from kumo.common.periodic import lock_key

    db_url = procs["db_url"]
    wait_for(lambda: _runs(db_url, "revocation_prune") > 0, what="a first prune")
    with _pg(db_url) as conn:
        # the lock first (a job running now ends before it is ours), then an expired
        # revocation event (2 days old) for the prune to remove once it is released:
        # inserted before the lock, a run in between could prune it (CI saw that)
        conn.execute("SELECT pg_advisory_lock(%s)", (lock_key("revocation_prune"),))
        try:
            conn.execute("INSERT INTO revocation_event (audit_id, issued_before, "
                         "revoked_at) VALUES ('mp-expired', now() - interval '2 days', "
                         "now() - interval '2 days')")
            # nobody may start the job now
            time.sleep(1.5)
            held = _runs(db_url, "revocation_prune")
            time.sleep(3.5)  # three intervals of both processes' runners
            assert _runs(db_url, "revocation_prune") == held
            assert conn.execute("SELECT count(*) FROM revocation_event WHERE audit_id = "
                                "'mp-expired'").fetchone()[0] == 1
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key("revocation_prune"),))
        wait_for(lambda: _runs(db_url, "revocation_prune") > held, what="the next run")
        wait_for(lambda: conn.execute("SELECT count(*) FROM revocation_event WHERE "
                                      "audit_id = 'mp-expired'").fetchone()[0] == 0,
                 what="the expired event to be pruned")
        names = {r[0] for r in conn.execute("SELECT name FROM kumo_periodic_job")}
    assert names == {"revocation_prune", "l3_reschedule", "compute_purge_deleted",
                     "volume_attach_timeout"}


def test_metadata_secret_is_shared(procs):
    a, b = procs["a"], procs["b"]
    secret_a = (Path(a.env["KUMO_STATE_DIR"]) / "metadata_secret").read_text().strip()
    secret_b = (Path(b.env["KUMO_STATE_DIR"]) / "metadata_secret").read_text().strip()
    assert secret_a == secret_b and len(secret_a) == 64
    with _pg(procs["db_url"]) as conn:
        stored = conn.execute("SELECT value FROM kumo_shared_secret WHERE name = "
                              "'metadata_secret'").fetchone()[0]
    assert stored == secret_a


def test_routers_move_off_a_dead_l3_agent(procs):
    """The periodic job ``l3_reschedule`` moves a router whose L3 agent stopped
    heartbeating to an alive one, and its ports follow."""
    a, b = procs["a"], procs["b"]
    token = issue(a.url)
    headers = {"X-Auth-Token": token}
    net = a.url + "/networking"

    def l3_agent(url: str, host: str) -> dict:
        r = httpx.post(url + "/networking/kumo/v1/agents/heartbeat", headers=headers,
                       timeout=30, json={"agent": {"host": host, "agent_type": "L3 agent",
                                                   "binary": "neutron-l3-agent"}})
        assert r.status_code == 200, r.text
        return r.json()["agent"]

    first = l3_agent(a.url, "mp-l3-one")
    public = httpx.get(net + "/v2.0/networks", params={"name": "public"}, headers=headers,
                       timeout=30).json()["networks"][0]
    r = httpx.post(net + "/v2.0/routers", headers=headers, timeout=30, json={"router": {
        "name": "mp-r", "external_gateway_info": {"network_id": public["id"]}}})
    assert r.status_code == 201, r.text
    router_id = r.json()["router"]["id"]

    def hosts() -> list[str]:
        r = httpx.get(f"{net}/v2.0/routers/{router_id}/l3-agents", headers=headers,
                      timeout=30)
        return [ag["host"] for ag in r.json()["agents"]]

    def port_hosts() -> set[str]:
        r = httpx.get(net + "/v2.0/ports", params={"device_id": router_id},
                      headers=headers, timeout=30)
        return {p["binding:host_id"] for p in r.json()["ports"]}

    assert hosts() == ["mp-l3-one"] and port_hosts() == {"mp-l3-one"}
    l3_agent(b.url, "mp-l3-two")
    with _pg(procs["db_url"]) as conn:  # the first agent died an hour ago
        conn.execute("UPDATE network_agent SET heartbeat_timestamp = heartbeat_timestamp "
                     "- interval '1 hour' WHERE id = %s", (first["id"],))
    wait_for(lambda: hosts() == ["mp-l3-two"], what="the router to move")
    assert port_hosts() == {"mp-l3-two"}
    httpx.put(f"{net}/v2.0/routers/{router_id}", headers=headers, timeout=30,
              json={"router": {"external_gateway_info": {}}})
    assert httpx.delete(f"{net}/v2.0/routers/{router_id}", headers=headers,
                        timeout=30).status_code == 204
