"""Seed 004's bias and transformation report routes.

A report is any JSON (an object, a list, a number), as the seed took it. A bias report
goes through ``create_json_report``, so it announces itself on ``bias-events`` exactly as
one from Millrace's own bias agent, and a journey waiting on a partner sees it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from millrace.exceptions import NotFoundError
from millrace.warehouse import reports
from millrace.warehouse.api.deps import CurrentUser, WarehouseDep
from millrace.warehouse.api.schemas import VersionIn
from millrace.warehouse.api.seed.common import version_number
from millrace.warehouse.api.seed.shapes import BiasReportResponse, TransformationReportResponse
from millrace.warehouse.db import read_scope
from millrace.warehouse.ids import parse_version
from millrace.warehouse.models import Report, ReportKind
from millrace.warehouse.seed_store import delete_reports, find_reports
from millrace.warehouse.users import acting_owner

__all__ = ["router"]

router = APIRouter(tags=["seed 004: reports"])


class _ReportIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    user_id: str | None = None
    dataset_id: str
    report: Any = Field(description="Any JSON: an object, a list, a value")

    @model_validator(mode="after")
    def _has_report(self) -> _ReportIn:
        if self.report is None:
            raise ValueError("report is required: send the report's content in 'report'")
        return self


class BiasReportCreate(_ReportIn):
    dataset_version: VersionIn | None = None
    version: VersionIn | None = Field(default=None, description="Millrace's name for it")
    target_column_name: str | None = None
    task_type: str | None = None
    has_transformation_report: bool = False
    is_folder: bool | None = False
    file_count: int | None = 1


class TransformationReportCreate(_ReportIn):
    version: VersionIn


def _one(found: list[Report], what: str) -> Report:
    if not found:
        raise NotFoundError(f"{what} not found")
    return found[0]


def _find(
    wh: WarehouseDep, kind: ReportKind, owner_id: str, dataset_id: str, version: str | None
) -> list[Report]:
    with read_scope(wh.sessions) as session:
        return find_reports(
            session, kind, owner_id, dataset_id, dataset_version=version_number(version)
        )


@router.post("/bias-reports/", response_model=BiasReportResponse)
def create_bias(wh: WarehouseDep, user: CurrentUser, body: BiasReportCreate) -> Any:
    owner_id = acting_owner(wh, user, body.user_id)
    label = body.dataset_version if body.dataset_version is not None else body.version
    row = reports.create_json_report(
        wh,
        kind=ReportKind.BIAS,
        owner_id=owner_id,
        dataset_id=body.dataset_id,
        dataset_version=parse_version(label) if label is not None else None,
        content=body.report,
        target_column=body.target_column_name,
        task_type=body.task_type,
        has_transformation_report=body.has_transformation_report,
    )
    return BiasReportResponse.of(row)


@router.get("/bias-reports/{user_id}/{dataset_id}", response_model=BiasReportResponse)
def get_bias(
    wh: WarehouseDep, user: CurrentUser, user_id: str, dataset_id: str, version: str | None = None
) -> Any:
    """The newest report for the dataset version, or for the dataset when none is named."""
    found = _find(wh, ReportKind.BIAS, acting_owner(wh, user, user_id), dataset_id, version)
    what = f"Bias report for dataset {dataset_id}" + (f" version {version}" if version else "")
    return BiasReportResponse.of(_one(found, what))


@router.get("/bias-reports/{user_id}/{dataset_id}/all", response_model=list[BiasReportResponse])
def all_bias(wh: WarehouseDep, user: CurrentUser, user_id: str, dataset_id: str) -> Any:
    found = _find(wh, ReportKind.BIAS, acting_owner(wh, user, user_id), dataset_id, None)
    return [BiasReportResponse.of(r) for r in found]


@router.delete("/bias-reports/{user_id}/{dataset_id}")
def delete_bias(
    wh: WarehouseDep, user: CurrentUser, user_id: str, dataset_id: str, version: str | None = None
) -> dict[str, str]:
    found = _find(wh, ReportKind.BIAS, acting_owner(wh, user, user_id), dataset_id, version)
    _one(found, "Bias report" + (f" version {version}" if version else "s"))
    delete_reports(wh, [r.report_id for r in found])
    suffix = f" for version {version}" if version else "s"
    return {"message": f"Bias report{suffix} deleted successfully"}


@router.post("/transformation-reports/", response_model=TransformationReportResponse)
def create_transformation(
    wh: WarehouseDep, user: CurrentUser, body: TransformationReportCreate
) -> Any:
    owner_id = acting_owner(wh, user, body.user_id)
    row = reports.create_json_report(
        wh,
        kind=ReportKind.TRANSFORMATION,
        owner_id=owner_id,
        dataset_id=body.dataset_id,
        dataset_version=parse_version(body.version),
        content=body.report,
    )
    return TransformationReportResponse.of(row)


@router.get(
    "/transformation-reports/{user_id}/{dataset_id}/{version}",
    response_model=TransformationReportResponse,
)
def get_transformation(
    wh: WarehouseDep, user: CurrentUser, user_id: str, dataset_id: str, version: str
) -> Any:
    owner_id = acting_owner(wh, user, user_id)
    found = _find(wh, ReportKind.TRANSFORMATION, owner_id, dataset_id, version)
    return TransformationReportResponse.of(_one(found, "Transformation report"))


@router.delete("/transformation-reports/{user_id}/{dataset_id}/{version}")
def delete_transformation(
    wh: WarehouseDep, user: CurrentUser, user_id: str, dataset_id: str, version: str
) -> dict[str, str]:
    owner_id = acting_owner(wh, user, user_id)
    found = _find(wh, ReportKind.TRANSFORMATION, owner_id, dataset_id, version)
    delete_reports(wh, [_one(found, "Transformation report").report_id])
    return {"message": "Transformation report deleted successfully"}
