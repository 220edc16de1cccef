"""A local folder as object storage, the embedded default."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from millrace.exceptions import BackendUnavailableError, NotFoundError
from millrace.warehouse.storage.base import (
    CHUNK,
    HashingReader,
    ObjectStorage,
    StoredObject,
    check_key,
)

__all__ = ["LocalStorage"]


class LocalStorage(ObjectStorage):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(exist_ok=True)
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root) or path.is_relative_to(self._tmp):
            raise NotFoundError(f"object {key!r} not found")
        return path

    def put(self, key: str, source: BinaryIO, *, limit: int | None = None) -> StoredObject:
        path = self._path(key)
        reader = HashingReader(source, limit)
        # Write beside the destination's filesystem, then rename: readers never see half
        # an object, and a failed upload leaves nothing behind.
        fd, tmp = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := reader.read(CHUNK):
                    out.write(chunk)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return StoredObject(key=key, size_bytes=reader.size, sha256=reader.sha256)

    def iter_bytes(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise NotFoundError(f"object {key!r} not found")
        return self._iter(path, chunk_size)

    @staticmethod
    def _iter(path: Path, chunk_size: int) -> Iterator[bytes]:
        with path.open("rb") as f:
            while chunk := f.read(chunk_size):
                yield chunk

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise NotFoundError(f"object {key!r} not found")
        return path.stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        path = self._path(prefix)
        if not path.is_dir():
            return 0
        count = sum(1 for p in path.rglob("*") if p.is_file())
        shutil.rmtree(path, ignore_errors=True)
        return count

    def ping(self) -> None:
        if not (self.root.is_dir() and os.access(self.root, os.W_OK)):
            raise BackendUnavailableError(f"storage folder {self.root} is missing or read-only")
