"""The storage contract and the pieces every backend shares.

Writes take a readable binary stream and copy it in fixed-size chunks while hashing and
counting, so memory stays flat whatever the object size, and the size limit is enforced on
the bytes actually seen (a client cannot lie its way past it with Content-Length).
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from millrace.exceptions import InvalidInputError, PayloadTooLargeError

__all__ = ["CHUNK", "HashingReader", "ObjectStorage", "StoredObject", "check_key"]

CHUNK = 1024 * 1024
_SEGMENT = re.compile(r"^[^\x00-\x1f\\]+$")


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int
    sha256: str


def check_key(key: str) -> str:
    """Refuse keys that could escape the storage root on any backend."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in {"", ".", ".."} for p in parts):
        raise InvalidInputError(f"invalid storage key {key!r}")
    if not all(_SEGMENT.match(p) for p in parts):
        raise InvalidInputError(f"invalid storage key {key!r}")
    return key


class HashingReader:
    """A file-like wrapper that hashes, counts and caps what is read through it."""

    def __init__(self, source: BinaryIO, limit: int | None, what: str = "upload") -> None:
        self._source = source
        self._limit = limit
        self._what = what
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n if n and n > 0 else CHUNK)
        self.size += len(data)
        if self._limit is not None and self.size > self._limit:
            raise PayloadTooLargeError(
                f"{self._what} is larger than the limit of {self._limit} bytes",
                limit_bytes=self._limit,
            )
        self._hash.update(data)
        return data

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


class ObjectStorage(ABC):
    """Keys are '/'-separated relative paths; backends map them under their root."""

    url: str

    @abstractmethod
    def put(self, key: str, source: BinaryIO, *, limit: int | None = None) -> StoredObject:
        """Store the stream under ``key`` atomically: all of it or nothing."""

    @abstractmethod
    def iter_bytes(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """Stream an object's content."""

    @abstractmethod
    def size(self, key: str) -> int: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove one object; a missing object is not an error."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix/``; returns how many were removed."""

    @abstractmethod
    def ping(self) -> None:
        """Raise ``BackendUnavailableError`` if the backend cannot be used right now."""

    def read_bytes(self, key: str) -> bytes:
        return b"".join(self.iter_bytes(key))
