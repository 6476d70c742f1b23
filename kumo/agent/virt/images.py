"""The per-host image cache of the namespace compute driver.

``<cache>/<image-id>`` holds the downloaded image data (checksum verified, written
atomically) and ``<cache>/<image-id>.rootfs/`` its unpacked root filesystem (for
``kumo_rootfs=tar`` images: a gzip'd or plain tar), used read-only as the lower layer of
every instance's overlay (or copied when overlayfs is unavailable). Each image is
fetched and unpacked once, under a per-image lock.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from kumo.agent.virt import VirtError

#: ``fetch(image) -> iterable of bytes``: the image's data (Glance download).
Fetcher = Callable[[dict], Iterable[bytes]]


class ImageCache:
    """Downloads and unpacks images under ``root``; ``fetch`` streams an image's data."""

    def __init__(self, root: str | Path, fetch: Fetcher):
        self.root = Path(root)
        self.fetch = fetch
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, image_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(image_id, threading.Lock())

    def rootfs(self, image: dict) -> Path:
        """The unpacked root filesystem of ``image`` (the contract's ``image`` dict),
        downloading and unpacking it on first use. :class:`VirtError` for images that
        are not rootfs tarballs, checksum mismatches and broken archives."""
        image_id = str(image.get("id") or "")
        if not image_id or "/" in image_id or image_id.startswith("."):
            raise VirtError(f"invalid image id {image_id!r}")
        if image.get("kumo_rootfs") != "tar":
            raise VirtError(
                f"image {image_id} is not a root filesystem tarball (property "
                f"kumo_rootfs=tar); the namespace driver cannot boot "
                f"{image.get('disk_format') or 'disk'} images")
        base = self.root / f"{image_id}.rootfs"
        with self._lock(image_id):
            if (base / ".kumo-complete").exists():
                return base
            data = self._download(image)
            tmp = self.root / f".{image_id}.rootfs.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            proc = subprocess.run(
                ["tar", "-x", "-p", "--numeric-owner", *(["-z"] if _gzip(data) else []),
                 "-f", str(data), "-C", str(tmp)],
                capture_output=True, text=True, timeout=300)
            if proc.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                raise VirtError(f"image {image_id}: cannot unpack: "
                                f"{proc.stderr.strip()[:300]}")
            if not (tmp / "sbin" / "init").exists() and not (tmp / "sbin" / "init").is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
                raise VirtError(f"image {image_id}: no /sbin/init in the root filesystem")
            (tmp / ".kumo-complete").touch()
            shutil.rmtree(base, ignore_errors=True)
            os.rename(tmp, base)
            return base

    def _download(self, image: dict) -> Path:
        image_id = image["id"]
        dest = self.root / image_id
        checksum = (image.get("checksum") or "").lower() or None
        if dest.is_file() and (checksum is None or _md5(dest) == checksum):
            return dest
        self.root.mkdir(parents=True, exist_ok=True)
        part = self.root / f".{image_id}.part"
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            with open(part, "wb") as f:
                for chunk in self.fetch(image):
                    md5.update(chunk)
                    f.write(chunk)
        except VirtError:
            part.unlink(missing_ok=True)
            raise
        except Exception:
            part.unlink(missing_ok=True)
            raise  # transient (controller unavailable): retried
        if checksum is not None and md5.hexdigest() != checksum:
            part.unlink(missing_ok=True)
            raise VirtError(f"image {image_id}: checksum mismatch (expected {checksum}, "
                            f"got {md5.hexdigest()})")
        os.rename(part, dest)
        return dest

    def remove(self, image_id: str) -> None:
        """Forget an image (data and unpacked tree)."""
        with self._lock(image_id):
            (self.root / image_id).unlink(missing_ok=True)
            shutil.rmtree(self.root / f"{image_id}.rootfs", ignore_errors=True)


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"
