"""One contract for every storage backend, run on the local folder and on S3 (moto)."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from millrace.exceptions import InvalidInputError, NotFoundError, PayloadTooLargeError
from millrace.warehouse.context import Warehouse
from millrace.warehouse.storage import ObjectStorage


@pytest.fixture
def storage(warehouse: Warehouse) -> ObjectStorage:
    return warehouse.storage


def test_put_streams_hashes_and_reads_back(storage: ObjectStorage) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    obj = storage.put("t/contract/a.bin", io.BytesIO(data))
    assert obj.size_bytes == len(data)
    assert obj.sha256 == hashlib.sha256(data).hexdigest()
    assert storage.exists("t/contract/a.bin") and storage.size("t/contract/a.bin") == len(data)
    assert storage.read_bytes("t/contract/a.bin") == data
    chunks = list(storage.iter_bytes("t/contract/a.bin", chunk_size=1024 * 1024))
    assert len(chunks) >= 3


def test_limit_is_enforced_on_bytes_seen_and_leaves_nothing(storage: ObjectStorage) -> None:
    with pytest.raises(PayloadTooLargeError, match="limit of 1000 bytes"):
        storage.put("t/limit/big.bin", io.BytesIO(b"x" * 5000), limit=1000)
    assert not storage.exists("t/limit/big.bin")


def test_delete_and_delete_prefix(storage: ObjectStorage) -> None:
    for name in ("a", "b", "sub/c"):
        storage.put(f"t/del/{name}", io.BytesIO(b"1"))
    storage.put("t/delete-me-not", io.BytesIO(b"1"))
    storage.delete("t/del/a")
    assert not storage.exists("t/del/a")
    storage.delete("t/del/a")  # missing is fine
    assert storage.delete_prefix("t/del") == 2
    assert not storage.exists("t/del/sub/c")
    assert storage.exists("t/delete-me-not")
    with pytest.raises(NotFoundError):
        list(storage.iter_bytes("t/del/b"))


@pytest.mark.parametrize("key", ["../x", "/abs", "a/../../b", "a//b", "", "a/./b", "a\\b"])
def test_keys_cannot_escape(storage: ObjectStorage, key: str) -> None:
    with pytest.raises(InvalidInputError):
        storage.put(key, io.BytesIO(b"1"))


def test_ping(storage: ObjectStorage) -> None:
    storage.ping()
