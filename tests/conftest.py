"""Test harness: a real Kumo server per backend, driven by the real clients.

``cloud`` starts ``kumo up`` in a subprocess on a free loopback port with its own state
directory and HOME, once per test session and backend: SQLite always, PostgreSQL when
``KUMO_TEST_PG_URL`` names a server (``make test`` sets it). Tests get openstacksdk
connections (``admin``, ``demo``) and ``cli(...)`` for the ``openstack`` command.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import openstack
import pytest

from tests.waiting import stop_process

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

#: bcrypt's cost for every server the tests start, unless the environment says
#: otherwise (Keystone's own tests lower ``password_hash_rounds`` the same way): one
#: login at the default cost 12 takes about 0.25 s of CPU and the suite logs in about
#: 1,500 times. Same code path, only the cost differs; the benchmarks keep 12.
os.environ.setdefault("KUMO_BCRYPT_ROUNDS", "4")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_database(base_url: str, worker: str) -> str:
    """A fresh PostgreSQL database for this worker; returns its URL. The name carries
    the test run's process id, so concurrent runs on one server never drop each
    other's databases (:func:`_pg_drop` removes it at the end)."""
    import psycopg

    name = f"kumo_test_{worker}_{os.getpid()}"
    plain = base_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + "/" + name


def _pg_drop(base_url: str, db_url: str) -> None:
    """Drop the database of ``db_url``, its sessions ended; retried for a few seconds
    while PostgreSQL refuses (a backend it may not end yet, such as an autovacuum worker
    on a server where the role lacks ``pg_signal_backend``)."""
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    plain = base_url.replace("postgresql+psycopg://", "postgresql://")
    for attempt in range(20):
        try:
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == 19:
                raise
            time.sleep(0.5)


@contextlib.contextmanager
def scratch_database(backend: str, tmp_path: Path, name: str) -> Iterator[str]:
    """An empty database URL on ``backend`` for a test that drives kumo's managers
    directly: a SQLite file under ``tmp_path``, or a fresh PostgreSQL database (skipped
    unless ``KUMO_TEST_PG_URL`` is set) dropped afterwards."""
    if backend != "postgresql":
        yield f"sqlite:///{tmp_path / 'kumo.db'}"
        return
    base = os.environ.get("KUMO_TEST_PG_URL")
    if not base:
        pytest.skip("KUMO_TEST_PG_URL is not set")
    url = _pg_database(base, name)
    try:
        yield url
    finally:
        _pg_drop(base, url)


@dataclass
class Cloud:
    """A running Kumo server and how to reach it."""

    url: str
    state_dir: Path
    clouds_yaml: Path
    env: dict
    backend: str
    process: subprocess.Popen
    #: The server's stdout and stderr: its log (kumo.common.log's lines).
    log: Path | None = None

    def connect(self, cloud: str = "kumo-admin", **auth) -> openstack.connection.Connection:
        """An openstacksdk connection from clouds.yaml, or with explicit ``auth``."""
        if auth:
            auth.setdefault("auth_url", self.url + "/identity")
            return openstack.connection.Connection(auth=auth, identity_api_version="3",
                                                   region_name="RegionOne")
        config = openstack.config.OpenStackConfig(config_files=[str(self.clouds_yaml)])
        return openstack.connection.Connection(config=config.get_one(cloud))

    def cli(self, *args: str, cloud: str = "kumo-admin", check: bool = True,
            parse: bool = True, env: dict | None = None):
        """Run ``openstack <args>`` (with ``-f json`` when ``parse``); returns the parsed
        output, or the CompletedProcess when ``check`` is false."""
        cmd = [str(BIN / "openstack"), "--os-cloud", cloud, *args]
        if parse:
            cmd += ["-f", "json"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                              env={**self.env, **(env or {})})
        if not check:
            return proc
        assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stderr}"
        if parse and proc.stdout.strip():
            return json.loads(proc.stdout)
        return proc.stdout


def _start(tmp: Path, db_url: str | None, backend: str, extra_env: dict | None = None,
           port: int | None = None) -> Cloud:
    port = port or _free_port()
    state = tmp / "state"
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(home), "KUMO_STATE_DIR": str(state),
           "OS_CLIENT_CONFIG_FILE": str(state / "clouds.yaml"), "PYTHONUNBUFFERED": "1",
           "KUMO_COMPUTE_FAKE_HOSTS": "2",  # compute hosts fake-0, fake-1 (fake driver)
           # two block storage backends (sparse files), so migration and retype are real
           "KUMO_VOLUME_BACKENDS": "file-1:file,file-2:file",
           # no data plane for the machine: tests never touch the root namespace, and
           # the data-plane tests run their own agents in simulated hosts
           "KUMO_DATAPLANE": "off", **(extra_env or {})}
    env.pop("OS_CLOUD", None)
    cmd = [str(BIN / "kumo"), "up", "--port", str(port)]
    if db_url:
        cmd += ["--db", db_url]
    log = open(tmp / "server.log", "w")  # a restart on the same tmp starts a new log
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while True:
        text = (tmp / "server.log").read_text()
        if "kumo: ready" in text:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"kumo up did not start:\n{text}")
        time.sleep(0.05)
    return Cloud(f"http://127.0.0.1:{port}", state, state / "clouds.yaml", env, backend, proc,
                 tmp / "server.log")


@contextlib.contextmanager
def own_cloud(tmp_path_factory, backend: str, name: str,
              env: dict | None = None) -> Iterator[Cloud]:
    """A ``kumo up`` of a test module's own on ``backend`` with ``env`` added to its
    environment (``KUMO_*`` settings the session ``cloud`` keeps at their defaults);
    ``name`` prefixes its directory and PostgreSQL database. Stopped, and its database
    dropped, afterwards; PostgreSQL is skipped unless ``KUMO_TEST_PG_URL`` is set."""
    db_url = base = None
    if backend == "postgresql":
        base = os.environ.get("KUMO_TEST_PG_URL")
        if not base:
            pytest.skip("KUMO_TEST_PG_URL is not set (make test sets it)")
        db_url = _pg_database(base, f"{name}-" + os.environ.get("PYTEST_XDIST_WORKER",
                                                                 "main"))
    try:
        server = _start(tmp_path_factory.mktemp(f"kumo-{name}-{backend}"), db_url,
                        backend, env)
        try:
            yield server
        finally:
            stop_process(server.process)
    finally:
        if db_url:
            _pg_drop(base, db_url)


def _backends():
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(scope="session", params=_backends())
def cloud(request, tmp_path_factory) -> Cloud:
    backend = request.param
    db_url = None
    if backend == "postgresql":
        base = os.environ.get("KUMO_TEST_PG_URL")
        if not base:
            pytest.skip("KUMO_TEST_PG_URL is not set (make test sets it)")
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        db_url = _pg_database(base, worker)
    tmp = tmp_path_factory.mktemp(f"kumo-{backend}")
    server = _start(tmp, db_url, backend)
    yield server
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
    if db_url:
        _pg_drop(base, db_url)


@pytest.fixture(scope="session")
def admin(cloud):
    """openstacksdk connection as admin (project admin)."""
    conn = cloud.connect("kumo-admin")
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def demo(cloud):
    """openstacksdk connection as demo (member of project demo)."""
    conn = cloud.connect("kumo")
    yield conn
    conn.close()


@pytest.fixture
def unique():
    """A name no other test uses."""
    return lambda prefix="t": f"{prefix}-{uuid.uuid4().hex[:10]}"
