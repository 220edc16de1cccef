"""Stream a set of stored files as one zip, without building the archive anywhere.

The standard library's ``ZipFile`` can write to an unseekable stream (it then emits data
descriptors); feeding it a sink that hands each written piece back to a generator turns
that into a response body, one chunk at a time.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator

from millrace.warehouse.storage import ObjectStorage

__all__ = ["zip_stream"]


class _Sink:
    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.pieces.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        out = b"".join(self.pieces)
        self.pieces.clear()
        return out


def zip_stream(storage: ObjectStorage, entries: Iterable[tuple[str, str]]) -> Iterator[bytes]:
    """``entries`` are ``(path_in_zip, storage_key)`` pairs."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:  # type: ignore[arg-type]
        for name, key in entries:
            with zf.open(zipfile.ZipInfo(name), "w", force_zip64=True) as dest:
                for chunk in storage.iter_bytes(key):
                    dest.write(chunk)
                    if sink.offset and (data := sink.drain()):
                        yield data
            if data := sink.drain():
                yield data
    if data := sink.drain():
        yield data
