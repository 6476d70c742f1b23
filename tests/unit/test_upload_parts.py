"""The pieces a streamed upload is made of: the store's :class:`Writer` (pushed chunk by
chunk, no file until the first write, nothing left after an error or abort) and the
per-project :class:`UploadSlots`."""
from __future__ import annotations

import hashlib

import pytest

from kumo.common import exceptions as exc
from kumo.image.manager import UploadLimitExceeded, UploadSlots
from kumo.image.store import FileStore, StorageQuotaFull


def test_writer_hashes_and_opens_the_file_on_first_write(tmp_path):
    store = FileStore(tmp_path)
    w = store.writer(expected_size=6, expected_md5=hashlib.md5(b"abcdef").hexdigest())
    assert not w.path.exists()  # a stalled upload holds no file
    w.write(b"abc")
    w.write(b"def")
    written = w.close()
    assert written.size == 6
    assert written.os_hash_value == hashlib.sha512(b"abcdef").hexdigest()
    store.commit(written, "img")
    assert (tmp_path / "img").read_bytes() == b"abcdef"
    assert not list(store.tmp.iterdir())


def test_writer_empty_body_is_an_empty_file(tmp_path):
    written = FileStore(tmp_path).writer(expected_size=0).close()
    assert written.size == 0 and written.path.read_bytes() == b""


@pytest.mark.parametrize("kwargs, chunks, error", [
    ({"limit": 4}, [b"abc", b"de"], StorageQuotaFull),
    ({"expected_size": 4}, [b"abc", b"de"], exc.BadRequest),
])
def test_writer_errors_remove_the_file(tmp_path, kwargs, chunks, error):
    store = FileStore(tmp_path)
    w = store.writer(**kwargs)
    with pytest.raises(error):
        for chunk in chunks:
            w.write(chunk)
    assert not list(store.tmp.iterdir())
    w.abort()  # idempotent


@pytest.mark.parametrize("kwargs", [{"expected_size": 9}, {"expected_md5": "0" * 32}])
def test_writer_close_checks_what_was_announced(tmp_path, kwargs):
    store = FileStore(tmp_path)
    w = store.writer(**kwargs)
    w.write(b"abc")
    with pytest.raises(exc.BadRequest):
        w.close()
    assert not list(store.tmp.iterdir())


def test_writer_abort_removes_the_file(tmp_path):
    store = FileStore(tmp_path)
    w = store.writer()
    w.write(b"abc")
    assert w.path.exists()
    w.abort()
    w.abort()
    assert not list(store.tmp.iterdir())


def test_upload_slots_per_project():
    slots = UploadSlots(2)
    a1, a2 = slots.acquire("a"), slots.acquire("a")
    with pytest.raises(UploadLimitExceeded) as e:
        slots.acquire("a")
    assert e.value.status == 413
    b = slots.acquire("b")  # another project is not affected
    a1()
    a1()  # giving back twice counts once
    assert slots.in_progress("a") == 1
    a3 = slots.acquire("a")
    for release in (a2, a3, b):
        release()
    assert slots.in_progress("a") == slots.in_progress("b") == 0


def test_upload_slots_unlimited_and_uncounted():
    slots = UploadSlots(0)
    releases = [slots.acquire("a") for _ in range(100)]
    assert slots.in_progress("a") == 0
    for release in releases:
        release()
    assert UploadSlots(1).acquire(None) is not None
