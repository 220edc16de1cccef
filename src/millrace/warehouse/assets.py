"""Versioned assets: the one service behind datasets and AI models.

An upload is stored first, under a fresh prefix nobody references yet, and recorded second,
in one transaction that allocates the version number, writes the version and file rows and
adds the outbox event. If anything fails before that commit, the stored objects are removed:
no partial version is ever visible, and no event announces one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sqlalchemy import Select, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from millrace.events.outbox import add_event
from millrace.events.topics import EventPayload
from millrace.exceptions import InvalidInputError, NotFoundError
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.ids import check_id
from millrace.warehouse.inspection import inspect_file
from millrace.warehouse.models import Asset, AssetFile, AssetKind, AssetVersion, utcnow

__all__ = [
    "AssetMeta",
    "EventFactory",
    "create_version",
    "delete_asset",
    "delete_version",
    "get_asset",
    "get_version",
    "list_assets",
    "update_meta",
]

EventFactory = Callable[[Asset, AssetVersion], tuple[EventPayload, str]]


@dataclass
class AssetMeta:
    """User-facing metadata; ``None`` means "leave as it is"."""

    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def create_version(
    wh: Warehouse,
    *,
    kind: AssetKind,
    owner_id: str,
    actor_id: str,
    asset_id: str,
    files: Iterable[tuple[str, BinaryIO]],
    meta: AssetMeta,
    attributes: dict[str, Any],
    encoding: str = "utf-8",
    make_event: EventFactory | None = None,
) -> AssetVersion:
    check_id(asset_id, f"{kind.value}_id")
    prefix = f"{kind.value}s/{owner_id}/{asset_id}/{uuid.uuid4().hex}"
    budget = wh.settings.max_upload_bytes
    rows: list[AssetFile] = []
    try:
        for rel_path, source in files:
            facts = inspect_file(kind, rel_path, source, encoding)
            obj = wh.storage.put(f"{prefix}/{rel_path}", source, limit=budget)
            budget -= obj.size_bytes
            rows.append(
                AssetFile(
                    path=rel_path,
                    storage_key=obj.key,
                    size_bytes=obj.size_bytes,
                    sha256=obj.sha256,
                    content_type=facts.content_type,
                    table_schema=facts.table_schema,
                    unsafe=facts.unsafe,
                )
            )
        if not rows:
            raise InvalidInputError("the upload contains no files")
        with session_scope(wh.sessions) as session:
            asset = _claim_asset(session, kind, owner_id, asset_id, meta)
            number = session.execute(
                update(Asset)
                .where(Asset.pk == asset.pk)
                .values(version_seq=Asset.version_seq + 1, updated_at=utcnow())
                .returning(Asset.version_seq)
            ).scalar_one()
            version = AssetVersion(
                asset_pk=asset.pk,
                version=number,
                created_by=actor_id,
                storage_prefix=prefix,
                size_bytes=sum(r.size_bytes for r in rows),
                file_count=len(rows),
                attributes=attributes,
                has_unsafe_files=any(r.unsafe for r in rows),
                files=rows,
            )
            session.add(version)
            session.flush()
            session.refresh(asset)
            if make_event is not None:
                payload, subject = make_event(asset, version)
                add_event(session, payload, subject=subject)
    except BaseException:
        wh.storage.delete_prefix(prefix)
        raise
    return version


def _claim_asset(
    session: Session, kind: AssetKind, owner_id: str, asset_id: str, meta: AssetMeta
) -> Asset:
    """Insert the asset if it is new (racing uploads both succeed), then apply metadata."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(Asset)
        .values(
            kind=kind.value,
            owner_id=owner_id,
            asset_id=asset_id,
            name=meta.name or asset_id,
            description=meta.description or "",
            tags=meta.tags or [],
            version_seq=0,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["kind", "owner_id", "asset_id"])
    )
    asset = session.scalars(_asset_query(kind, owner_id, asset_id)).one()
    _apply_meta(asset, meta)
    return asset


def _apply_meta(asset: Asset, meta: AssetMeta) -> None:
    if meta.name is not None:
        asset.name = meta.name
    if meta.description is not None:
        asset.description = meta.description
    if meta.tags is not None:
        asset.tags = meta.tags


def _asset_query(kind: AssetKind, owner_id: str, asset_id: str) -> Select[tuple[Asset]]:
    return select(Asset).where(
        Asset.kind == kind.value, Asset.owner_id == owner_id, Asset.asset_id == asset_id
    )


def get_asset(session: Session, kind: AssetKind, owner_id: str, asset_id: str) -> Asset:
    asset = session.scalars(_asset_query(kind, owner_id, asset_id)).one_or_none()
    if asset is None:
        raise NotFoundError(f"{kind.value} {asset_id!r} not found")
    return asset


def get_version(session: Session, asset: Asset, version: int | None = None) -> AssetVersion:
    """A given version, or the newest one that still exists (never silently v1)."""
    query = select(AssetVersion).where(AssetVersion.asset_pk == asset.pk)
    if version is None:
        query = query.order_by(AssetVersion.version.desc()).limit(1)
    else:
        query = query.where(AssetVersion.version == version)
    found = session.scalars(query).one_or_none()
    if found is None:
        which = f"version {version}" if version is not None else "any version"
        raise NotFoundError(f"{asset.kind} {asset.asset_id!r} has no {which}")
    return found


def list_assets(
    session: Session,
    kind: AssetKind,
    *,
    owner_id: str | None,
    query: str | None = None,
    limit: int = 50,
    cursor: int | None = None,
) -> tuple[list[Asset], int | None]:
    """Newest first; ``cursor`` is the last ``pk`` of the previous page."""
    stmt = select(Asset).where(Asset.kind == kind.value).options(selectinload(Asset.versions))
    if owner_id is not None:
        stmt = stmt.where(Asset.owner_id == owner_id)
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(
            or_(
                Asset.asset_id.ilike(like),
                Asset.name.ilike(like),
                Asset.description.ilike(like),
            )
        )
    if cursor is not None:
        stmt = stmt.where(Asset.pk < cursor)
    items = list(session.scalars(stmt.order_by(Asset.pk.desc()).limit(limit + 1)))
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].pk if more and items else None)


def update_meta(session: Session, asset: Asset, meta: AssetMeta) -> Asset:
    _apply_meta(asset, meta)
    asset.updated_at = utcnow()
    return asset


def delete_version(
    wh: Warehouse, *, kind: AssetKind, owner_id: str, asset_id: str, version: int
) -> None:
    """Forget the row first, then the bytes: a crash between leaves garbage, not a dangling
    reference. Version numbers are never reused."""
    with session_scope(wh.sessions) as session:
        row = get_version(session, get_asset(session, kind, owner_id, asset_id), version)
        prefix = row.storage_prefix
        session.delete(row)
    wh.storage.delete_prefix(prefix)


def delete_asset(wh: Warehouse, *, kind: AssetKind, owner_id: str, asset_id: str) -> int:
    with session_scope(wh.sessions) as session:
        asset = get_asset(session, kind, owner_id, asset_id)
        prefixes = [v.storage_prefix for v in asset.versions]
        session.delete(asset)
    for prefix in prefixes:
        wh.storage.delete_prefix(prefix)
    return len(prefixes)
