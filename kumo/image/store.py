"""The local filesystem store of image data (Glance's ``file`` store).

Layout under ``root`` (the ``image_store_dir`` setting, default ``<state_dir>/images``;
several API processes share one directory, on a shared filesystem across machines)::

    <id>            the data of an active (or deactivated) image
    staging/<id>    data staged for interoperable import (``glance-direct``)
    .tmp/           uploads in progress; renamed into place only when complete

Writes go chunk by chunk (a :class:`Writer`, fed by the API edge as the body arrives)
to a temporary file (never holding the image in memory, opened by the first write),
hashing as they go; a failure at any point (client disconnect, size limit, checksum
mismatch) removes the temporary file, so no partial data is ever visible.

A process starting removes only *stale* temporary files (untouched for
:data:`STALE_TMP_S`: left by a process that crashed mid-upload), never those of uploads
another process sharing the store is writing (each write touches its file, and an upload
idle past ``body_idle_timeout_s`` is aborted long before).
"""
from __future__ import annotations

import errno
import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from kumo.common import exceptions as exc

CHUNK = 1 << 16
STORE_ID = "file"
#: Age (s since the last write) past which a temporary upload file is a crash's
#: leftover that a starting process removes.
STALE_TMP_S = 3600.0


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


class StorageFull(exc.PayloadTooLarge):
    """The filesystem holding the store is full: 413, as Glance's ``StorageFull``."""

    message = "Image storage media is full: %(detail)s"


class Writer:
    """One temporary file being written: :meth:`write` hashes (md5 for Glance's
    ``checksum``, sha512 for ``os_hash_value``) and appends a chunk, :meth:`close`
    checks the announced size and md5 and returns the :class:`Written`, :meth:`abort`
    removes the file. Any error from :meth:`write` or :meth:`close` has already
    removed it. Not thread-safe: one call at a time."""

    def __init__(self, path: Path, limit: int | None, expected_size: int | None,
                 expected_md5: str | None):
        self.path = path
        self.limit = limit
        self.expected_size = expected_size
        self.expected_md5 = expected_md5
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha512 = hashlib.sha512()
        self._file = None  # opened by the first write: a stalled upload holds no file

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``: 413 past the store's limit, 400 past the announced size
        (:class:`StorageFull` 413 when the disk is full)."""
        try:
            self.size += len(chunk)
            if self.limit is not None and self.size > self.limit:
                raise StorageQuotaFull(
                    detail=f"the store has {max(self.limit, 0)} bytes left")
            if self.expected_size is not None and self.size > self.expected_size:
                raise exc.BadRequest(f"Received more than the {self.expected_size} "
                                     "bytes of image data announced.")
            self._md5.update(chunk)
            self._sha512.update(chunk)
            try:
                if self._file is None:
                    self._file = open(self.path, "wb")
                self._file.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                raise StorageFull(detail=str(e)) from None
        except BaseException:
            self.abort()
            raise

    def close(self) -> Written:
        """Finish the file; 400 if the size or md5 differs from what was announced."""
        try:
            if self._file is None:
                self._file = open(self.path, "wb")
            self._file.close()
            if self.expected_size is not None and self.size != self.expected_size:
                raise exc.BadRequest(f"Received {self.size} bytes of image data where "
                                     f"{self.expected_size} were announced.")
            md5 = self._md5.hexdigest()
            if self.expected_md5 and self.expected_md5.lower() != md5:
                raise exc.BadRequest("The image data does not match the Content-MD5 "
                                     "header (checksum mismatch).")
        except BaseException:
            self.abort()
            raise
        return Written(self.path, self.size, md5, self._sha512.hexdigest())

    def abort(self) -> None:
        """Close and remove the file (idempotent)."""
        try:
            if self._file is not None:
                self._file.close()
        finally:
            self.path.unlink(missing_ok=True)


class FileStore:
    """Image data on the local filesystem under ``root``."""

    def __init__(self, root: str | Path, stale_tmp_s: float = STALE_TMP_S):
        self.root = Path(root)
        self.tmp = self.root / ".tmp"
        self.staging = self.root / "staging"
        for path in (self.root, self.tmp, self.staging):
            path.mkdir(parents=True, exist_ok=True)
        self.remove_stale(stale_tmp_s)

    def remove_stale(self, older_than_s: float = STALE_TMP_S) -> int:
        """Remove temporary files not written for ``older_than_s`` seconds (uploads cut
        short by a crash); uploads in progress, in this process or another sharing the
        store, are left alone. Returns how many were removed."""
        horizon = time.time() - older_than_s
        removed = 0
        for leftover in self.tmp.iterdir():
            try:
                if leftover.stat().st_mtime < horizon:
                    leftover.unlink()
                    removed += 1
            except FileNotFoundError:  # finished or removed meanwhile
                pass
        return removed

    def path(self, image_id: str) -> Path:
        return self.root / image_id

    def staged_path(self, image_id: str) -> Path:
        return self.staging / image_id

    def writer(self, limit: int | None = None, expected_size: int | None = None,
               expected_md5: str | None = None) -> Writer:
        """A :class:`Writer` into a new temporary file, fed chunk by chunk (the API
        edge pushes an upload's body into it as it arrives).

        ``limit``: the most bytes the store may take (413 :class:`StorageQuotaFull`
        beyond it); ``expected_size``/``expected_md5``: what the client announced
        (``Content-Length``/``Content-MD5``); a mismatch is a 400. Any error removes
        the file. Call :meth:`commit` (or :meth:`discard`) with what
        :meth:`Writer.close` returns."""
        return Writer(self.tmp / uuid.uuid4().hex, limit, expected_size, expected_md5)

    def write(self, chunks: Iterable[bytes], limit: int | None = None,
              expected_size: int | None = None, expected_md5: str | None = None) -> Written:
        """Stream ``chunks`` into a new temporary file (:meth:`writer` for an iterable);
        errors as :meth:`writer`."""
        w = self.writer(limit, expected_size, expected_md5)
        try:
            for chunk in chunks:
                w.write(chunk)
            return w.close()
        except BaseException:
            w.abort()
            raise

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
