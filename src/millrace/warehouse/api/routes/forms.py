"""Helpers for seed-style multipart forms, where lists arrive as text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from fastapi import UploadFile

from millrace.exceptions import InvalidInputError
from millrace.settings import Settings
from millrace.warehouse.assets import AssetMeta
from millrace.warehouse.ids import check_file_path
from millrace.warehouse.zips import ZipLimits, safe_entries

__all__ = ["meta_from_form", "parse_list", "parse_map", "upload_name", "zip_files"]


def parse_list(value: str | None, field: str) -> list[str] | None:
    """Accept a JSON list (``["a","b"]``) or comma-separated text (``a,b``)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise InvalidInputError(f"{field} is not a valid JSON list", field=field) from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise InvalidInputError(f"{field} must be a list of strings", field=field)
        return [i.strip() for i in items if i.strip()]
    return [i.strip() for i in text.split(",") if i.strip()]


def parse_map(value: str | None, field: str) -> dict[str, str] | None:
    """Accept a JSON object (``{"sex": "Male"}``) or pairs (``sex=Male,race=White``)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.startswith("{"):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise InvalidInputError(f"{field} is not a valid JSON object", field=field) from None
        scalars = (str, int, float, bool)
        if not all(isinstance(v, scalars) for v in items.values()):
            raise InvalidInputError(f"{field} must map names to single values", field=field)
        return {str(k).strip(): v for k, v in items.items()}
    out: dict[str, str] = {}
    for pair in (p for p in text.split(",") if p.strip()):
        key, sep, val = pair.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise InvalidInputError(
                f"{field} must be a JSON object or key=value pairs, not {pair.strip()!r}",
                field=field,
            )
        out[key.strip()] = val.strip()
    return out


def meta_from_form(name: str | None, description: str | None, tags: str | None) -> AssetMeta:
    return AssetMeta(name=name or None, description=description, tags=parse_list(tags, "tags"))


def upload_name(upload: UploadFile) -> str:
    """The client's file name, reduced to a safe base name."""
    raw = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not raw or raw in {".", ".."}:
        raise InvalidInputError("the uploaded file has no usable file name", field="file")
    return check_file_path(raw)


@contextmanager
def zip_files(
    upload: UploadFile, settings: Settings, preserve_structure: bool
) -> Iterator[Iterator[tuple[str, BinaryIO]]]:
    limits = ZipLimits(settings.zip_max_files, settings.zip_max_total_bytes, settings.zip_max_ratio)
    with safe_entries(upload.file, limits, preserve_structure=preserve_structure) as entries:
        yield entries
