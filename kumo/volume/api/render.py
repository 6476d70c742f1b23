"""Response bodies of the Block Storage API v3, per microversion (Cinder's view
builders): volumes, snapshots, backups, types, links."""
from __future__ import annotations

from kumo.common import listing
from kumo.common.http import Request
from kumo.common.timeutils import isotime
from kumo.volume import models
from kumo.volume.api import at_least


def links(req: Request, collection: str, rid: str) -> list[dict]:
    return [{"rel": "self", "href": req.url(f"/v3/{collection}/{rid}")},
            {"rel": "bookmark", "href": req.url(f"/{collection}/{rid}")}]


def next_link(req: Request, collection: str, last_id: str) -> list[dict]:
    """``<collection>_links``: the next page after ``last_id`` with the request's
    parameters (``offset`` applied once, so dropped)."""
    return [listing.link(req.url(f"/v3/{collection}"), req.query, "next", last_id,
                         req.query.get("limit"), drop=("offset",))]


def attachment_summary(att: models.Attachment) -> dict:
    return {"server_id": att.instance_uuid, "attachment_id": att.id,
            "attached_at": isotime(att.created_at), "host_name": att.attached_host,
            "volume_id": att.volume_id, "device": att.mountpoint, "id": att.volume_id}


def volume(req: Request, vol: models.Volume, created: bool = False) -> dict:
    """A volume's detail view. ``created``: the body of a create, update or manage
    answer, which in Cinder has none of the attributes its API extensions add to show
    and list (``os-vol-tenant-attr``, ``os-vol-host-attr``, ``os-vol-mig-status-attr``,
    ``volume_image_metadata``; Tempest's create and update schemas refuse them)."""
    admin = req.context.is_admin and not created
    body = {
        "id": vol.id, "name": vol.name, "description": vol.description,
        "status": vol.status, "size": vol.size,
        "availability_zone": vol.availability_zone,
        "created_at": isotime(vol.created_at), "updated_at": isotime(vol.updated_at),
        "attachments": [attachment_summary(a) for a in vol.attachments
                        if a.attach_status == "attached"],
        "bootable": "true" if vol.bootable else "false",
        "encrypted": vol.volume_type.encryption is not None,
        "metadata": {m.key: m.value for m in vol.metadata_items},
        "multiattach": vol.multiattach, "replication_status": None,
        "snapshot_id": vol.snapshot_id, "source_volid": vol.source_volid,
        "consistencygroup_id": None, "user_id": vol.user_id,
        "volume_type": vol.volume_type.name,
        "links": links(req, "volumes", vol.id),
    }
    if created:
        body["migration_status"] = vol.migration_status
    else:
        body["os-vol-tenant-attr:tenant_id"] = vol.project_id
    if vol.image_metadata and not created:
        body["volume_image_metadata"] = {m.key: m.value for m in vol.image_metadata}
    if admin:  # Cinder's detail view adds migration_status for admins
        body["migration_status"] = vol.migration_status
        body["os-vol-host-attr:host"] = vol.host
        body["os-vol-mig-status-attr:migstat"] = vol.migration_status
        body["os-vol-mig-status-attr:name_id"] = None
    if at_least(req, "3.13"):
        body["group_id"] = vol.group_id
    if at_least(req, "3.21"):
        body["provider_id"] = None
    # 3.47 takes backup_id in a create; Cinder's views never show it (Tempest)
    if at_least(req, "3.48"):
        body["service_uuid"] = None
        body["shared_targets"] = False
    if at_least(req, "3.61") and admin:
        body["cluster_name"] = None
    if at_least(req, "3.63"):
        body["volume_type_id"] = vol.volume_type_id
    if at_least(req, "3.64"):
        body["encryption_key_id"] = None
    if at_least(req, "3.65"):
        body["consumes_quota"] = True
    return body


def volume_summary(req: Request, vol: models.Volume) -> dict:
    return {"id": vol.id, "name": vol.name, "links": links(req, "volumes", vol.id)}


def snapshot(req: Request, snap: models.Snapshot, extended: bool = True) -> dict:
    """A snapshot's view; ``extended`` false for create and update answers, which in
    Cinder lack the ``os-extended-snapshot-attributes`` its extension adds to show
    and detail lists."""
    body = {"id": snap.id, "name": snap.name, "description": snap.description,
            "status": snap.status, "size": snap.size, "volume_id": snap.volume_id,
            "created_at": isotime(snap.created_at), "updated_at": isotime(snap.updated_at),
            "metadata": {m.key: m.value for m in snap.metadata_items}}
    if extended:
        body["os-extended-snapshot-attributes:progress"] = snap.progress
        body["os-extended-snapshot-attributes:project_id"] = snap.project_id
    if at_least(req, "3.14"):
        body["group_snapshot_id"] = snap.group_snapshot_id
    if at_least(req, "3.41"):
        body["user_id"] = snap.user_id
    if at_least(req, "3.65"):
        body["consumes_quota"] = True
    return body


def backup(req: Request, b: models.Backup, dependents: bool = False) -> dict:
    body = {"id": b.id, "name": b.name, "description": b.description,
            "status": b.status, "size": b.size, "volume_id": b.volume_id,
            "snapshot_id": b.snapshot_id, "availability_zone": b.availability_zone,
            "container": b.container, "created_at": isotime(b.created_at),
            "updated_at": isotime(b.updated_at), "data_timestamp": isotime(b.data_timestamp),
            "fail_reason": b.fail_reason, "is_incremental": b.is_incremental,
            "has_dependent_backups": dependents, "object_count": b.object_count,
            "links": links(req, "backups", b.id)}
    if at_least(req, "3.18"):
        body["os-backup-project-attr:project_id"] = b.project_id
    if at_least(req, "3.43"):
        body["metadata"] = b.metadata_json or {}
    if at_least(req, "3.56"):
        body["user_id"] = b.user_id
    if at_least(req, "3.64"):
        body["encryption_key_id"] = None
    return body


def volume_type(req: Request, t: models.VolumeType) -> dict:
    body = {"id": t.id, "name": t.name, "description": t.description,
            "is_public": t.is_public, "os-volume-type-access:is_public": t.is_public,
            "qos_specs_id": t.qos_specs_id}
    if req.context.is_admin or at_least(req, "3.0"):
        specs = {e.key: e.value for e in t.extra_specs}
        if not req.context.is_admin:
            # users see only the specs Cinder marks user visible
            specs = {k: v for k, v in specs.items() if k in (
                "multiattach", "RESKEY:availability_zones", "replication_enabled")}
        body["extra_specs"] = specs
    return body
