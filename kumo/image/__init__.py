"""The Image service (Glance v2) under ``/image``.

Rootfs convention: the namespace compute driver boots an image whose data is a root
filesystem tarball registered with ``container_format=bare``, ``disk_format=raw`` and
the custom property ``kumo_rootfs=tar`` (the ``cirros`` bootstrap image is one). Disk
images (``qcow2``, ``raw`` without that property) are recorded as uploaded.
"""
