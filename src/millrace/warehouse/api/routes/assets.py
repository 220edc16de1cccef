"""Read, update, delete and download routes shared by datasets and AI models."""

from __future__ import annotations

import base64
import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from millrace.exceptions import InvalidInputError, NotFoundError
from millrace.warehouse import assets
from millrace.warehouse.api.deps import AdminUser, CurrentUser, WarehouseDep
from millrace.warehouse.api.schemas import AssetOut, FileOut, Page, VersionOut
from millrace.warehouse.db import session_scope
from millrace.warehouse.ids import parse_version
from millrace.warehouse.models import AssetKind
from millrace.warehouse.users import acting_owner
from millrace.warehouse.zipstream import zip_stream

__all__ = ["ActFor", "asset_router", "decode_cursor", "encode_cursor"]

ActFor = Annotated[str | None, Query(description="Admins only: act for this user")]


_MAX_PK = 2**63 - 1  # the largest integer SQLite can bind; no row has a larger key
_CURSOR = re.compile(r"[0-9]{1,19}")
# What may stand in a quoted filename= for any client: printable ASCII minus quote and
# backslash. Everything else is only in filename*.
_NOT_PLAIN = re.compile(r'[^\x20-\x7e]|["\\]')


def encode_cursor(pk: int | None) -> str | None:
    return base64.urlsafe_b64encode(str(pk).encode()).decode() if pk is not None else None


def decode_cursor(cursor: str | None) -> int | None:
    """A cursor is opaque to clients, so anything but one this API made is refused, before
    it can reach a query as a number the database cannot bind."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor[:64].encode()).decode("ascii")
    except ValueError:  # bad base64 (binascii.Error) or bytes that are not text
        text = ""
    if len(cursor) > 64 or not _CURSOR.fullmatch(text) or not 1 <= int(text) <= _MAX_PK:
        raise InvalidInputError(
            "cursor is not valid; pass next_cursor from a previous page", field="cursor"
        )
    return int(text)


class MetaUpdate(BaseModel):
    name: str | None = Field(default=None, max_length=256)
    description: str | None = None
    tags: list[str] | None = None


def _version_or_latest(value: str | None) -> int | None:
    return None if value in (None, "", "latest") else parse_version(value)


def _stream_headers(filename: str) -> dict[str, str]:
    """RFC 6266: an ASCII ``filename`` for old clients and the exact name, UTF-8 and
    percent-encoded (RFC 5987), in ``filename*``. Headers are latin-1 on the wire, so a
    name like ``数据.csv`` cannot go in as it is."""
    plain = _NOT_PLAIN.sub("_", filename)
    value = f'attachment; filename="{plain}"'
    if plain != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return {"Content-Disposition": value}


def asset_router(kind: AssetKind, prefix: str, tag: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=[tag])
    label = kind.value

    owner = acting_owner

    @router.get("", response_model=Page[AssetOut], summary=f"List and search {label}s")
    def list_(
        wh: WarehouseDep,
        user: CurrentUser,
        q: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
        user_id: ActFor = None,
    ) -> Page[AssetOut]:
        scope = None if (user.is_admin and user_id == "*") else owner(wh, user, user_id)
        with session_scope(wh.sessions) as session:
            items, nxt = assets.list_assets(
                session, kind, owner_id=scope, query=q, limit=limit, cursor=decode_cursor(cursor)
            )
            return Page(items=[AssetOut.of(a) for a in items], next_cursor=encode_cursor(nxt))

    @router.get("/{asset_id}", response_model=AssetOut, summary=f"Get a {label} (latest version)")
    def get(
        wh: WarehouseDep,
        user: CurrentUser,
        asset_id: str,
        version: str | None = None,
        user_id: ActFor = None,
    ) -> AssetOut:
        who = owner(wh, user, user_id)
        with session_scope(wh.sessions) as session:
            asset = assets.get_asset(session, kind, who, asset_id)
            found = assets.get_version(session, asset, _version_or_latest(version))
            return AssetOut.of(asset, found)

    @router.patch("/{asset_id}", response_model=AssetOut, summary=f"Update a {label}'s metadata")
    def patch(
        wh: WarehouseDep, user: CurrentUser, asset_id: str, body: MetaUpdate, user_id: ActFor = None
    ) -> AssetOut:
        who = owner(wh, user, user_id)
        with session_scope(wh.sessions) as session:
            asset = assets.get_asset(session, kind, who, asset_id)
            assets.update_meta(
                session,
                asset,
                assets.AssetMeta(name=body.name, description=body.description, tags=body.tags),
            )
            session.flush()
            return AssetOut.of(asset)

    @router.delete(
        "/{asset_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary=f"Delete a {label} and all its versions",
    )
    def delete(wh: WarehouseDep, user: CurrentUser, asset_id: str, user_id: ActFor = None) -> None:
        assets.delete_asset(wh, kind=kind, owner_id=owner(wh, user, user_id), asset_id=asset_id)

    @router.get(
        "/{asset_id}/versions",
        response_model=list[VersionOut],
        summary=f"List a {label}'s versions",
    )
    def versions(
        wh: WarehouseDep, user: CurrentUser, asset_id: str, user_id: ActFor = None
    ) -> list[VersionOut]:
        who = owner(wh, user, user_id)
        with session_scope(wh.sessions) as session:
            asset = assets.get_asset(session, kind, who, asset_id)
            return [VersionOut.of(v) for v in asset.versions]

    @router.get("/{asset_id}/versions/{version}", response_model=VersionOut)
    def version_(
        wh: WarehouseDep, user: CurrentUser, asset_id: str, version: str, user_id: ActFor = None
    ) -> VersionOut:
        who = owner(wh, user, user_id)
        with session_scope(wh.sessions) as session:
            asset = assets.get_asset(session, kind, who, asset_id)
            return VersionOut.of(assets.get_version(session, asset, _version_or_latest(version)))

    @router.delete("/{asset_id}/versions/{version}", status_code=status.HTTP_204_NO_CONTENT)
    def delete_version(
        wh: WarehouseDep, user: CurrentUser, asset_id: str, version: str, user_id: ActFor = None
    ) -> None:
        assets.delete_version(
            wh,
            kind=kind,
            owner_id=owner(wh, user, user_id),
            asset_id=asset_id,
            version=parse_version(version),
        )

    @router.get("/{asset_id}/versions/{version}/files", response_model=list[FileOut])
    def files(
        wh: WarehouseDep, user: CurrentUser, asset_id: str, version: str, user_id: ActFor = None
    ) -> list[FileOut]:
        return version_(wh, user, asset_id, version, user_id).files

    @router.get(
        "/{asset_id}/versions/{version}/files/{path:path}",
        summary="Download one file",
        response_class=StreamingResponse,
    )
    def download_file(
        wh: WarehouseDep,
        user: CurrentUser,
        asset_id: str,
        version: str,
        path: str,
        user_id: ActFor = None,
    ) -> StreamingResponse:
        who = owner(wh, user, user_id)
        with session_scope(wh.sessions) as session:
            asset = assets.get_asset(session, kind, who, asset_id)
            found = assets.get_version(session, asset, _version_or_latest(version))
            match = next((f for f in found.files if f.path == path), None)
            if match is None:
                raise NotFoundError(f"{label} {asset_id!r} v{found.version} has no file {path!r}")
        body = wh.storage.iter_bytes(match.storage_key)
        return StreamingResponse(
            body,
            media_type=match.content_type,
            headers={
                **_stream_headers(path.rsplit("/", 1)[-1]),
                "Content-Length": str(match.size_bytes),
                "X-Checksum-SHA256": match.sha256,
            },
        )

    @router.get(
        "/{asset_id}/versions/{version}/download",
        summary="Download a version as zip",
        response_class=StreamingResponse,
    )
    def download_version(
        wh: WarehouseDep, user: CurrentUser, asset_id: str, version: str, user_id: ActFor = None
    ) -> StreamingResponse:
        who = owner(wh, user, user_id)
        with session_scope(wh.sessions) as session:
            asset = assets.get_asset(session, kind, who, asset_id)
            found = assets.get_version(session, asset, _version_or_latest(version))
            entries = [(f.path, f.storage_key) for f in found.files]
            name = f"{asset_id}-v{found.version}.zip"
        return StreamingResponse(
            zip_stream(wh.storage, entries),
            media_type="application/zip",
            headers=_stream_headers(name),
        )

    @router.get(
        "/{asset_id}/download",
        summary="Download the latest version as zip",
        response_class=StreamingResponse,
    )
    def download_latest(
        wh: WarehouseDep, user: CurrentUser, asset_id: str, user_id: ActFor = None
    ) -> StreamingResponse:
        return download_version(wh, user, asset_id, "latest", user_id)

    if kind is AssetKind.MODEL:

        @router.post(
            "/{asset_id}/versions/{version}/trust",
            response_model=VersionOut,
            summary="Admins: allow Millrace to load this version's pickle files",
        )
        def trust(
            wh: WarehouseDep, admin: AdminUser, asset_id: str, version: str, user_id: ActFor = None
        ) -> VersionOut:
            who = owner(wh, admin, user_id)
            with session_scope(wh.sessions) as session:
                asset = assets.get_asset(session, kind, who, asset_id)
                found = assets.get_version(session, asset, parse_version(version))
                found.trusted = True
                session.flush()
                return VersionOut.of(found)

    return router
