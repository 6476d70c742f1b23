"""Rendering images and members as the Image API v2 shows them."""
from __future__ import annotations

from kumo.common.timeutils import isotime
from kumo.image import models
from kumo.image.store import STORE_ID

#: Headers Glance adds to image create (and show) replies, which openstacksdk reads.
IMPORT_HEADERS = {"OpenStack-image-import-methods": "glance-direct",
                  "OpenStack-image-store-ids": STORE_ID}


def _time(value) -> str | None:
    return isotime(value, subsecond=False)


def image(img: models.Image) -> dict:
    """An image: every core attribute (null when unset), ``self``, ``file``,
    ``schema``, and the custom properties at the top level."""
    body = {p.name: p.value for p in img.properties}
    body.update({
        "id": img.id, "name": img.name, "status": img.status,
        "visibility": img.visibility, "protected": img.protected,
        "os_hidden": img.os_hidden, "checksum": img.checksum,
        "os_hash_algo": img.os_hash_algo, "os_hash_value": img.os_hash_value,
        "owner": img.owner, "size": img.size, "virtual_size": img.virtual_size,
        "min_ram": img.min_ram, "min_disk": img.min_disk,
        "disk_format": img.disk_format, "container_format": img.container_format,
        "created_at": _time(img.created_at), "updated_at": _time(img.updated_at),
        "tags": sorted(t.value for t in img.tags),
        "self": f"/v2/images/{img.id}", "file": f"/v2/images/{img.id}/file",
        "schema": "/v2/schemas/image",
    })
    if img.status in ("active", "deactivated"):
        body["stores"] = STORE_ID  # where the data is, once uploaded or imported
    return body


def core(img: models.Image) -> dict:
    """The core attributes a JSON patch starts from."""
    return {"name": img.name, "visibility": img.visibility, "protected": img.protected,
            "os_hidden": img.os_hidden, "owner": img.owner, "disk_format": img.disk_format,
            "container_format": img.container_format, "min_disk": img.min_disk,
            "min_ram": img.min_ram, "tags": sorted(t.value for t in img.tags)}


def member(m: models.ImageMember) -> dict:
    return {"image_id": m.image_id, "member_id": m.member_id, "status": m.status,
            "created_at": _time(m.created_at), "updated_at": _time(m.updated_at),
            "schema": "/v2/schemas/member"}


def target(img: models.Image, **extra) -> dict:
    """The policy target of an image."""
    return {"owner": img.owner or "", "project_id": img.owner or "",
            "visibility": img.visibility, **extra}
