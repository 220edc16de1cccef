"""Identifiers users choose (dataset, model and user ids) and version labels.

Ids end up in storage keys and URLs, so they are restricted to a safe alphabet up front
rather than escaped later: ``../x`` or ``a/b`` is refused with a clear message.
"""

from __future__ import annotations

import re
import uuid

from millrace.exceptions import InvalidInputError

__all__ = ["check_id", "id_from_filename", "parse_version", "version_label"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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
    """Accept ``3`` and the seed's ``"v3"``."""
    text = str(value).strip().lower().removeprefix("v")
    if not text.isdigit() or int(text) < 1:
        raise InvalidInputError(f"version {value!r} is not valid: use a number like 3 or v3")
    return int(text)


def version_label(version: int) -> str:
    return f"v{version}"
