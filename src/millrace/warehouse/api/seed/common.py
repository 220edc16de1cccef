"""What every seed route shares: whose path it is, which version, and the download bodies."""

from __future__ import annotations

from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from millrace.exceptions import NotFoundError
from millrace.warehouse import assets
from millrace.warehouse.api.routes.assets import _stream_headers
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import read_scope
from millrace.warehouse.ids import parse_version, version_label
from millrace.warehouse.models import Asset, AssetKind, AssetVersion
from millrace.warehouse.zipstream import zip_stream

__all__ = ["SPLITS", "download", "find", "version_number"]

SPLITS = ("train", "test", "drift")


def version_number(value: str | None) -> int | None:
    """The seed's ``v3`` (or ``3``); nothing or ``latest`` means the newest version."""
    return None if value in (None, "", "latest") else parse_version(value)


def find(
    session: Session, kind: AssetKind, owner_id: str, asset_id: str, version: str | None
) -> tuple[Asset, AssetVersion]:
    asset = assets.get_asset(session, kind, owner_id, asset_id)
    return asset, assets.get_version(session, asset, version_number(version))


def download(
    wh: Warehouse,
    kind: AssetKind,
    owner_id: str,
    asset_id: str,
    version: str | None,
    filename: str | None,
    single_as_zip: bool = False,
    split: str | None = None,
) -> StreamingResponse:
    """The seed's download: one file by ``filename``, the only file of a single-file
    dataset, or every file as ``{id}_{version}.zip`` (models always, without a name).
    ``split`` (``train``, ``test``, ``drift``) keeps that top-level folder of a split
    dataset, as the seed's later partners ask; elsewhere it is ignored, as there."""
    with read_scope(wh.sessions) as session:
        _, found = find(session, kind, owner_id, asset_id, version)
        files = [(f.path, f.storage_key, f.size_bytes) for f in found.files]
        label = version_label(found.version)
    if split in SPLITS and any(path.startswith(f"{split}/") for path, _, _ in files):
        files = [f for f in files if f[0].startswith(f"{split}/")]
        label = f"{label}_{split}"
    if filename is None and not single_as_zip and len(files) == 1 and "/" not in files[0][0]:
        filename = files[0][0]
    if filename is not None:
        match = next((f for f in files if f[0] == filename), None)
        if match is None:
            raise NotFoundError(f"file {filename!r} not found in {kind.value} {asset_id!r}")
        return StreamingResponse(
            wh.storage.iter_bytes(match[1]),
            media_type="application/octet-stream",
            headers={
                **_stream_headers(filename.rsplit("/", 1)[-1]),
                "Content-Length": str(match[2]),
            },
        )
    return StreamingResponse(
        zip_stream(wh.storage, [(path, key) for path, key, _ in files]),
        media_type="application/zip",
        headers=_stream_headers(f"{asset_id}_{label}.zip"),
    )
