"""Identifiers users choose (dataset, model and user ids) and version labels.

Ids end up in storage keys and URLs, so they are restricted to a safe alphabet up front
rather than escaped later: ``../x`` or ``a/b`` is refused with a clear message.
"""

from __future__ import annotations

import re
import uuid

from millrace.exceptions import InvalidInputError

__all__ = [
    "MAX_VERSION",
    "check_file_path",
    "check_id",
    "id_from_filename",
    "parse_version",
    "version_label",
]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Control characters (C0, DEL, C1) and bidi overrides, which disguise what a name says.
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
MAX_SEGMENT_BYTES = 255  # what common filesystems allow per name
MAX_PATH_CHARS = 1024  # asset_files.path
# Version columns are 32-bit integers on PostgreSQL, and SQLite cannot even bind a number
# past 64 bits: a larger "version" can name nothing, so it is refused before any query.
MAX_VERSION = 2**31 - 1
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: "²".isdigit() is True, and int("²") raises


def check_file_path(path: str) -> str:
    """A relative file path from an upload: every backend must be able to store it."""
    if len(path) > MAX_PATH_CHARS:
        raise InvalidInputError(
            f"file path {path[:60]!r}... is {len(path)} characters; the limit is {MAX_PATH_CHARS}"
        )
    for segment in path.split("/"):
        if _BAD_CHARS.search(segment):
            raise InvalidInputError(f"file name {segment!r} contains control characters")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise InvalidInputError(
                f"file name {segment[:40]!r}... is longer than {MAX_SEGMENT_BYTES} bytes"
            )
    return path


def check_id(value: str, what: str = "id") -> str:
    if not _ID.match(value) or ".." in value:
        raise InvalidInputError(
            f"{what} {value!r} is not valid: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field=what,
        )
    return value


def id_from_filename(filename: str) -> str:
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:128]
    return slug if slug and _ID.match(slug) else f"ds-{uuid.uuid4().hex[:12]}"


def parse_version(value: str | int) -> int:
    """Accept ``3`` and the seed's ``"v3"``, within what a version column can hold."""
    if isinstance(value, bool):  # a JSON true is not version 1
        raise InvalidInputError(f"version {value!r} is not valid: use a number like 3 or v3")
    number = value
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("v")
        if not _DIGITS.fullmatch(text):
            raise InvalidInputError(
                f"version {_shown(value)} is not valid: use a number like 3 or v3"
            )
        # Past 10 digits it is out of range anyway, and int() of thousands of digits raises.
        number = int(text) if len(text.lstrip("0")) <= 10 else MAX_VERSION + 1
    if not 1 <= number <= MAX_VERSION:
        raise InvalidInputError(f"version {_shown(value)} is out of range: use 1 to {MAX_VERSION}")
    return number


def _shown(value: str | int) -> str:
    if isinstance(value, int):
        return str(value) if value.bit_length() < 64 else "(a number that large)"
    return repr(value) if len(value) <= 40 else f"{value[:40]!r}..."


def version_label(version: int) -> str:
    return f"v{version}"
