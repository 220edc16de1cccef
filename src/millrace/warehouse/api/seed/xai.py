"""Seed 004's XAI report routes: HTML uploads found again by dataset, model, type and level.

Uploads go through ``create_xai_report``, so a partner's report announces itself on
``xai-events`` as one from Millrace's own xai agent does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response, StreamingResponse

from millrace.exceptions import InvalidInputError, NotFoundError
from millrace.warehouse import reports
from millrace.warehouse.api.deps import CurrentUser, WarehouseDep
from millrace.warehouse.api.routes.reports import _SANDBOX
from millrace.warehouse.api.seed.common import version_number
from millrace.warehouse.api.seed.shapes import XAIReportResponse
from millrace.warehouse.db import read_scope
from millrace.warehouse.models import Report, ReportKind
from millrace.warehouse.seed_store import delete_reports, find_reports
from millrace.warehouse.users import acting_owner

__all__ = ["router"]

router = APIRouter(prefix="/xai-reports", tags=["seed 004: xai-reports"])
Text = Annotated[str | None, Form()]
ONE = "/{user_id}/{dataset_id}/{model_id}/{report_type}/{level}"


def _check(report_type: str, level: str) -> None:
    if report_type not in reports.XAI_TYPES:
        raise InvalidInputError(f"report_type must be one of {sorted(reports.XAI_TYPES)}")
    if level not in reports.XAI_LEVELS:
        raise InvalidInputError(f"level must be one of {sorted(reports.XAI_LEVELS)}")


@router.post("/upload/{user_id}", response_model=XAIReportResponse)
def upload(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    file: Annotated[UploadFile, File(description="The report as HTML")],
    dataset_id: Annotated[str, Form()],
    report_type: Annotated[str, Form(description="model_explanation | data_explanation")],
    level: Annotated[str, Form(description="beginner | expert")],
    model_id: Text = None,
    dataset_version: Text = None,
    model_version: Text = None,
) -> Any:
    owner_id = acting_owner(wh, user, user_id)
    _check(report_type, level)
    row = reports.create_xai_report(
        wh,
        owner_id=owner_id,
        dataset_id=dataset_id,
        dataset_version=version_number(dataset_version),
        model_id=model_id or None,
        model_version=version_number(model_version),
        report_type=report_type,
        level=level,
        html=file.file,
    )
    return XAIReportResponse.of(row)


@dataclass(kw_only=True)
class XAIScope:
    """One user's XAI reports for a dataset and model, as the list route's parameters.

    FastAPI reads the fields as parameters (``Depends()`` on the class): the names in the
    route's path become path parameters, the rest query ones. The types stay plain ``str``
    because FastAPI resolves a class's annotations without its module's names.
    """

    user_id: str
    dataset_id: str
    model_id: str
    dataset_version: str | None = None
    model_version: str | None = None


@dataclass(kw_only=True)
class XAIQuery(XAIScope):
    """One report of that scope: the single-report routes also name its type and level."""

    report_type: str
    level: str


ScopeDep = Annotated[XAIScope, Depends()]
QueryDep = Annotated[XAIQuery, Depends()]


def _find(wh: WarehouseDep, user: CurrentUser, q: XAIScope) -> list[Report]:
    owner_id = acting_owner(wh, user, q.user_id)
    report_type = level = None
    if isinstance(q, XAIQuery):
        _check(q.report_type, q.level)
        report_type, level = q.report_type, q.level
    with read_scope(wh.sessions) as session:
        return find_reports(
            session,
            ReportKind.XAI,
            owner_id,
            q.dataset_id,
            dataset_version=version_number(q.dataset_version),
            model_id=q.model_id,
            model_version=version_number(q.model_version),
            report_type=report_type,
            level=level,
        )


def _newest(found: list[Report], q: XAIScope) -> Report:
    if not found:
        which = ""
        if q.dataset_version or q.model_version:
            which = (
                f" for dataset {q.dataset_version or 'latest'}"
                f" and model {q.model_version or 'latest'}"
            )
        raise NotFoundError(f"XAI report not found{which}")
    return found[0]


@router.get("/{user_id}/{dataset_id}/{model_id}", response_model=list[XAIReportResponse])
def list_(wh: WarehouseDep, user: CurrentUser, q: ScopeDep) -> Any:
    return [XAIReportResponse.of(r) for r in _find(wh, user, q)]


@router.get(ONE, response_model=XAIReportResponse)
def get(wh: WarehouseDep, user: CurrentUser, q: QueryDep) -> Any:
    return XAIReportResponse.of(_newest(_find(wh, user, q), q))


@router.get(ONE + "/view", response_class=Response)
def view(wh: WarehouseDep, user: CurrentUser, q: QueryDep) -> StreamingResponse:
    """The HTML, sandboxed: it is someone else's markup served on this origin."""
    key = _newest(_find(wh, user, q), q).storage_key
    if key is None:
        raise NotFoundError("the XAI report has no HTML")
    return StreamingResponse(
        wh.storage.iter_bytes(key), media_type="text/html; charset=utf-8", headers=_SANDBOX
    )


@router.delete(ONE)
def delete(wh: WarehouseDep, user: CurrentUser, q: QueryDep) -> dict[str, Any]:
    delete_reports(wh, [_newest(_find(wh, user, q), q).report_id])
    # Spelled out, not ``asdict(q)``: the seed's clients get the keys in the seed's order.
    return {
        "message": "XAI report deleted successfully",
        "user_id": q.user_id,
        "dataset_id": q.dataset_id,
        "model_id": q.model_id,
        "report_type": q.report_type,
        "level": q.level,
        "dataset_version": q.dataset_version,
        "model_version": q.model_version,
    }
