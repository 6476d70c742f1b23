"""What a run of Tempest's non-required volume API tests (``tempest.api.volume``
beyond the interop list) found, each checked here so it cannot come back:

- ``GET /v3/capabilities/{host}`` has exactly the keys of Cinder's capabilities view
  (no capacity figures: those are the pools');
- ``os-update_snapshot_status`` (a project member moves a ``creating`` snapshot to
  ``available``/``error`` with a progress, a ``deleting`` one to ``error_deleting``;
  other moves are 400s that change nothing);
- group types list sorted (``sort=name:desc``, ``sort_key``/``sort_dir``) and, for
  admins, filtered by ``is_public``; a bad sort key is a 400;
- a type's ``capabilities:volume_backend_name`` extra spec places its volumes on that
  backend, as ``volume_backend_name`` does.
"""
from __future__ import annotations

from tests.api.volume.conftest import assert_fault, wait_gone, wait_status

CAPABILITY_KEYS = {"pool_name", "description", "volume_backend_name", "namespace",
                   "visibility", "driver_version", "vendor_name", "properties",
                   "storage_protocol", "replication_targets", "display_name"}


def test_capabilities_keys_are_cinders(cinder, admin):
    host = cinder.request(admin, "GET", "/os-services").json()["services"]
    host = next(s["host"] for s in host if s["binary"] == "cinder-volume")
    resp = cinder.request(admin, "GET", f"/capabilities/{host}")
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == CAPABILITY_KEYS, resp.json()


def test_update_snapshot_status(cinder, admin, member, make):
    vol = make(member, "volumes", {"size": 1})
    snap = make(member, "snapshots", {"volume_id": vol["id"]})
    url = f"/snapshots/{snap['id']}/action"
    # an available snapshot cannot be moved
    assert_fault(cinder.request(member, "POST", url, json={
        "os-update_snapshot_status": {"status": "error"}}), 400, "badRequest")
    assert cinder.request(admin, "POST", url, json={
        "os-reset_status": {"status": "creating"}}).status_code == 202
    # creating -> deleting is not a move it allows; a missing status is a 400
    assert_fault(cinder.request(member, "POST", url, json={
        "os-update_snapshot_status": {"status": "deleting"}}), 400, "badRequest")
    assert_fault(cinder.request(member, "POST", url, json={
        "os-update_snapshot_status": {"progress": "10%"}}), 400, "badRequest")
    shown = cinder.request(member, "GET", f"/snapshots/{snap['id']}").json()["snapshot"]
    assert shown["status"] == "creating"
    resp = cinder.request(member, "POST", url, json={
        "os-update_snapshot_status": {"status": "error", "progress": "80%"}})
    assert resp.status_code == 202, resp.text
    shown = cinder.request(member, "GET", f"/snapshots/{snap['id']}").json()["snapshot"]
    assert shown["status"] == "error"
    assert shown["os-extended-snapshot-attributes:progress"] == "80%"
    assert cinder.request(admin, "POST", url, json={
        "os-reset_status": {"status": "available"}}).status_code == 202


def test_group_types_sort_and_is_public(cinder, admin, demo, unique):
    a, b = f"a_{unique}", f"b_{unique}"
    made = []
    try:
        for name, public in ((a, True), (b, False)):
            resp = cinder.request(admin, "POST", "/group_types", version="3.11", json={
                "group_type": {"name": name, "is_public": public}})
            assert resp.status_code == 202, resp.text
            made.append(resp.json()["group_type"]["id"])

        def names(conn=admin, **params):
            resp = cinder.request(conn, "GET", "/group_types", version="3.11",
                                  params=params)
            assert resp.status_code == 200, resp.text
            return [t["name"] for t in resp.json()["group_types"]]
        got = names(sort="name:asc", is_public="None")
        assert got.index(a) < got.index(b)
        got = names(sort="name:desc", is_public="None")
        assert got.index(b) < got.index(a)
        got = names(sort_key="name", sort_dir="desc")
        assert got.index(b) < got.index(a)
        assert b in names(is_public="false") and a not in names(is_public="false")
        assert a in names(is_public="true") and b not in names(is_public="true")
        # a non-admin sees public types only, whatever it asks
        assert b not in names(demo, is_public="false")
        assert_fault(cinder.request(admin, "GET", "/group_types", version="3.11",
                                    params={"sort": "bogus:asc"}), 400, "badRequest")
        assert_fault(cinder.request(admin, "GET", "/group_types", version="3.11",
                                    params={"sort": "name:sideways"}), 400, "badRequest")
    finally:
        for tid in made:
            cinder.request(admin, "DELETE", f"/group_types/{tid}", version="3.11")


def test_capabilities_backend_name_spec_places_volumes(cinder, admin, make, unique):
    hosts = {}
    for backend in ("file-1", "file-2"):
        resp = cinder.request(admin, "POST", "/types", json={"volume_type": {
            "name": f"{unique}-{backend}",
            "extra_specs": {"capabilities:volume_backend_name": backend}}})
        assert resp.status_code == 200, resp.text
        vol = make(admin, "volumes", {"size": 1, "volume_type": f"{unique}-{backend}"})
        hosts[backend] = vol["os-vol-host-attr:host"]
    assert hosts["file-1"].partition("@")[2].startswith("file-1#"), hosts
    assert hosts["file-2"].partition("@")[2].startswith("file-2#"), hosts
    # an unknown backend under the capability key places nowhere, like the plain one
    resp = cinder.request(admin, "POST", "/types", json={"volume_type": {
        "name": f"{unique}-none",
        "extra_specs": {"capabilities:volume_backend_name": "nope"}}})
    assert resp.status_code == 200, resp.text
    vol = cinder.request(admin, "POST", "/volumes", json={"volume": {
        "size": 1, "volume_type": f"{unique}-none"}}).json()["volume"]
    assert wait_status(cinder, admin, "volumes", vol["id"], "error")
    cinder.request(admin, "DELETE", f"/volumes/{vol['id']}")
    wait_gone(cinder, admin, "volumes", vol["id"])
    cinder.request(admin, "DELETE", f"/types/{resp.json()['volume_type']['id']}")


def test_quota_set_has_groups(cinder, admin, member):
    project = member.current_project_id
    quotas = cinder.request(admin, "GET", f"/os-quota-sets/{project}").json()["quota_set"]
    assert quotas["groups"] == 10
    usage = cinder.request(admin, "GET", f"/os-quota-sets/{project}",
                           params={"usage": "true"}).json()["quota_set"]
    assert usage["groups"]["in_use"] == 0
    defaults = cinder.request(admin, "GET", f"/os-quota-sets/{project}/defaults").json()
    assert defaults["quota_set"]["groups"] == 10
    resp = cinder.request(admin, "PUT", f"/os-quota-sets/{project}", json={
        "quota_set": {"groups": 0}})
    assert resp.status_code == 200 and resp.json()["quota_set"]["groups"] == 0
    # at 0, the project can make no group
    resp = cinder.request(admin, "POST", "/group_types", version="3.11", json={
        "group_type": {"name": f"gt-{project}"}})
    assert resp.status_code == 202, resp.text
    gtype = resp.json()["group_type"]["id"]
    vtype = cinder.request(admin, "GET", "/types/default").json()["volume_type"]["id"]
    try:
        resp = cinder.request(member, "POST", "/groups", version="3.13", json={
            "group": {"group_type": gtype, "volume_types": [vtype]}})
        assert resp.status_code == 413, resp.text
        assert cinder.request(member, "GET", "/groups", version="3.13").json()[
            "groups"] == []
    finally:
        cinder.request(admin, "DELETE", f"/group_types/{gtype}", version="3.11")


def test_services_cluster_from_3_7(cinder, admin):
    old = cinder.request(admin, "GET", "/os-services", version="3.0").json()["services"]
    assert old and all("cluster" not in s for s in old)
    new = cinder.request(admin, "GET", "/os-services", version="3.7").json()["services"]
    assert all(s["cluster"] is None for s in new)


def test_admin_sees_migration_status(cinder, admin, demo, make):
    vol = make(demo, "volumes", {"size": 1})
    shown = cinder.request(admin, "GET", f"/volumes/{vol['id']}").json()["volume"]
    assert "migration_status" in shown and shown["migration_status"] is None
    listed = cinder.request(admin, "GET", "/volumes/detail",
                            params={"all_tenants": "1"}).json()["volumes"]
    assert all("migration_status" in v for v in listed)


def test_backup_update_answers_the_summary(cinder, demo, make):
    vol = make(demo, "volumes", {"size": 1})
    backup = make(demo, "backups", {"volume_id": vol["id"]})
    resp = cinder.request(demo, "PUT", f"/backups/{backup['id']}", version="3.9",
                          json={"backup": {"name": "renamed", "description": "d"}})
    assert resp.status_code == 200, resp.text
    body = resp.json()["backup"]
    assert set(body) == {"id", "name", "links"} and body["name"] == "renamed"
    shown = cinder.request(demo, "GET", f"/backups/{backup['id']}").json()["backup"]
    assert shown["description"] == "d"


def test_legacy_attach_actions(cinder, admin, demo, make):
    vol = make(demo, "volumes", {"size": 1})
    url = f"/volumes/{vol['id']}/action"

    def status():
        return cinder.request(demo, "GET", f"/volumes/{vol['id']}").json()["volume"]

    assert_fault(cinder.request(demo, "POST", "/volumes/00000000-0000-0000-0000-000000000000"
                                "/action", json={"os-reserve": None}), 404, "itemNotFound")
    assert cinder.request(demo, "POST", url, json={"os-reserve": None}).status_code == 202
    assert status()["status"] == "attaching"
    assert cinder.request(demo, "POST", url, json={"os-unreserve": None}).status_code \
        == 202
    assert status()["status"] == "available"
    # bad input changes nothing
    assert_fault(cinder.request(demo, "POST", url, json={"os-attach": {
        "host_name": "h"}}), 400, "badRequest")
    assert_fault(cinder.request(demo, "POST", url, json={"os-attach": {
        "mountpoint": "/dev/vdb"}}), 400, "badRequest")
    assert status()["status"] == "available"
    # reserve, then attach to a host
    assert cinder.request(demo, "POST", url, json={"os-reserve": {}}).status_code == 202
    # a second reservation is a 400 (the volume is not available)
    assert_fault(cinder.request(demo, "POST", url, json={"os-reserve": {}}), 400,
                 "badRequest")
    resp = cinder.request(demo, "POST", url, json={"os-attach": {
        "host_name": "client-host", "mountpoint": "/dev/vdb"}})
    assert resp.status_code == 202, resp.text
    shown = status()
    assert shown["status"] == "in-use" and len(shown["attachments"]) == 1
    att = shown["attachments"][0]
    assert att["device"] == "/dev/vdb" and att["volume_id"] == vol["id"]
    assert att["host_name"] == "client-host"
    assert cinder.request(demo, "POST", url, json={"os-detach": {}}).status_code == 202
    assert status()["status"] == "available" and status()["attachments"] == []
    # force detach is for admins, and takes the attachment id
    assert cinder.request(demo, "POST", url, json={"os-attach": {
        "host_name": "client-host", "mountpoint": "/dev/vdc"}}).status_code == 202
    att_id = status()["attachments"][0]["attachment_id"]
    assert cinder.request(demo, "POST", url, json={"os-force_detach": {
        "attachment_id": att_id}}).status_code == 403
    assert_fault(cinder.request(admin, "POST", url, json={"os-force_detach": {
        "attachment_id": "00000000-0000-0000-0000-000000000000"}}), 404, "itemNotFound")
    resp = cinder.request(admin, "POST", url, json={"os-force_detach": {
        "attachment_id": att_id, "connector": None}})
    assert resp.status_code == 202, resp.text
    assert status()["status"] == "available"


def test_show_host_usage(cinder, admin, demo, make):
    vol = make(demo, "volumes", {"size": 2})
    make(demo, "snapshots", {"volume_id": vol["id"]})
    host = cinder.request(admin, "GET", f"/volumes/{vol['id']}").json()["volume"][
        "os-vol-host-attr:host"].partition("#")[0]
    resp = cinder.request(admin, "GET", f"/os-hosts/{host}")
    assert resp.status_code == 200, resp.text
    rows = [r["resource"] for r in resp.json()["host"]]
    assert rows[0]["project"] == "(total)" and all(r["host"] == host for r in rows)
    mine = next(r for r in rows if r["project"] == demo.current_project_id)
    assert int(mine["volume_count"]) >= 1 and int(mine["total_volume_gb"]) >= 2
    assert int(mine["snapshot_count"]) >= 1
    assert int(rows[0]["volume_count"]) >= int(mine["volume_count"])
    assert isinstance(mine["volume_count"], str)
    assert_fault(cinder.request(admin, "GET", "/os-hosts/nohost@none"), 404,
                 "itemNotFound")
    assert_fault(cinder.request(demo, "GET", f"/os-hosts/{host}"), 403, "forbidden")


def test_services_host_filter_freeze_thaw_and_reason(cinder, admin):
    services = cinder.request(admin, "GET", "/os-services").json()["services"]
    backend_host = next(s["host"] for s in services if s["binary"] == "cinder-volume")
    bare = backend_host.partition("@")[0]
    # host=<name> finds the services of its backends too (host@backend), as Cinder's
    by_host = cinder.request(admin, "GET", "/os-services",
                             params={"host": bare}).json()["services"]
    assert any(s["binary"] == "cinder-volume" for s in by_host)
    assert all(s["host"] == bare or s["host"].startswith(bare + "@") for s in by_host)
    # disable-log-reason needs a reason; nothing changes without one
    other = next(s for s in services if s["binary"] != "cinder-volume")
    assert_fault(cinder.request(admin, "PUT", "/os-services/disable-log-reason", json={
        "host": other["host"], "binary": other["binary"]}), 400, "badRequest")
    after = cinder.request(admin, "GET", "/os-services").json()["services"]
    assert next(s for s in after if s["host"] == other["host"] and
                s["binary"] == other["binary"])["status"] == other["status"]
    for action in ("freeze", "thaw"):
        assert_fault(cinder.request(admin, "PUT", f"/os-services/{action}", json={
            "host": "no-such-host@nothing"}), 400, "badRequest")


def test_detach_of_a_detached_volume_is_a_no_op(cinder, demo, make):
    vol = make(demo, "volumes", {"size": 1})
    resp = cinder.request(demo, "POST", f"/volumes/{vol['id']}/action",
                          json={"os-detach": {}})
    assert resp.status_code == 202, resp.text
    shown = cinder.request(demo, "GET", f"/volumes/{vol['id']}").json()["volume"]
    assert shown["status"] == "available"


def test_volumes_summary(cinder, member, make):
    make(member, "volumes", {"size": 1, "metadata": {"k": "a"}})
    make(member, "volumes", {"size": 2, "metadata": {"k": "b", "j": "c"}})
    resp = cinder.request(member, "GET", "/volumes/summary", version="3.36")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"volume-summary": {"total_size": 3, "total_count": 2,
                                              "metadata": {"j": ["c"], "k": ["a", "b"]}}}
    old = cinder.request(member, "GET", "/volumes/summary", version="3.12").json()
    assert old == {"volume-summary": {"total_size": 3, "total_count": 2}}
    assert_fault(cinder.request(member, "GET", "/volumes/summary", version="3.11"), 404,
                 "itemNotFound")


def test_restore_brings_the_volume_metadata_back(cinder, demo, make):
    vol = make(demo, "volumes", {"size": 1, "metadata": {"m1": "v1", "m2": "v2"}})
    backup = make(demo, "backups", {"volume_id": vol["id"]})
    resp = cinder.request(demo, "POST", f"/backups/{backup['id']}/restore",
                          json={"restore": {}})
    assert resp.status_code == 202, resp.text
    new_id = resp.json()["restore"]["volume_id"]
    from tests.api.volume.conftest import wait_status
    try:
        restored = wait_status(cinder, demo, "volumes", new_id, "available")
        assert restored["metadata"] == {"m1": "v1", "m2": "v2"}
    finally:
        cinder.request(demo, "DELETE", f"/volumes/{new_id}")
