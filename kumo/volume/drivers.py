"""Volume backends: the driver interface and its two drivers.

A driver owns the data of the volumes and snapshots of one backend (Cinder's
``volume_driver`` of one ``enabled_backends`` section). Every method is synchronous,
runs in the volume worker (never in a request), and must leave nothing behind when it
raises: a create that fails removes what it wrote. Deletes are idempotent. Sizes are
GiB.

- :class:`FileDriver` (``file``): each volume is a sparse file
  ``<dir>/volume-<id>`` (0600), each snapshot a copy ``snapshot-<id>``; copies are :func:`copy_file`
  (what ``cp --reflink=auto --sparse=always`` does, in process: a reflink on
  btrfs/xfs, a sparse copy elsewhere). Images are written through a per-backend cache
  (``<dir>/image-cache/<image id>-<checksum>``): the first volume from an image
  converts it (a ``kumo_rootfs=tar`` tarball becomes an ext4 filesystem made with
  ``mkfs.ext4 -d``; other images are copied byte for byte) into the cache, and every
  volume from it, the first included, is a copy of the cached file grown to its size
  (``resize2fs`` grows the ext4 filesystem to fill it). The cache may be limited in
  entries and GiB (apparent sizes; Cinder's ``image_volume_cache_max_count`` and
  ``_max_size_gb``): each use refreshes an entry's mtime, and after a new entry the
  least recently used others are evicted until both limits hold (an entry being
  copied from is never evicted: it is held under its key's lock).
- :class:`FakeDriver` (``fake``): keeps sizes in memory only, for tests and scale.

The contract every driver keeps is ``tests/unit/volume/test_driver_contract.py``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Protocol

GiB = 1 << 30


class DriverError(Exception):
    """A backend operation failed (the volume or snapshot goes to ``error``)."""


class VolumeDriver(Protocol):
    """What a backend does. ``name`` is the backend's name."""

    name: str

    def check(self) -> bool:
        """True if the backend can serve (``os-services`` shows it ``up``)."""

    def create(self, volume_id: str, size: int) -> None:
        """A new, zero-filled volume of ``size`` GiB."""

    def delete(self, volume_id: str) -> None:
        """Remove the volume's data (no error if there is none)."""

    def exists(self, volume_id: str) -> bool: ...

    def extend(self, volume_id: str, size: int) -> None:
        """Grow the volume to ``size`` GiB (its data kept)."""

    def clone(self, src_id: str, volume_id: str, size: int) -> None:
        """A new volume of ``size`` GiB holding ``src_id``'s data."""

    def create_snapshot(self, volume_id: str, snapshot_id: str) -> None:
        """A point-in-time copy of the volume's data."""

    def delete_snapshot(self, snapshot_id: str) -> None: ...

    def from_snapshot(self, snapshot_id: str, volume_id: str, size: int) -> None:
        """A new volume of ``size`` GiB holding the snapshot's data."""

    def from_image(self, volume_id: str, size: int, image_path: Path, cache_key: str,
                   rootfs_tar: bool) -> bool:
        """A new volume of ``size`` GiB holding the image (see the module doc); returns
        True if it came from the image cache."""

    def cached(self, cache_key: str) -> bool:
        """True if the image cache holds ``cache_key`` (the next from_image is a hit)."""

    def read_path(self, volume_id: str, snapshot_id: str | None = None) -> Path | None:
        """The file holding a volume's (or a snapshot's) bytes, to read (backups,
        upload to image); None if the driver keeps no data (fake)."""

    def create_from_file(self, volume_id: str, source: Path | None, size: int) -> None:
        """A new volume of ``size`` GiB holding ``source``'s bytes (a migration from
        another backend, a restore); ``source`` None: an empty volume."""

    def write_from(self, volume_id: str, source: Path | None) -> None:
        """Overwrite the volume's data with ``source``'s (a backup restore)."""

    def manageable(self) -> list[tuple[str, int]]:
        """``(name, bytes)`` of the data on the backend that could be brought under
        management (``os-volume-manage``): names a volume of this backend would have
        included (the caller marks those it knows)."""

    def manage_size(self, name: str) -> int:
        """GiB (rounded up) the existing ``name`` would be; DriverError if there is
        no such manageable data."""

    def manage(self, name: str, volume_id: str) -> int:
        """Make the existing ``name`` the data of volume ``volume_id`` (grown to whole
        GiB); returns its size in GiB. DriverError (nothing changed) if it cannot."""


def _run(*cmd: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise DriverError(f"{cmd[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")


#: ``FICLONE`` (linux/fs.h): make ``dst`` share ``src``'s extents (btrfs, xfs...).
FICLONE = 0x40049409


def copy_file(src: Path, dst: Path) -> None:
    """Copy ``src`` to a new ``dst`` (0600) in process, as ``cp --reflink=auto
    --sparse=always`` would: a reflink (``FICLONE``) where the filesystem can, else
    only the data segments (``SEEK_DATA``/``SEEK_HOLE``, ``copy_file_range``), so
    holes stay holes. ``dst`` must not exist; a failed copy leaves nothing."""
    import fcntl

    fd_in = os.open(src, os.O_RDONLY)
    try:
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except BaseException:
        os.close(fd_in)
        raise
    try:
        size = os.fstat(fd_in).st_size
        try:
            fcntl.ioctl(fd_out, FICLONE, fd_in)
            return
        except OSError:
            pass
        os.ftruncate(fd_out, size)
        offset = 0
        while offset < size:
            try:
                start = os.lseek(fd_in, offset, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            end = os.lseek(fd_in, start, os.SEEK_HOLE)
            pos = start
            while pos < end:
                n = os.copy_file_range(fd_in, fd_out, min(end - pos, 64 << 20), pos, pos)
                if n <= 0:
                    raise DriverError(f"copying {src.name} stopped at byte {pos}")
                pos += n
            offset = end
    except BaseException:
        os.close(fd_out)
        fd_out = -1
        dst.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd_in)
        if fd_out >= 0:
            os.close(fd_out)


class FileDriver:
    """Volumes as sparse files under ``root`` (see the module doc)."""

    def __init__(self, name: str, root: Path, image_cache: bool = True,
                 cache_max_count: int = 0, cache_max_size_gb: int = 0):
        self.name = name
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.cache_dir = self.root / "image-cache"
        self.image_cache = image_cache
        #: image cache limits (0: none), see the module doc
        self.cache_max_count = int(cache_max_count or 0)
        self.cache_max_size_gb = int(cache_max_size_gb or 0)
        self._cache_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def _vol(self, volume_id: str) -> Path:
        return self.root / f"volume-{volume_id}"

    def _snap(self, snapshot_id: str) -> Path:
        return self.root / f"snapshot-{snapshot_id}"

    def check(self) -> bool:
        return self.root.is_dir() and os.access(self.root, os.W_OK)

    def exists(self, volume_id: str) -> bool:
        return self._vol(volume_id).exists()

    def create(self, volume_id: str, size: int) -> None:
        path = self._vol(volume_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, size * GiB)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)

    def delete(self, volume_id: str) -> None:
        self._vol(volume_id).unlink(missing_ok=True)

    def extend(self, volume_id: str, size: int) -> None:
        path = self._vol(volume_id)
        if not path.exists():
            raise DriverError(f"volume {volume_id} has no data on backend {self.name}")
        if path.stat().st_size < size * GiB:
            os.truncate(path, size * GiB)

    def _copy_grown(self, src: Path, volume_id: str, size: int, grow_fs: bool = False
                    ) -> None:
        if not src.exists():
            raise DriverError(f"{src.name} has no data on backend {self.name}")
        dst = self._vol(volume_id)
        if dst.exists():
            raise DriverError(f"volume {volume_id} exists on backend {self.name}")
        need = src.stat().st_size
        if need > size * GiB:
            raise DriverError(f"{src.name} needs {-(-need // GiB)} GiB, the volume has "
                              f"{size} GiB")
        copy_file(src, dst)
        try:
            if dst.stat().st_size < size * GiB:
                os.truncate(dst, size * GiB)
                if grow_fs and shutil.which("resize2fs"):
                    # grow the image's filesystem to fill the volume (best effort)
                    subprocess.run(["resize2fs", "-f", str(dst)], capture_output=True,
                                   timeout=600)
        except BaseException:
            dst.unlink(missing_ok=True)
            raise

    def clone(self, src_id: str, volume_id: str, size: int) -> None:
        self._copy_grown(self._vol(src_id), volume_id, size)

    def create_snapshot(self, volume_id: str, snapshot_id: str) -> None:
        src = self._vol(volume_id)
        if not src.exists():
            raise DriverError(f"volume {volume_id} has no data on backend {self.name}")
        copy_file(src, self._snap(snapshot_id))

    def delete_snapshot(self, snapshot_id: str) -> None:
        self._snap(snapshot_id).unlink(missing_ok=True)

    def from_snapshot(self, snapshot_id: str, volume_id: str, size: int) -> None:
        self._copy_grown(self._snap(snapshot_id), volume_id, size)

    def read_path(self, volume_id: str, snapshot_id: str | None = None) -> Path | None:
        path = self._snap(snapshot_id) if snapshot_id else self._vol(volume_id)
        if not path.exists():
            raise DriverError(f"{path.name} has no data on backend {self.name}")
        return path

    def create_from_file(self, volume_id: str, source: Path | None, size: int) -> None:
        if source is None:
            self.create(volume_id, size)
        else:
            self._copy_grown(source, volume_id, size)

    def write_from(self, volume_id: str, source: Path | None) -> None:
        dst = self._vol(volume_id)
        if source is None:
            return
        size = dst.stat().st_size
        tmp = self.root / f".restore-{volume_id}"
        tmp.unlink(missing_ok=True)
        copy_file(source, tmp)
        try:
            if tmp.stat().st_size < size:
                os.truncate(tmp, size)
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)

    # -- manage existing (os-volume-manage) -------------------------------------------
    def _existing(self, name: str) -> Path:
        import re
        import stat as st

        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}", name or "") or \
                name.startswith("snapshot-"):
            raise DriverError(f"{name!r} is not a manageable name on backend {self.name}")
        path = self.root / name
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise DriverError(f"no {name!r} on backend {self.name}") from None
        if not st.S_ISREG(mode):  # never a symlink out of the backend
            raise DriverError(f"{name!r} on backend {self.name} is not a regular file")
        return path

    def manageable(self) -> list[tuple[str, int]]:
        out = []
        for path in sorted(self.root.iterdir()):
            try:
                self._existing(path.name)
            except DriverError:
                continue
            out.append((path.name, os.lstat(path).st_size))
        return out

    def manage_size(self, name: str) -> int:
        return max(1, -(-os.lstat(self._existing(name)).st_size // GiB))

    def manage(self, name: str, volume_id: str) -> int:
        src = self._existing(name)
        dst = self._vol(volume_id)
        size = self.manage_size(name)
        if src != dst:
            if dst.exists():
                raise DriverError(f"volume {volume_id} exists on backend {self.name}")
            os.rename(src, dst)
        os.chmod(dst, 0o600)
        if dst.stat().st_size < size * GiB:
            os.truncate(dst, size * GiB)
        return size

    # -- images -------------------------------------------------------------------
    def from_image(self, volume_id: str, size: int, image_path: Path, cache_key: str,
                   rootfs_tar: bool) -> bool:
        cached = self.cache_dir / cache_key
        with self._lock:
            lock = self._cache_locks.setdefault(cache_key, threading.Lock())
        with lock:  # held through the copy: eviction skips a busy entry
            hit = cached.exists()
            if not hit:
                self._convert(image_path, cached, rootfs_tar)
            now = time.time_ns()  # most recently used (the clock's ns, not the
            os.utime(cached, ns=(now, now))  # filesystem's coarser tick)
            try:
                self._copy_grown(cached, volume_id, size, grow_fs=rootfs_tar)
            finally:
                if not self.image_cache:
                    cached.unlink(missing_ok=True)
        if not hit and self.image_cache:
            self.evict(keep=cache_key)
        return hit

    def evict(self, keep: str | None = None) -> list[str]:
        """Remove the least recently used cache entries (not ``keep``, not one being
        copied from) until the cache is within its limits; returns the keys
        removed."""
        if not (self.cache_max_count or self.cache_max_size_gb):
            return []
        entries = []
        for key in self.cache_entries():
            try:
                st = (self.cache_dir / key).stat()
            except FileNotFoundError:
                continue
            entries.append((st.st_mtime_ns, key, st.st_size))
        entries.sort()
        count, total = len(entries), sum(e[2] for e in entries)
        removed = []
        for _, key, size in entries:
            over = (self.cache_max_count and count > self.cache_max_count) or (
                self.cache_max_size_gb and total > self.cache_max_size_gb * GiB)
            if not over:
                break
            if key == keep:
                continue
            with self._lock:
                lock = self._cache_locks.setdefault(key, threading.Lock())
            if not lock.acquire(blocking=False):
                continue  # in use now
            try:
                (self.cache_dir / key).unlink(missing_ok=True)
            finally:
                lock.release()
            count, total = count - 1, total - size
            removed.append(key)
        return removed

    def _convert(self, image_path: Path, cached: Path, rootfs_tar: bool) -> None:
        """Write the image, as a volume would hold it, to ``cached`` (atomically)."""
        self.cache_dir.mkdir(exist_ok=True, mode=0o700)
        tmp = self.cache_dir / f".tmp-{cached.name}"
        tmp.unlink(missing_ok=True)
        try:
            if rootfs_tar:
                self._tar_to_ext4(image_path, tmp)
            else:
                copy_file(image_path, tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, cached)
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _tar_to_ext4(tarball: Path, out: Path) -> None:
        """An ext4 filesystem image holding the tarball's tree: the smallest whole GiB
        that fits it twice over (so any volume from it is at least that)."""
        with tempfile.TemporaryDirectory(prefix="kumo-rootfs-") as tree:
            _run("tar", "-C", tree, "--numeric-owner", "-xf", str(tarball))
            used = sum(f.stat(follow_symlinks=False).st_size
                       for f in Path(tree).rglob("*"))
            size = max(1, -(-(2 * used + (64 << 20)) // GiB)) * GiB
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.ftruncate(fd, size)
            os.close(fd)
            _run("mkfs.ext4", "-q", "-F", "-L", "kumo-root", "-E",
                 "lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner=0:0",
                 "-d", tree, str(out))

    def cached(self, cache_key: str) -> bool:
        return self.image_cache and (self.cache_dir / cache_key).exists()

    def cache_entries(self) -> list[str]:
        if not self.cache_dir.is_dir():
            return []
        return sorted(p.name for p in self.cache_dir.iterdir() if not p.name.startswith("."))


class FakeDriver:
    """No data: sizes in memory (tests and scale)."""

    def __init__(self, name: str):
        self.name = name
        self._volumes: dict[str, int] = {}
        self._snapshots: dict[str, int] = {}
        self._cache: set[str] = set()
        self._lock = threading.Lock()

    def check(self) -> bool:
        return True

    def exists(self, volume_id: str) -> bool:
        return volume_id in self._volumes

    def create(self, volume_id: str, size: int) -> None:
        with self._lock:
            if volume_id in self._volumes:
                raise DriverError(f"volume {volume_id} exists")
            self._volumes[volume_id] = size

    def delete(self, volume_id: str) -> None:
        self._volumes.pop(volume_id, None)

    def extend(self, volume_id: str, size: int) -> None:
        if volume_id not in self._volumes:
            raise DriverError(f"volume {volume_id} has no data")
        self._volumes[volume_id] = max(size, self._volumes[volume_id])

    def clone(self, src_id: str, volume_id: str, size: int) -> None:
        if src_id not in self._volumes:
            raise DriverError(f"volume {src_id} has no data")
        self.create(volume_id, size)

    def create_snapshot(self, volume_id: str, snapshot_id: str) -> None:
        if volume_id not in self._volumes:
            raise DriverError(f"volume {volume_id} has no data")
        self._snapshots[snapshot_id] = self._volumes[volume_id]

    def delete_snapshot(self, snapshot_id: str) -> None:
        self._snapshots.pop(snapshot_id, None)

    def from_snapshot(self, snapshot_id: str, volume_id: str, size: int) -> None:
        if snapshot_id not in self._snapshots:
            raise DriverError(f"snapshot {snapshot_id} has no data")
        self.create(volume_id, size)

    def cached(self, cache_key: str) -> bool:
        return cache_key in self._cache

    def from_image(self, volume_id: str, size: int, image_path: Path, cache_key: str,
                   rootfs_tar: bool) -> bool:
        hit = cache_key in self._cache
        self._cache.add(cache_key)
        self.create(volume_id, size)
        return hit

    def read_path(self, volume_id: str, snapshot_id: str | None = None) -> Path | None:
        return None

    def create_from_file(self, volume_id: str, source: Path | None, size: int) -> None:
        self.create(volume_id, size)

    def write_from(self, volume_id: str, source: Path | None) -> None:
        if volume_id not in self._volumes:
            raise DriverError(f"volume {volume_id} has no data")

    def manageable(self) -> list[tuple[str, int]]:
        return []

    def manage_size(self, name: str) -> int:
        raise DriverError(f"no {name!r} on backend {self.name} (fake: nothing to manage)")

    def manage(self, name: str, volume_id: str) -> int:
        return self.manage_size(name)


def make_driver(name: str, kind: str, root: Path, image_cache: bool = True,
                cache_max_count: int = 0, cache_max_size_gb: int = 0):
    """The driver ``kind`` (``file`` or ``fake``) for backend ``name`` (the cache
    limits: see :class:`FileDriver`)."""
    if kind == "file":
        return FileDriver(name, root / name, image_cache, cache_max_count,
                          cache_max_size_gb)
    if kind == "fake":
        return FakeDriver(name)
    raise ValueError(f"unknown volume driver {kind!r} (file, fake)")
