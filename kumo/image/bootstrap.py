"""First-start images: the public ``cirros`` image (a busybox-static rootfs tarball built
locally by :mod:`kumo.image.cirros`), registered once; later starts reuse it."""
from __future__ import annotations

import logging
from pathlib import Path

from kumo.common.exceptions import KumoError
from kumo.image import cirros
from kumo.image.metadefs import load_definitions

LOG = logging.getLogger(__name__)


def bootstrap(cloud) -> None:
    """Load the metadata definitions not loaded yet (:func:`kumo.image.metadefs.
    load_definitions`, as ``glance-manage db_load_metadefs``), then register ``cirros``
    unless an image of that name exists. Without busybox-static or dropbear-bin the
    image is skipped with a warning (the API still starts)."""
    images = cloud.images
    loaded = load_definitions(cloud.db)
    if loaded:
        LOG.info("loaded metadata definition namespaces: %s", ", ".join(loaded))
    if images.find(cirros.IMAGE_NAME):
        return
    try:
        tarball = cirros.ensure_rootfs(Path(cloud.settings.state_dir) / "cache")
    except (cirros.BusyboxNotFound, cirros.DropbearNotFound) as e:
        LOG.warning("no cirros image: %s (scripts/install-system-deps.sh installs "
                    "busybox-static and dropbear-bin)", e)
        return
    try:
        images.create_from_file(
            tarball, cirros.IMAGE_NAME, visibility="public", disk_format=cirros.DISK_FORMAT,
            container_format=cirros.CONTAINER_FORMAT,
            properties={**cirros.IMAGE_PROPERTIES, "min_disk": cirros.MIN_DISK_GB,
                        "min_ram": cirros.MIN_RAM_MB})
    except KumoError as e:  # e.g. an image store quota smaller than the image
        LOG.warning("no cirros image: %s", e.message)
