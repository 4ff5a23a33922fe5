"""The blob stores (MAILGATE_BLOB_STORE=database | files): same bytes back, never a lost write."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from mailgate.errors import NotFound
from mailgate.runtime import Mailgate
from mailgate.store.blobs import FileBlobStore, blob_key
from mailgate.store.db import transaction
from tests.servers.mailgate import BLOB_STORES

both_stores = pytest.mark.parametrize("blob_store", BLOB_STORES)


@both_stores
def test_round_trip_and_missing(mailgate_app: Mailgate, blob_store: str) -> None:
    """Bytes come back by their sha256; an unknown key is NotFound, not an OSError."""
    blobs = [b"Subject: one\r\n\r\nbody\r\n", b"\x00\xff" * 5000, b""]
    with transaction(mailgate_app.sessions) as s:
        keys = mailgate_app.blobs.put_many(s, blobs)
    assert keys == [blob_key(b) for b in blobs]
    with mailgate_app.sessions() as s:
        assert [mailgate_app.blobs.get(s, k) for k in keys] == blobs
        assert mailgate_app.blobs.get_many(s, keys) == dict(zip(keys, blobs, strict=True))
        with pytest.raises(NotFound):
            mailgate_app.blobs.get(s, "0" * 64)


@both_stores
def test_identical_blobs_in_one_transaction(mailgate_app: Mailgate, blob_store: str) -> None:
    """The same bytes many times in one put_many (two workspaces, one message) all store.

    Before unique temp names, the file store wrote every copy to the same temp file
    and the second rename failed: the listener answered 451 on every retry.
    """
    raw = b"Subject: twice\r\n\r\nthe same message for two workspaces\r\n"
    with transaction(mailgate_app.sessions) as s:
        keys = mailgate_app.blobs.put_many(s, [raw] * 16)
    assert set(keys) == {blob_key(raw)}
    with mailgate_app.sessions() as s:
        assert mailgate_app.blobs.get(s, keys[0]) == raw


def _write_together(app: Mailgate, raw: bytes, writers: int) -> list[BaseException]:
    """``writers`` threads store ``raw`` (twice each) at the same instant; their failures."""
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write() -> None:
        start.wait()
        try:
            with transaction(app.sessions) as s:
                app.blobs.put_many(s, [raw, raw])
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return failures


@both_stores
def test_concurrent_identical_writers(mailgate_app: Mailgate, blob_store: str) -> None:
    """Threads writing the same new blob at the same instant all succeed, bytes intact."""
    for round_ in range(10):
        raw = f"Subject: race {round_}\r\n\r\n".encode() + os.urandom(64 * 1024)
        assert _write_together(mailgate_app, raw, 6) == []
        with mailgate_app.sessions() as s:
            assert mailgate_app.blobs.get(s, blob_key(raw)) == raw


@pytest.mark.parametrize("blob_store", ["files"])  # only the file store has files
def test_file_store_leaves_no_temp_files_and_keeps_them_private(
    mailgate_app: Mailgate, blob_store: str, tmp_path: Path
) -> None:
    """Blob files are 0600 and no temp file survives a write."""
    assert isinstance(mailgate_app.blobs, FileBlobStore)
    with transaction(mailgate_app.sessions) as s:
        [key] = set(mailgate_app.blobs.put_many(s, [b"x" * 100] * 3))
    files = [p for p in mailgate_app.blobs.root.rglob("*") if p.is_file()]
    assert [p.name for p in files] == [key]
    assert files[0].stat().st_mode & 0o777 == 0o600
