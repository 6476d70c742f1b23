"""Backup export/import records (Block Storage API v3 "Export a backup", "Import a
backup"): Cinder's way to put a backup back in the database after the database lost
it, or into another cloud sharing the backup store. No HTTP here.

**The record** is what Cinder's ``export_record`` answers: ``backup_service``, the
driver (:data:`SERVICE`: Kumo's store is a chunked store on a POSIX directory, which is
what Cinder's ``cinder.backup.drivers.posix.PosixBackupDriver`` is), and
``backup_url``, the base64 of a JSON object of the backup's fields under Cinder's names
(``id``, ``display_name``, ``display_description``, ``volume_id``, ``size``,
``container``, ``object_count``, ``parent_id``, ``data_timestamp``, ``metadata``...)
with ``service_metadata``, where the data is: the store directory (a backup id) that
holds the backup's ``map.json``.

**Import** (:func:`import_record`) checks, before anything changes (else 400; over
the ``backups``/``backup_gigabytes`` quota 413): the service, the record (base64 JSON
with ``id`` and ``size``, then the fields Cinder's manager requires), that no backup of
that id exists (Cinder reuses only a soft-deleted row; Kumo deletes rows, so an id
without a row is importable), and that the data is in the store: the map and every
chunk file it names. The backup is made ``available`` in the importer's project with
the record's id, name, volume id, parent, metadata and timestamps.

Where the data is: a record re-imported after its row was lost (the disaster case:
``service_metadata`` is its own id, the directory is still there) uses the directory
as it is. A record whose ``id`` was changed (Tempest's import test does that, since
the original still exists) names the original's directory in ``service_metadata``:
Cinder's posix driver then has two rows on one set of files (deleting either deletes
the data of both); here the new backup gets its own directory whose chunk files are
hard links of the original's (copies where links fail) and whose map names it, so
either can be deleted and the other still restores. Chunks an incremental backup
takes from its parents stay the parents' (and the parents cannot be deleted while it
exists, as for any incremental).
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import shutil
import uuid
from pathlib import Path

from kumo.common.timeutils import utcnow
from kumo.volume import models
from kumo.volume.errors import InvalidInput

SERVICE = "cinder.backup.drivers.posix.PosixBackupDriver"
#: What records exported before Kumo named its driver as Cinder does carried.
LEGACY_SERVICE = "kumo.volume.backups"
#: The fields Cinder's backup manager requires in an imported record.
REQUIRED = ("display_name", "display_description", "container", "size",
            "service_metadata", "object_count", "id")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_record(backups, backup: models.Backup) -> dict:
    """The ``backup-record`` of an ``available`` backup (400 otherwise)."""
    if backup.status != "available":
        raise InvalidInput(f"Invalid backup: Backup status must be available and not "
                           f"{backup.status}.")
    record = {
        "id": backup.id, "display_name": backup.name,
        "display_description": backup.description, "volume_id": backup.volume_id,
        "snapshot_id": backup.snapshot_id, "user_id": backup.user_id,
        "project_id": backup.project_id, "size": backup.size,
        "container": backup.container, "availability_zone": backup.availability_zone,
        "service": SERVICE, "service_metadata": backup.id,
        "object_count": backup.object_count, "parent_id": backup.parent_id,
        "num_dependent_backups": 0, "status": backup.status,
        "fail_reason": backup.fail_reason, "metadata": backup.metadata_json or {},
        "data_timestamp": _iso(backup.data_timestamp),
        "created_at": _iso(backup.created_at), "updated_at": _iso(backup.updated_at),
        "deleted": False, "deleted_at": None, "encryption_key_id": None,
        "temp_volume_id": None, "temp_snapshot_id": None, "restore_volume_id": None,
        "driver_info": {}}
    url = base64.b64encode(json.dumps(record).encode()).decode()
    return {"backup_service": SERVICE, "backup_url": url}


def decode(url: str) -> dict:
    """The record in a ``backup_url`` (400 when it is not base64 of a JSON object
    with an ``id`` and a ``size``; Cinder's words)."""
    try:
        raw = base64.b64decode(url, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("Invalid input received: Can't decode backup record.") \
            from None
    try:
        record = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("Invalid input received: Can't parse backup record.") \
            from None
    if not isinstance(record, dict):
        raise InvalidInput("Invalid input received: Can't parse backup record.")
    if "name" in record and "display_name" not in record:  # a legacy Kumo record
        record = {**record, "display_name": record.get("name"),
                  "display_description": record.get("description"),
                  "metadata": record.get("metadata_json"),
                  "service_metadata": record.get("id")}
    if "id" not in record:
        raise InvalidInput("Invalid input received: Provided backup record is missing "
                           "an id")
    if "size" not in record:
        raise InvalidInput("Invalid input received: Provided backup record is missing "
                           "size attribute")
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise InvalidInput(f"Invalid backup: Driver successfully decoded imported backup "
                           f"data, but there are missing fields "
                           f"({', '.join(sorted(missing))}).")
    for key in ("id", "service_metadata"):
        try:
            uuid.UUID(str(record[key]))
        except ValueError:
            raise InvalidInput(f"Invalid input received: {key} {record[key]!r} in the "
                               "backup record is not a backup id.") from None
    record["id"] = str(uuid.UUID(str(record["id"])))
    record["service_metadata"] = str(uuid.UUID(str(record["service_metadata"])))
    try:
        record["size"] = int(record["size"])
        record["object_count"] = int(record["object_count"] or 0)
    except (TypeError, ValueError):
        raise InvalidInput("Invalid input received: size and object_count of the backup "
                           "record must be integers.") from None
    if not 0 <= record["size"] <= 2 ** 31 - 1:
        raise InvalidInput("Invalid input received: the backup record's size is out of "
                           "range.")
    for key in ("display_name", "display_description", "container"):
        value = record[key]
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise InvalidInput(f"Invalid input received: {key} of the backup record "
                               "must be a string of at most 255 characters.")
    meta = record.get("metadata") or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in meta.items()):
        raise InvalidInput("Invalid input received: metadata of the backup record must "
                           "map strings to strings.")
    record["metadata"] = meta
    for key in ("volume_id", "snapshot_id", "parent_id"):
        value = record.get(key)
        if value is not None:
            try:
                record[key] = str(uuid.UUID(str(value)))
            except ValueError:
                raise InvalidInput(f"Invalid input received: {key} of the backup record "
                                   "is not a UUID.") from None
    return record


def _timestamp(value) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.astimezone(dt.timezone.utc).replace(tzinfo=None) \
        if stamp.tzinfo else stamp


def _check_data(root: Path, where: str) -> dict:
    """The map of the backup data in ``root/where``; 400 when it or a chunk it names
    is missing."""
    try:
        meta = json.loads((root / where / "map.json").read_text())
        chunks = meta["chunks"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InvalidInput("Invalid input received: the backup's data is not in the "
                           "backup store.") from None
    try:
        for n, (holder, _) in chunks.items():
            if str(uuid.UUID(holder)) != holder or str(int(n)) != n:
                raise ValueError(n)
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput("Invalid input received: the backup's map in the backup store "
                           "is not valid.") from None
    for n, (holder, _) in chunks.items():
        if not (root / holder / "chunks" / n).is_file():
            raise InvalidInput(f"Invalid input received: the backup's data in the backup "
                               f"store is incomplete (chunk {n} of backup {holder} is "
                               "missing).")
    return meta


def _link_copy(root: Path, source: str, meta: dict, new_id: str) -> Path:
    """A store directory for ``new_id`` made of ``source``'s: its own chunks hard
    linked (copied where a link fails), the map naming ``new_id`` for them; built
    under a temporary name, returned for the caller to rename."""
    tmp = root / f".import-{new_id}-{uuid.uuid4().hex[:8]}"
    (tmp / "chunks").mkdir(parents=True, mode=0o700)
    os.chmod(tmp, 0o700)
    try:
        chunks = {}
        for n, (holder, digest) in meta["chunks"].items():
            if holder == source:
                src = root / source / "chunks" / n
                dst = tmp / "chunks" / n
                try:
                    os.link(src, dst)
                except OSError:
                    shutil.copyfile(src, dst)
                    os.chmod(dst, 0o600)
                holder = new_id
            chunks[n] = [holder, digest]
        fd = os.open(tmp / "map.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({**meta, "chunks": chunks}, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def import_record(backups, ctx, service: str, url: str) -> models.Backup:
    """Make the backup a record describes (see the module doc)."""
    if service not in (SERVICE, LEGACY_SERVICE):
        raise InvalidInput(f"Invalid input received: Backup service {service} is not "
                           f"supported (this cloud's backup service is {SERVICE}).")
    record = decode(url)
    bid, source = record["id"], record["service_metadata"]
    m, root = backups.m, backups.root
    with m.read() as s:
        if s.get(models.Backup, bid) is not None:
            raise InvalidInput("Invalid backup: Backup already exists in database.")
    own = (root / bid / "map.json").is_file()
    if not own and (root / bid).exists():
        raise InvalidInput(f"Invalid input received: the backup store has a partial "
                           f"directory for backup {bid}.")
    meta = _check_data(root, bid if own else source)
    built = None if own else _link_copy(root, source, meta, bid)
    placed = False
    try:
        with m.write() as s:
            if s.get(models.Backup, bid) is not None:
                raise InvalidInput("Invalid backup: Backup already exists in database.")
            m.check_quota(s, ctx.project_id, backups=1, backup_gigabytes=record["size"])
            now = utcnow()
            parent = record.get("parent_id")
            backup = models.Backup(
                id=bid, volume_id=record.get("volume_id") or
                "00000000-0000-0000-0000-000000000000",
                snapshot_id=record.get("snapshot_id"), project_id=ctx.project_id,
                user_id=ctx.user_id, name=record["display_name"],
                description=record["display_description"], size=record["size"],
                status="available", container=record["container"],
                availability_zone="nova", parent_id=parent,
                is_incremental=parent is not None,
                object_count=record["object_count"], metadata_json=record["metadata"],
                data_timestamp=_timestamp(record.get("data_timestamp")) or now,
                created_at=_timestamp(record.get("created_at")) or now, updated_at=now)
            s.add(backup)
            s.flush()
            if built is not None:
                os.rename(built, root / bid)
                placed = True
        return backup
    except BaseException:
        if built is not None:
            shutil.rmtree(root / bid if placed else built, ignore_errors=True)
        raise
