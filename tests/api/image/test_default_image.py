"""The default image `kumo up` registers: cirros, a bootable rootfs tarball."""
import io
import shutil
import tarfile

import pytest


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox-static not installed")
def test_cirros_is_registered_public_and_bootable(demo):
    images = list(demo.image.images(name="cirros"))
    assert len(images) == 1
    image = images[0]
    assert image.status == "active"
    assert image.visibility == "public"
    assert (image.container_format, image.disk_format) == ("bare", "raw")
    assert image.properties["kumo_rootfs"] == "tar"
    data = demo.image.download_image(image).content
    assert len(data) == image.size
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = set(tar.getnames())
    assert {"sbin/init", "bin/busybox"} <= {n.lstrip("./") for n in names}
