"""``os-volume_upload_image``: the volume's bytes become a Glance image, the volume
returns to ``available``, and a volume made from that image holds the same bytes."""
from __future__ import annotations

import hashlib

from tests.api.volume.conftest import assert_fault, wait_for, wait_status


def test_upload_to_image_and_back(cloud, cinder, demo, make, unique):
    vol = make(demo, "volumes", {"size": 1})
    path = cloud.state_dir / "volumes" / "file-1" / f"volume-{vol['id']}"
    with path.open("r+b") as f:
        f.seek(1 << 20)
        f.write(b"uploaded-bytes")
    name = unique("fromvol")
    resp = cinder.request(demo, "POST", f"/volumes/{vol['id']}/action", json={
        "os-volume_upload_image": {"image_name": name, "disk_format": "raw",
                                   "container_format": "bare"}})
    assert resp.status_code == 202, resp.text
    body = resp.json()["os-volume_upload_image"]
    assert body["image_name"] == name and body["status"] == "uploading"
    image_id = body["image_id"]
    try:
        image = wait_for(lambda: (i := demo.image.get_image(image_id)).status == "active"
                         and i, 120)
        assert image and image.size == 1 << 30
        digest = hashlib.md5(path.read_bytes()).hexdigest()
        assert image.checksum == digest
        wait_status(cinder, demo, "volumes", vol["id"], "available")
        back = make(demo, "volumes", {"size": 1, "imageRef": image_id})
        with (cloud.state_dir / "volumes" / "file-1" / f"volume-{back['id']}").open(
                "rb") as f:
            f.seek(1 << 20)
            assert f.read(14) == b"uploaded-bytes"
    finally:
        demo.image.delete_image(image_id, ignore_missing=True)
    # an in-use volume needs force; public images are for admins
    assert_fault(cinder.request(demo, "POST", f"/volumes/{vol['id']}/action", json={
        "os-volume_upload_image": {"image_name": name, "visibility": "public"}},
        version="3.1"), 403, "forbidden")
