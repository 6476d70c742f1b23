"""A restart of ``kumo up`` (SIGKILL, same state): volumes, their data and
attachments stay; rows a stopped worker left mid-step are settled (``creating`` ->
``error``, ``deleting`` finished, ``extending`` back to ``available``)."""
from __future__ import annotations

import httpx

from tests.conftest import _start
from tests.waiting import stop_process

TIMEOUT = 30


def _token(url: str) -> str:
    resp = httpx.post(url + "/identity/v3/auth/tokens", timeout=TIMEOUT, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    return resp.headers["X-Subject-Token"]


def _wait(client, vid: str, status: str) -> dict:
    import time
    deadline = time.monotonic() + 60
    body = {}
    while time.monotonic() < deadline:
        body = client.get(f"/volumes/{vid}").json()["volume"]
        if body["status"] == status:
            return body
        time.sleep(0.1)
    raise AssertionError(f"{vid} never became {status}: {body}")


def test_state_survives_a_restart(tmp_path):
    env = {"KUMO_COMPUTE_FAKE_HOSTS": "0"}
    server = _start(tmp_path, None, "sqlite", env)
    port = int(server.url.rsplit(":", 1)[1])
    try:
        headers = {"X-Auth-Token": _token(server.url),
                   "OpenStack-API-Version": "volume 3.44"}
        client = httpx.Client(base_url=server.url + "/volume/v3", headers=headers,
                              timeout=TIMEOUT)
        ids = {}
        for name in ("kept", "attached", "creating", "deleting", "extending"):
            vid = client.post("/volumes", json={"volume": {"size": 1, "name": name}}
                              ).json()["volume"]["id"]
            _wait(client, vid, "available")
            ids[name] = vid
        path = server.state_dir / "volumes" / "file-1" / f"volume-{ids['kept']}"
        with path.open("r+b") as f:
            f.write(b"still-here")
        att = client.post("/attachments", json={"attachment": {
            "volume_id": ids["attached"], "instance_uuid": None,
            "connector": {"host": "h"}}}).json()["attachment"]
        assert client.post(f"/attachments/{att['id']}/action",
                           json={"os-complete": None}).status_code == 204
        for name in ("creating", "deleting", "extending"):
            client.post(f"/volumes/{ids[name]}/action",
                        json={"os-reset_status": {"status": name}})
        client.close()
        server.process.kill()
        server.process.wait(10)
        server = _start(tmp_path, None, "sqlite", env, port=port)
        headers["X-Auth-Token"] = _token(server.url)
        client = httpx.Client(base_url=server.url + "/volume/v3", headers=headers,
                              timeout=TIMEOUT)
        assert _wait(client, ids["kept"], "available")
        assert path.read_bytes()[:10] == b"still-here"
        attached = _wait(client, ids["attached"], "in-use")
        assert attached["attachments"] and attached["attachments"][0]["attachment_id"] == \
            att["id"]
        assert _wait(client, ids["creating"], "error")
        assert _wait(client, ids["extending"], "available")["size"] == 1
        assert client.get(f"/volumes/{ids['deleting']}").status_code == 404
        assert not (server.state_dir / "volumes" / "file-1" /
                    f"volume-{ids['deleting']}").exists()
        client.close()
    finally:
        stop_process(server.process)
