"""Backup export/import records as Tempest's ``test_volume_backup_export_import`` and
a user see them: the record names Cinder's posix driver, a record whose id was changed
imports as a second backup of the same data (each restorable, either deletable), a
record whose row was lost while its data stayed imports the backup back, and bad
records change nothing (no row, no store directory)."""
from __future__ import annotations

import base64
import json
import uuid

import sqlalchemy as sa

from tests.api.helpers import db_engine
from tests.api.volume.conftest import assert_fault, wait_gone, wait_status


def _path(cloud, vid: str):
    return cloud.state_dir / "volumes" / "file-1" / f"volume-{vid}"


def _write(cloud, vid: str, offset: int, data: bytes) -> None:
    with _path(cloud, vid).open("r+b") as f:
        f.seek(offset)
        f.write(data)


def _read(cloud, vid: str, offset: int, n: int) -> bytes:
    with _path(cloud, vid).open("rb") as f:
        f.seek(offset)
        return f.read(n)


def _decode(url: str) -> dict:
    return json.loads(base64.b64decode(url))


def _encode(record: dict) -> str:
    return base64.b64encode(json.dumps(record).encode()).decode()


def _import(cinder, conn, service: str, url: str):
    return cinder.request(conn, "POST", "/backups/import_record", json={
        "backup-record": {"backup_service": service, "backup_url": url}})


def _restore_reads(cloud, cinder, conn, make, backup_id: str) -> bytes:
    """Restore the backup into a new volume; the bytes at 0 and 600 MiB."""
    vol = make(conn, "volumes", {"size": 1})
    resp = cinder.request(conn, "POST", f"/backups/{backup_id}/restore",
                          json={"restore": {"volume_id": vol["id"]}})
    assert resp.status_code == 202, resp.text
    wait_status(cinder, conn, "volumes", vol["id"], "available")
    wait_status(cinder, conn, "backups", backup_id, "available")
    return _read(cloud, vol["id"], 0, 8) + _read(cloud, vol["id"], 600 << 20, 8)


def _backups(cinder, conn) -> list[str]:
    return sorted(b["id"] for b in cinder.request(conn, "GET", "/backups").json()[
        "backups"])


def test_export_import_with_a_new_id(cloud, cinder, admin, make, unique):
    """Tempest's flow: export, change the id in the record, import, list, restore."""
    vol = make(admin, "volumes", {"size": 1})
    _write(cloud, vol["id"], 0, b"AAAAAAAA")
    _write(cloud, vol["id"], 600 << 20, b"BBBBBBBB")
    name = unique("bk")
    backup = make(admin, "backups", {"volume_id": vol["id"], "name": name,
                                     "metadata": {"k": "v"}}, version="3.43")
    resp = cinder.request(admin, "GET", f"/backups/{backup['id']}/export_record")
    assert resp.status_code == 200, resp.text
    record = resp.json()["backup-record"]
    assert record["backup_service"].startswith("cinder.backup.drivers")
    fields = _decode(record["backup_url"])
    assert fields["id"] == backup["id"] and fields["display_name"] == name
    assert fields["size"] == 1 and fields["volume_id"] == vol["id"]

    new_id = str(uuid.uuid4())
    resp = _import(cinder, admin, record["backup_service"],
                   _encode({**fields, "id": new_id}))
    assert resp.status_code == 201, resp.text
    assert resp.json()["backup"]["id"] == new_id and resp.json()["backup"]["name"] == name
    imported = wait_status(cinder, admin, "backups", new_id, "available")
    assert (imported["size"], imported["volume_id"], imported["metadata"]) == (
        1, vol["id"], {"k": "v"})
    assert new_id in _backups(cinder, admin)
    # the same record again: that backup exists now
    msg = assert_fault(_import(cinder, admin, record["backup_service"],
                               _encode({**fields, "id": new_id})), 400, "badRequest")
    assert "already exists" in msg

    # both restore the data; the original can go and the import still restores
    assert _restore_reads(cloud, cinder, admin, make, backup["id"]) == b"AAAAAAAABBBBBBBB"
    assert _restore_reads(cloud, cinder, admin, make, new_id) == b"AAAAAAAABBBBBBBB"
    assert cinder.request(admin, "DELETE", f"/backups/{backup['id']}").status_code == 202
    wait_gone(cinder, admin, "backups", backup["id"])
    assert _restore_reads(cloud, cinder, admin, make, new_id) == b"AAAAAAAABBBBBBBB"
    assert cinder.request(admin, "DELETE", f"/backups/{new_id}").status_code == 202
    wait_gone(cinder, admin, "backups", new_id)
    assert not (cloud.state_dir / "backups" / new_id).exists()


def test_import_after_the_row_was_lost(cloud, cinder, admin, make):
    """The disaster case: the database lost the row, the store kept the data; the
    exported record brings the backup back (same id), restorable."""
    vol = make(admin, "volumes", {"size": 1})
    _write(cloud, vol["id"], 0, b"CCCCCCCC")
    backup = make(admin, "backups", {"volume_id": vol["id"]})
    record = cinder.request(admin, "GET", f"/backups/{backup['id']}/export_record").json()[
        "backup-record"]
    engine = db_engine(cloud)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM volume_backup WHERE id = :id"),
                         {"id": backup["id"]})
    finally:
        engine.dispose()
    assert cinder.request(admin, "GET", f"/backups/{backup['id']}").status_code == 404
    resp = _import(cinder, admin, record["backup_service"], record["backup_url"])
    assert resp.status_code == 201, resp.text
    assert resp.json()["backup"]["id"] == backup["id"]
    wait_status(cinder, admin, "backups", backup["id"], "available")
    assert _restore_reads(cloud, cinder, admin, make, backup["id"])[:8] == b"CCCCCCCC"


def test_bad_records_change_nothing(cloud, cinder, admin, member, make):
    vol = make(admin, "volumes", {"size": 1})
    backup = make(admin, "backups", {"volume_id": vol["id"]})
    record = cinder.request(admin, "GET", f"/backups/{backup['id']}/export_record").json()[
        "backup-record"]
    fields = _decode(record["backup_url"])
    service = record["backup_service"]
    store = cloud.state_dir / "backups"
    before = (_backups(cinder, admin), sorted(p.name for p in store.iterdir()))
    other = str(uuid.uuid4())
    cases = [
        (_import(cinder, admin, "cinder.backup.drivers.swift.SwiftBackupDriver",
                 _encode({**fields, "id": other})), "is not supported"),
        (_import(cinder, admin, service, "not-base64!"), "Can't decode backup record"),
        (_import(cinder, admin, service, _encode({**fields, "id": other})[:-4] + "AAAA"),
         "Can't parse backup record"),
        (_import(cinder, admin, service, _encode({k: v for k, v in fields.items()
                                                  if k != "id"})), "missing an id"),
        (_import(cinder, admin, service, _encode({**fields, "id": other, "size": "x"})),
         "integers"),
        (_import(cinder, admin, service, _encode({k: v for k, v in fields.items()
                                                  if k != "size"} | {"id": other})),
         "missing size attribute"),
        (_import(cinder, admin, service, _encode({k: v for k, v in fields.items()
                                                  if k != "container"} | {"id": other})),
         "missing fields (container)"),
        # the data it names is not in the store
        (_import(cinder, admin, service, _encode({**fields, "id": other,
                                                  "service_metadata": str(uuid.uuid4())})),
         "not in the backup store"),
        (_import(cinder, admin, service, _encode({**fields, "id": other,
                                                  "service_metadata": "../x"})),
         "not a backup id"),
    ]
    for resp, words in cases:
        msg = assert_fault(resp, 400, "badRequest")
        assert words in msg, msg
    # over the backups quota: 413
    project = admin.current_project_id
    quotas = cinder.request(admin, "GET", f"/os-quota-sets/{project}",
                            params={"usage": "true"}).json()["quota_set"]
    old = quotas["backups"]["limit"]
    cinder.request(admin, "PUT", f"/os-quota-sets/{project}", json={
        "quota_set": {"backups": quotas["backups"]["in_use"]}})
    try:
        msg = assert_fault(_import(cinder, admin, service, _encode({**fields, "id": other})),
                           413, "overLimit")
        assert "Maximum number of backups allowed" in msg
    finally:
        cinder.request(admin, "PUT", f"/os-quota-sets/{project}",
                       json={"quota_set": {"backups": old}})
    # members may neither export nor import (admin-only in Cinder's policy)
    assert_fault(_import(cinder, member, service, _encode({**fields, "id": other})), 403,
                 "forbidden")
    assert (_backups(cinder, admin), sorted(p.name for p in store.iterdir())) == before
    # exporting a backup that is not available: 400
    cinder.request(admin, "POST", f"/backups/{backup['id']}/action",
                   json={"os-reset_status": {"status": "error"}})
    msg = assert_fault(cinder.request(admin, "GET",
                                      f"/backups/{backup['id']}/export_record"),
                       400, "badRequest")
    assert "Backup status must be available and not error" in msg
