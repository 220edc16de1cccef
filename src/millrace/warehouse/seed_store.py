"""The lookups seed 004's routes need beyond Millrace's own by-id API.

The seed addresses everything by owner and name (``/datasets/{user_id}/{dataset_id}``,
``/xai-reports/{user}/{dataset}/{model}/{type}/{level}``) and lists every version as its
own document; these queries answer those questions over the same tables.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import Asset, AssetKind, AssetVersion, Report, ReportKind

__all__ = ["delete_reports", "find_reports", "list_versions", "set_version_attributes"]


def list_versions(
    session: Session, kind: AssetKind, owner_id: str, query: str | None = None
) -> list[tuple[Asset, AssetVersion]]:
    """Every version of the owner's assets, newest asset first, newest version first;
    ``query`` matches id, name or description, as the seed's search does."""
    stmt = (
        select(Asset, AssetVersion)
        .join(AssetVersion, AssetVersion.asset_pk == Asset.pk)
        .where(Asset.kind == kind.value, Asset.owner_id == owner_id)
        .order_by(Asset.pk.desc(), AssetVersion.version.desc())
    )
    rows = [(a, v) for a, v in session.execute(stmt).all()]
    if not query:
        return rows
    needle = query.lower()
    return [
        (a, v)
        for a, v in rows
        if needle in a.asset_id.lower()
        or needle in a.name.lower()
        or needle in a.description.lower()
        or needle in str(v.attributes.get("algorithm") or "").lower()
    ]


def set_version_attributes(version: AssetVersion, values: dict[str, Any]) -> None:
    """Merge into a version's attributes (a new dict, so the JSON column sees the change)."""
    version.attributes = {**version.attributes, **values}


def find_reports(
    session: Session,
    kind: ReportKind,
    owner_id: str,
    dataset_id: str,
    *,
    dataset_version: int | None = None,
    model_id: str | None = None,
    model_version: int | None = None,
    report_type: str | None = None,
    level: str | None = None,
) -> list[Report]:
    """The owner's reports of one kind on a dataset, newest first, narrowed by what is given."""
    stmt = select(Report).where(
        Report.kind == kind.value, Report.owner_id == owner_id, Report.dataset_id == dataset_id
    )
    for column, value in (
        (Report.dataset_version, dataset_version),
        (Report.model_id, model_id),
        (Report.model_version, model_version),
        (Report.report_type, report_type),
        (Report.level, level),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return list(session.scalars(stmt.order_by(Report.pk.desc())))


def delete_reports(wh: Warehouse, report_ids: list[str]) -> int:
    """Forget the rows first, then their HTML: a crash between leaves garbage, not a
    report pointing at nothing."""
    with session_scope(wh.sessions) as session:
        rows = list(session.scalars(select(Report).where(Report.report_id.in_(report_ids))))
        keys = [r.storage_key for r in rows if r.storage_key]
        for row in rows:
            session.delete(row)
    for key in keys:
        wh.storage.delete(key)
    return len(rows)
