"""What Millrace learns about each uploaded file before storing it.

Dataset files get a table schema (and a malformed CSV is refused here, before anything is
stored). Model files are checked for formats that execute code when loaded (pickle and
its relatives): they are stored as opaque bytes and flagged, never loaded, unless an admin
marks the version trusted.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from millrace.exceptions import InvalidInputError
from millrace.warehouse.models import AssetKind
from millrace.warehouse.tabular import describe_table

__all__ = ["FileFacts", "inspect_file", "looks_like_pickle"]

PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".sav", ".dill"}


@dataclass(frozen=True)
class FileFacts:
    content_type: str
    table_schema: dict[str, Any] | None = None
    unsafe: bool = False


def looks_like_pickle(name: str, source: BinaryIO) -> bool:
    if Path(name).suffix.lower() in PICKLE_SUFFIXES:
        return True
    source.seek(0)
    head = source.read(2)
    source.seek(0)
    # Pickle protocols 2-5 start with PROTO (0x80) and the protocol number.
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def inspect_file(kind: AssetKind, name: str, source: BinaryIO, encoding: str) -> FileFacts:
    """Inspect a seekable stream; leaves it rewound for the upload that follows."""
    source.seek(0, 2)
    empty = source.tell() == 0
    source.seek(0)
    if empty:
        raise InvalidInputError(f"{name} is empty", file=name)
    guessed = mimetypes.guess_type(name)[0] or ""
    # Vendor types guessed from model suffixes (.pt is "snesdev-page-table") mislead clients.
    content_type = guessed if guessed and "vnd." not in guessed else "application/octet-stream"
    if kind is AssetKind.DATASET:
        try:
            return FileFacts(content_type, table_schema=describe_table(source, name, encoding))
        finally:
            source.seek(0)
    return FileFacts(content_type, unsafe=looks_like_pickle(name, source))
