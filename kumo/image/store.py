"""The local filesystem store of image data (Glance's ``file`` store).

Layout under ``root`` (``<state_dir>/images``)::

    <id>            the data of an active (or deactivated) image
    staging/<id>    data staged for interoperable import (``glance-direct``)
    .tmp/           uploads in progress; renamed into place only when complete

Writes stream chunk by chunk to a temporary file (never holding the image in memory),
hashing as they go; a failure at any point (client disconnect, size limit, checksum
mismatch) removes the temporary file, so no partial data is ever visible.
"""
from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from kumo.common import exceptions as exc

CHUNK = 1 << 16
STORE_ID = "file"


class StorageQuotaFull(exc.PayloadTooLarge):
    """Glance answers 413 when an upload would exceed the storage quota."""

    message = ("Denying attempt to upload image because it exceeds the quota: "
               "%(detail)s")


@dataclass
class Written:
    """What :meth:`FileStore.write` stored: the path (temporary until committed),
    size in bytes, md5 hex digest (Glance's ``checksum``) and sha512 hex digest
    (``os_hash_value``)."""

    path: Path
    size: int
    checksum: str
    os_hash_value: str


class FileStore:
    """Image data on the local filesystem under ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.tmp = self.root / ".tmp"
        self.staging = self.root / "staging"
        for path in (self.root, self.tmp, self.staging):
            path.mkdir(parents=True, exist_ok=True)
        for leftover in self.tmp.iterdir():  # uploads cut short by a crash
            leftover.unlink(missing_ok=True)

    def path(self, image_id: str) -> Path:
        return self.root / image_id

    def staged_path(self, image_id: str) -> Path:
        return self.staging / image_id

    def write(self, chunks: Iterable[bytes], limit: int | None = None,
              expected_size: int | None = None, expected_md5: str | None = None) -> Written:
        """Stream ``chunks`` into a new temporary file.

        ``limit``: the most bytes the store may take (413 :class:`StorageQuotaFull`
        beyond it); ``expected_size``/``expected_md5``: what the client announced
        (``Content-Length``/``Content-MD5``); a mismatch is a 400. Any error removes
        the file. Call :meth:`commit` (or :meth:`discard`) with the result.
        """
        tmp = self.tmp / uuid.uuid4().hex
        md5, sha512, size = hashlib.md5(usedforsecurity=False), hashlib.sha512(), 0
        try:
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise StorageQuotaFull(
                            detail=f"the store has {max(limit, 0)} bytes left")
                    md5.update(chunk)
                    sha512.update(chunk)
                    f.write(chunk)
            if expected_size is not None and size != expected_size:
                raise exc.BadRequest(f"Received {size} bytes of image data where "
                                     f"{expected_size} were announced.")
            if expected_md5 and expected_md5.lower() != md5.hexdigest():
                raise exc.BadRequest("The image data does not match the Content-MD5 "
                                     "header (checksum mismatch).")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Written(tmp, size, md5.hexdigest(), sha512.hexdigest())

    def commit(self, written: Written, image_id: str, staged: bool = False) -> Path:
        """Move written data into place as ``image_id``'s data (or staged data)."""
        target = self.staged_path(image_id) if staged else self.path(image_id)
        os.replace(written.path, target)
        return target

    def discard(self, written: Written) -> None:
        written.path.unlink(missing_ok=True)

    def hash_file(self, path: Path) -> Written:
        """Size and hashes of an existing file (a staged image being imported)."""
        md5, sha512, size = hashlib.md5(usedforsecurity=False), hashlib.sha512(), 0
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                size += len(chunk)
                md5.update(chunk)
                sha512.update(chunk)
        return Written(path, size, md5.hexdigest(), sha512.hexdigest())

    def read(self, image_id: str, start: int = 0, end: int | None = None,
             chunk_size: int = CHUNK) -> Iterator[bytes]:
        """The bytes ``start..end`` (inclusive; ``end=None``: to the end) of the
        image's data, chunk by chunk. The file is opened at once (404 if it is gone),
        so a deletion during the download does not cut it short."""
        try:
            f = open(self.path(image_id), "rb")
        except FileNotFoundError:
            raise exc.NotFound(f"Image {image_id} has no data in the store.") from None
        return self._chunks(f, start, end, chunk_size)

    @staticmethod
    def _chunks(f, start: int, end: int | None, chunk_size: int) -> Iterator[bytes]:
        with f:
            f.seek(start)
            left = None if end is None else end - start + 1
            while left is None or left > 0:
                chunk = f.read(chunk_size if left is None else min(chunk_size, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def delete(self, image_id: str) -> None:
        """Remove the image's data and staged data, if any."""
        self.path(image_id).unlink(missing_ok=True)
        self.staged_path(image_id).unlink(missing_ok=True)
