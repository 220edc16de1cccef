"""Seed 004's XAI report routes: HTML uploads found again by dataset, model, type and level.

Uploads go through ``create_xai_report``, so a partner's report announces itself on
``xai-events`` as one from Millrace's own xai agent does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
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


def _find(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    dataset_id: str,
    model_id: str,
    dataset_version: str | None,
    model_version: str | None,
    report_type: str | None = None,
    level: str | None = None,
) -> list[Report]:
    owner_id = acting_owner(wh, user, user_id)
    if report_type is not None and level is not None:
        _check(report_type, level)
    with read_scope(wh.sessions) as session:
        return find_reports(
            session,
            ReportKind.XAI,
            owner_id,
            dataset_id,
            dataset_version=version_number(dataset_version),
            model_id=model_id,
            model_version=version_number(model_version),
            report_type=report_type,
            level=level,
        )


def _newest(found: list[Report], dataset_version: str | None, model_version: str | None) -> Report:
    if not found:
        which = ""
        if dataset_version or model_version:
            which = (
                f" for dataset {dataset_version or 'latest'} and model {model_version or 'latest'}"
            )
        raise NotFoundError(f"XAI report not found{which}")
    return found[0]


@router.get("/{user_id}/{dataset_id}/{model_id}", response_model=list[XAIReportResponse])
def list_(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    dataset_id: str,
    model_id: str,
    dataset_version: str | None = None,
    model_version: str | None = None,
) -> Any:
    found = _find(wh, user, user_id, dataset_id, model_id, dataset_version, model_version)
    return [XAIReportResponse.of(r) for r in found]


@router.get(ONE, response_model=XAIReportResponse)
def get(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    dataset_id: str,
    model_id: str,
    report_type: str,
    level: str,
    dataset_version: str | None = None,
    model_version: str | None = None,
) -> Any:
    found = _find(
        wh, user, user_id, dataset_id, model_id, dataset_version, model_version, report_type, level
    )
    return XAIReportResponse.of(_newest(found, dataset_version, model_version))


@router.get(ONE + "/view", response_class=Response)
def view(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    dataset_id: str,
    model_id: str,
    report_type: str,
    level: str,
    dataset_version: str | None = None,
    model_version: str | None = None,
) -> StreamingResponse:
    """The HTML, sandboxed: it is someone else's markup served on this origin."""
    found = _find(
        wh, user, user_id, dataset_id, model_id, dataset_version, model_version, report_type, level
    )
    key = _newest(found, dataset_version, model_version).storage_key
    if key is None:
        raise NotFoundError("the XAI report has no HTML")
    return StreamingResponse(
        wh.storage.iter_bytes(key), media_type="text/html; charset=utf-8", headers=_SANDBOX
    )


@router.delete(ONE)
def delete(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    dataset_id: str,
    model_id: str,
    report_type: str,
    level: str,
    dataset_version: str | None = None,
    model_version: str | None = None,
) -> dict[str, Any]:
    found = _find(
        wh, user, user_id, dataset_id, model_id, dataset_version, model_version, report_type, level
    )
    delete_reports(wh, [_newest(found, dataset_version, model_version).report_id])
    return {
        "message": "XAI report deleted successfully",
        "user_id": user_id,
        "dataset_id": dataset_id,
        "model_id": model_id,
        "report_type": report_type,
        "level": level,
        "dataset_version": dataset_version,
        "model_version": model_version,
    }
