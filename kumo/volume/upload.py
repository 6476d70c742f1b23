"""``os-volume_upload_image`` (Block Storage API v3 "Upload volume to image"): a new
Glance image (``queued``, owned by the volume's project) gets the volume's bytes from
the worker (the volume is ``uploading`` meanwhile, then back to its status). A failed
upload deletes the image and puts the volume back."""
from __future__ import annotations

import logging

from kumo.common.timeutils import isotime
from kumo.volume import messages as msgs
from kumo.volume import models
from kumo.volume.errors import invalid_volume

LOG = logging.getLogger(__name__)


def upload_to_image(cloud, ctx, volume_id: str, arg: dict, visibility: str) -> dict:
    from kumo.volume.schemas import as_bool

    manager = cloud.volumes
    force = as_bool(arg.get("force", False))
    with manager.write() as s:
        vol = manager.volumes.get(ctx, volume_id, s)
        ok = ("available", "in-use") if force else ("available",)
        if vol.status not in ok:
            raise invalid_volume(f"Volume {vol.id} status must be available or in-use "
                                 f"(with force), but current status is: {vol.status}.")
        previous = vol.status
        image = cloud.images.create(None, {
            "name": arg["image_name"], "owner": vol.project_id, "visibility": visibility,
            "disk_format": arg.get("disk_format", "raw"),
            "container_format": arg.get("container_format", "bare"),
            "protected": as_bool(arg.get("protected", False))})
        vol.status = "uploading"
        _, driver = manager.backend_of(vol.host)
        body = {"id": vol.id, "updated_at": isotime(vol.updated_at), "status": "uploading",
                "display_description": vol.description, "size": vol.size,
                "volume_type": {"id": vol.volume_type.id, "name": vol.volume_type.name},
                "image_id": image.id, "container_format": image.container_format,
                "disk_format": image.disk_format, "image_name": image.name,
                "visibility": visibility, "protected": image.protected}
    image_id = image.id

    def step():
        path = driver.read_path(volume_id)

        def chunks():
            if path is None:
                return
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk
        cloud.images.upload(None, image_id, chunks())
        manager.volumes._set(volume_id, status=previous)

    def failed(e):
        try:
            cloud.images.delete(None, image_id)
        except Exception:
            LOG.exception("removing the image of a failed upload failed")
        manager.messages.record(msgs.COPY_VOLUME_TO_IMAGE, msgs.FAILED_TO_UPLOAD_VOLUME,
                                resource_uuid=volume_id)
        manager.volumes._set(volume_id, status=previous)
    manager.backup_worker.submit(step, failed)
    return body


__all__ = ["upload_to_image", "models"]
