"""The data-plane feed: snapshot with a revision, then watch changes from it."""
import threading
import time

import pytest


def _base(conn) -> str:
    url = conn.network.get_endpoint().rstrip("/")
    return url[:-len("/v2.0")] if url.endswith("/v2.0") else url


def test_snapshot_then_watch_sees_a_new_network(admin, unique):
    base = _base(admin)
    snap = admin.session.get(base + "/kumo/v1/state").json()
    assert isinstance(snap["revision"], int)
    assert any(n["network_type"] == "flat" for n in snap["networks"])
    name = unique("watched")
    created = {}

    def create():
        time.sleep(0.3)
        created["net"] = admin.network.create_network(name=name)
    worker = threading.Thread(target=create)
    worker.start()
    body = admin.session.get(base + f"/kumo/v1/changes?since={snap['revision']}&wait=10").json()
    worker.join()
    try:
        ids = {c["resource_id"] for c in body["changes"] if c["resource_type"] == "network"}
        assert created["net"].id in ids
        assert body["revision"] > snap["revision"]
        assert all(c["revision"] > snap["revision"] for c in body["changes"])
        # Nothing new after the revision we were given.
        again = admin.session.get(base + f"/kumo/v1/changes?since={body['revision']}").json()
        assert again["changes"] == []
        admin.network.delete_network(created["net"])
        deleted = admin.session.get(base + f"/kumo/v1/changes?since={body['revision']}").json()
        assert {"resource_id": created["net"].id, "op": "delete"}.items() <= \
            {k: v for k, v in deleted["changes"][-1].items()}.items()
    finally:
        if admin.network.find_network(name):
            admin.network.delete_network(created["net"])


def test_feed_is_admin_only(demo):
    base = _base(demo)
    resp = demo.session.get(base + "/kumo/v1/state", raise_exc=False)
    assert resp.status_code == 403
    assert resp.json()["NeutronError"]["type"] == "PolicyNotAuthorized"


@pytest.mark.parametrize("query", ["since=abc", "since=0&wait=x"])
def test_feed_rejects_bad_parameters(admin, query):
    resp = admin.session.get(_base(admin) + f"/kumo/v1/changes?{query}", raise_exc=False)
    assert resp.status_code == 400
