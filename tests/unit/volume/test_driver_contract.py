"""The contract every volume driver keeps (kumo/volume/drivers.py): create, exists,
extend, clone, snapshot and volume from snapshot, volume from an image (through the
cache: the second is a hit), create from a file, restore over a volume, idempotent
deletes, and a failing operation leaving nothing behind. Data checks apply to drivers
that keep data (``read_path`` not None).

Parametrized over ``file`` (in a temporary directory; images: a raw file and, with
mkfs.ext4 and tar present, a rootfs tarball) and ``fake``."""
from __future__ import annotations

import io
import shutil
import tarfile
import uuid

import pytest

from kumo.volume import drivers
from kumo.volume.drivers import GiB, DriverError


@pytest.fixture(params=["file", "fake"])
def driver(request, tmp_path):
    return drivers.make_driver("b1", request.param, tmp_path)


def _id() -> str:
    return str(uuid.uuid4())


def _poke(driver, vid: str, offset: int, data: bytes) -> None:
    path = driver.read_path(vid)
    if path is not None:
        with path.open("r+b") as f:
            f.seek(offset)
            f.write(data)


def _peek(driver, vid: str, offset: int, n: int, snapshot: str | None = None):
    path = driver.read_path(vid, snapshot)
    if path is None:
        return None
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(n)


def test_create_extend_delete(driver):
    vid = _id()
    assert driver.check()
    driver.create(vid, 1)
    assert driver.exists(vid)
    with pytest.raises((DriverError, FileExistsError)):
        driver.create(vid, 1)
    path = driver.read_path(vid)
    if path is not None:
        assert path.stat().st_size == GiB and path.stat().st_mode & 0o777 == 0o600
        assert path.stat().st_blocks == 0
    _poke(driver, vid, 100, b"abc")
    driver.extend(vid, 3)
    if path is not None:
        assert path.stat().st_size == 3 * GiB
    assert _peek(driver, vid, 100, 3) in (b"abc", None)
    driver.delete(vid)
    driver.delete(vid)  # idempotent
    assert not driver.exists(vid)
    with pytest.raises(DriverError):
        driver.extend(vid, 4)


def test_clone_and_snapshots_keep_their_data(driver):
    src, snap, clone, restored = _id(), _id(), _id(), _id()
    driver.create(src, 1)
    _poke(driver, src, 5000, b"before")
    driver.create_snapshot(src, snap)
    _poke(driver, src, 5000, b"after!")
    driver.clone(src, clone, 2)
    driver.from_snapshot(snap, restored, 1)
    assert _peek(driver, restored, 5000, 6) in (b"before", None)
    assert _peek(driver, clone, 5000, 6) in (b"after!", None)
    assert _peek(driver, src, 5000, 6, snapshot=snap) in (b"before", None)
    path = driver.read_path(clone)
    if path is not None:
        assert path.stat().st_size == 2 * GiB
        assert path.stat().st_blocks * 512 < 1 << 20  # the copy stayed sparse
        assert path.stat().st_mode & 0o777 == 0o600
    # write_from puts the snapshot's bytes back over the volume (a restore)
    driver.write_from(src, driver.read_path(src, snap))
    assert _peek(driver, src, 5000, 6) in (b"before", None)
    driver.delete_snapshot(snap)
    driver.delete_snapshot(snap)
    with pytest.raises(DriverError):
        driver.from_snapshot(snap, _id(), 1)
    with pytest.raises(DriverError):
        driver.clone(_id(), _id(), 1)
    if driver.read_path(clone) is not None:  # data never fits a smaller volume
        small = _id()
        with pytest.raises(DriverError):
            driver.clone(clone, small, 1)
        assert not driver.exists(small)
    for vid in (src, clone, restored):
        driver.delete(vid)


def test_failed_operations_leave_nothing(driver, tmp_path):
    missing = _id()
    target = _id()
    with pytest.raises(DriverError):
        driver.clone(missing, target, 1)
    assert not driver.exists(target)
    with pytest.raises(DriverError):
        driver.create_snapshot(missing, _id())
    if isinstance(driver, drivers.FileDriver):
        leftovers = [p.name for p in driver.root.iterdir() if p.name != "image-cache"]
        assert leftovers == []


def test_from_raw_image_through_the_cache(driver, tmp_path):
    image = tmp_path / "image.raw"
    image.write_bytes(b"RAW-IMAGE" + bytes(1 << 20))
    first, second = _id(), _id()
    assert driver.from_image(first, 1, image, "img-1-abc", rootfs_tar=False) is False
    assert driver.from_image(second, 2, image, "img-1-abc", rootfs_tar=False) is True
    assert _peek(driver, first, 0, 9) in (b"RAW-IMAGE", None)
    assert _peek(driver, second, 0, 9) in (b"RAW-IMAGE", None)
    path = driver.read_path(second)
    if path is not None:
        assert path.stat().st_size == 2 * GiB
    driver.create_from_file(third := _id(), driver.read_path(first), 1)
    assert _peek(driver, third, 0, 9) in (b"RAW-IMAGE", None)
    for vid in (first, second, third):
        driver.delete(vid)


@pytest.mark.skipif(not (shutil.which("mkfs.ext4") and shutil.which("tar")),
                    reason="needs mkfs.ext4 and tar")
def test_rootfs_tarball_becomes_ext4(tmp_path):
    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as tar:
        data = b"#!/bin/sh\necho hi\n"
        info = tarfile.TarInfo("sbin/init")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    driver = drivers.FileDriver("b1", tmp_path / "vols")
    vid = _id()
    assert driver.from_image(vid, 1, tarball, "img-2-def", rootfs_tar=True) is False
    with driver.read_path(vid).open("rb") as f:
        f.seek(1080)
        assert f.read(2) == b"\x53\xef"
    assert driver.cache_entries() == ["img-2-def"]
    # a bad tarball fails and leaves no cache entry and no volume
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a tarball")
    other = _id()
    with pytest.raises(DriverError):
        driver.from_image(other, 1, bad, "img-3-bad", rootfs_tar=True)
    assert not driver.exists(other) and driver.cache_entries() == ["img-2-def"]


def test_image_cache_lru_limits(tmp_path):
    """The file driver's image cache keeps at most ``cache_max_count`` entries and
    ``cache_max_size_gb`` GiB: the least recently used go first (a hit counts as a
    use), the entry just made stays, and evicted images are converted again."""
    driver = drivers.FileDriver("b1", tmp_path / "vols", cache_max_count=2)
    images = {}
    for name in ("a", "b", "c"):
        images[name] = tmp_path / f"{name}.raw"
        images[name].write_bytes(name.encode() * 4096)
    made = []

    def use(name: str) -> bool:
        made.append(_id())
        return driver.from_image(made[-1], 1, images[name], f"img-{name}",
                                 rootfs_tar=False)
    assert use("a") is False and use("b") is False
    assert use("a") is True  # "a" is now the most recently used
    os_times = {k: (driver.cache_dir / k).stat().st_mtime_ns
                for k in driver.cache_entries()}
    assert os_times["img-a"] >= os_times["img-b"]
    assert use("c") is False
    assert driver.cache_entries() == ["img-a", "img-c"]  # "b" evicted (LRU)
    assert use("a") is True and use("b") is False  # b converted again; c evicted
    assert driver.cache_entries() == ["img-a", "img-b"]
    assert _peek(driver, made[-1], 0, 1) == b"b"

    # by size: 1 GiB apparent each with a 1 GiB limit keeps only the newest
    sized = drivers.FileDriver("b2", tmp_path / "vols2", cache_max_size_gb=1)
    big = tmp_path / "big.raw"
    with big.open("wb") as f:
        f.truncate(700 << 20)
    for key in ("img-x", "img-y"):
        sized.from_image(_id(), 1, big, key, rootfs_tar=False)
    assert sized.cache_entries() == ["img-y"]
    # no limits: nothing evicted
    plain = drivers.FileDriver("b3", tmp_path / "vols3")
    for key in ("img-1", "img-2", "img-3"):
        plain.from_image(_id(), 1, images["a"], key, rootfs_tar=False)
    assert plain.cache_entries() == ["img-1", "img-2", "img-3"]
