"""Bias, transformation and XAI reports, each tied to a dataset (and version) the owner has.

JSON reports live in the row; XAI reports are HTML files in object storage. Bias and XAI
reports announce themselves on ``bias-events`` and ``xai-events`` through the outbox.
"""

from __future__ import annotations

import io
import math
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from millrace.events.outbox import add_event
from millrace.events.topics import BiasReportCreated, XAIReportCreated
from millrace.exceptions import InvalidInputError, NotFoundError
from millrace.warehouse.assets import get_asset, get_version
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.ids import version_label
from millrace.warehouse.models import AssetKind, Report, ReportKind

__all__ = [
    "MAX_CONTENT_DEPTH",
    "XAI_LEVELS",
    "XAI_TYPES",
    "create_json_report",
    "create_xai_report",
    "get_report",
    "list_reports",
    "readable_content",
]

XAI_TYPES = {"model_explanation", "data_explanation"}
XAI_LEVELS = {"beginner", "expert"}
# JSON reports are read back by clients, serializers and the UI, several of which give up
# a few hundred levels down; no real report is nested anywhere near this.
MAX_CONTENT_DEPTH = 64


def _walk(value: Any) -> Iterator[tuple[Any, int]]:
    """Every value with its depth (the top object is 1). A stack, not recursion: content
    may be nested far past any limit, and a caller stops as soon as it has seen enough."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        yield item, depth
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _deeper_than(value: Any, limit: int) -> bool:
    return any(isinstance(v, dict | list) and depth > limit for v, depth in _walk(value))


def _check_content(content: Any) -> None:
    for value, depth in _walk(content):
        if isinstance(value, dict | list) and depth > MAX_CONTENT_DEPTH:
            raise InvalidInputError(
                f"the report is nested more than {MAX_CONTENT_DEPTH} levels deep", field="report"
            )
        if isinstance(value, float) and not math.isfinite(value):
            # Python's parser takes them, but they are not JSON: PostgreSQL refuses them.
            raise InvalidInputError(
                "the report holds NaN or Infinity, which JSON cannot carry; send null",
                field="report",
            )


def readable_content(content: Any) -> tuple[Any, bool]:
    """The content cut at ``MAX_CONTENT_DEPTH`` (deeper values become null), and whether
    anything was cut: a report stored before the limit existed must not break a listing."""
    if not _deeper_than(content, MAX_CONTENT_DEPTH):
        return content, False

    def cut(value: Any, room: int) -> Any:
        if not isinstance(value, dict | list):
            return value
        if room == 0:
            return None
        if isinstance(value, dict):
            return {k: cut(v, room - 1) for k, v in value.items()}
        return [cut(v, room - 1) for v in value]

    return cut(content, MAX_CONTENT_DEPTH), True


def _dataset_version(session: Session, owner_id: str, dataset_id: str, version: int | None) -> int:
    asset = get_asset(session, AssetKind.DATASET, owner_id, dataset_id)
    return get_version(session, asset, version).version


def create_json_report(
    wh: Warehouse,
    *,
    kind: ReportKind,
    owner_id: str,
    dataset_id: str,
    dataset_version: int | None,
    content: Any,
    target_column: str | None = None,
    task_type: str | None = None,
    has_transformation_report: bool = False,
    report_id: str | None = None,
    html: bytes | None = None,
    event_extra: dict[str, Any] | None = None,
) -> Report:
    """Store a JSON report (and optional HTML view): any JSON, as seed 004 took it, though
    Millrace's own API sends objects. With a ``report_id`` that already
    exists, return that report and announce nothing: agents pass ids derived from the
    event they handle, so a redelivered event cannot make a second report."""
    _check_content(content)
    if report_id is not None:
        with session_scope(wh.sessions) as session:
            existing = _existing(session, report_id)
            if existing is not None:
                return existing
    report_id = report_id or uuid.uuid4().hex
    key = None
    if html is not None:
        key = f"reports/{owner_id}/{kind.value}/{report_id}.html"
        wh.storage.put(key, io.BytesIO(html))
    with session_scope(wh.sessions) as session:
        number = _dataset_version(session, owner_id, dataset_id, dataset_version)
        report = Report(
            report_id=report_id,
            kind=kind.value,
            owner_id=owner_id,
            dataset_id=dataset_id,
            dataset_version=number,
            content=content,
            storage_key=key,
            size_bytes=len(html or b""),
        )
        session.add(report)
        if kind is ReportKind.BIAS:
            payload = BiasReportCreated(
                user_id=owner_id,
                dataset_id=dataset_id,
                bias_report_id=report.report_id,
                has_transformation_report=has_transformation_report,
                target_column_name=target_column,
                task_type=task_type,
                version=version_label(number),
                **(event_extra or {}),
            )
            add_event(session, payload, subject=f"bias-reports/{report.report_id}")
    return report


def _existing(session: Session, report_id: str) -> Report | None:
    return session.scalars(select(Report).where(Report.report_id == report_id)).one_or_none()


def create_xai_report(
    wh: Warehouse,
    *,
    owner_id: str,
    dataset_id: str,
    dataset_version: int | None,
    model_id: str | None,
    report_type: str,
    level: str,
    html: BinaryIO,
    model_version: int | None = None,
    report_id: str | None = None,
    event_extra: dict[str, Any] | None = None,
) -> Report:
    if report_type not in XAI_TYPES:
        raise InvalidInputError(f"report_type must be one of {sorted(XAI_TYPES)}")
    if level not in XAI_LEVELS:
        raise InvalidInputError(f"level must be one of {sorted(XAI_LEVELS)}")
    with session_scope(wh.sessions) as session:
        number = _dataset_version(session, owner_id, dataset_id, dataset_version)
        asked, model_version = model_version, None
        if model_id is not None:
            model = get_asset(session, AssetKind.MODEL, owner_id, model_id)
            model_version = get_version(session, model, asked).version
    if report_id is not None:
        with session_scope(wh.sessions) as session:
            existing = _existing(session, report_id)
            if existing is not None:
                return existing
    report_id = report_id or uuid.uuid4().hex
    obj = wh.storage.put(
        f"reports/{owner_id}/xai/{report_id}.html", html, limit=wh.settings.max_upload_bytes
    )
    try:
        if obj.size_bytes == 0:
            raise InvalidInputError("the XAI report file is empty")
        with session_scope(wh.sessions) as session:
            report = Report(
                report_id=report_id,
                kind=ReportKind.XAI.value,
                owner_id=owner_id,
                dataset_id=dataset_id,
                dataset_version=number,
                model_id=model_id,
                model_version=model_version,
                report_type=report_type,
                level=level,
                storage_key=obj.key,
                size_bytes=obj.size_bytes,
                sha256=obj.sha256,
            )
            session.add(report)
            payload = XAIReportCreated(
                user_id=owner_id,
                dataset_id=dataset_id,
                model_id=model_id,
                xai_report_id=report_id,
                report_type=report_type,
                level=level,
                **(event_extra or {}),
            )
            add_event(session, payload, subject=f"xai-reports/{report_id}")
    except BaseException:
        wh.storage.delete(obj.key)
        raise
    return report


def get_report(session: Session, kind: ReportKind, owner_id: str | None, report_id: str) -> Report:
    stmt = select(Report).where(Report.kind == kind.value, Report.report_id == report_id)
    if owner_id is not None:
        stmt = stmt.where(Report.owner_id == owner_id)
    report = session.scalars(stmt).one_or_none()
    if report is None:
        raise NotFoundError(f"{kind.value} report {report_id!r} not found")
    return report


def list_reports(
    session: Session,
    kind: ReportKind,
    owner_id: str | None,
    dataset_id: str | None = None,
    limit: int = 50,
    cursor: int | None = None,
) -> tuple[list[Report], int | None]:
    stmt = select(Report).where(Report.kind == kind.value)
    if owner_id is not None:
        stmt = stmt.where(Report.owner_id == owner_id)
    if dataset_id is not None:
        stmt = stmt.where(Report.dataset_id == dataset_id)
    if cursor is not None:
        stmt = stmt.where(Report.pk < cursor)
    items = list(session.scalars(stmt.order_by(Report.pk.desc()).limit(limit + 1)))
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].pk if more and items else None)
