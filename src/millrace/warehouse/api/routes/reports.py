"""Bias, transformation and XAI report routes at seed 004's paths."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile, status
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from millrace.exceptions import InvalidInputError, NotFoundError
from millrace.warehouse import reports
from millrace.warehouse.api.deps import CurrentUser, WarehouseDep
from millrace.warehouse.api.routes.assets import ActFor, decode_cursor, encode_cursor
from millrace.warehouse.api.schemas import Page, ReportOut, VersionIn
from millrace.warehouse.db import session_scope
from millrace.warehouse.ids import parse_version
from millrace.warehouse.models import ReportKind
from millrace.warehouse.users import acting_owner

__all__ = ["router"]

router = APIRouter()

# Uploaded HTML is someone else's markup: serve it sandboxed so its scripts cannot act as
# the viewer on this origin.
_SANDBOX = {
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; "
    "style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


class JsonReportIn(BaseModel):
    """A report as partner clients post it: the known fields plus anything else."""

    model_config = ConfigDict(extra="allow")

    dataset_id: str
    user_id: str | None = None
    dataset_version: VersionIn | None = Field(default=None, alias="version")
    target_column_name: str | None = None
    task_type: str | None = None
    has_transformation_report: bool = False
    report: dict[str, Any] | None = None


def _json_routes(kind: ReportKind, prefix: str, tag: str) -> None:
    def create(wh: WarehouseDep, user: CurrentUser, body: JsonReportIn) -> ReportOut:
        owner_id = acting_owner(wh, user, body.user_id)
        content = body.report if body.report is not None else dict(body.model_extra or {})
        if not content:
            raise InvalidInputError("the report is empty: send its content in 'report'")
        version = parse_version(body.dataset_version) if body.dataset_version is not None else None
        row = reports.create_json_report(
            wh,
            kind=kind,
            owner_id=owner_id,
            dataset_id=body.dataset_id,
            dataset_version=version,
            content=content,
            target_column=body.target_column_name,
            task_type=body.task_type,
            has_transformation_report=body.has_transformation_report,
        )
        return ReportOut.of(row)

    router.add_api_route(
        f"{prefix}/",
        create,
        methods=["POST"],
        response_model=ReportOut,
        status_code=status.HTTP_201_CREATED,
        tags=[tag],
        summary=f"Store a {kind.value} report for a dataset version",
    )
    _read_routes(kind, prefix, tag)


def _read_routes(kind: ReportKind, prefix: str, tag: str) -> None:
    def list_(
        wh: WarehouseDep,
        user: CurrentUser,
        dataset_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        user_id: ActFor = None,
    ) -> Page[ReportOut]:
        owner_id = acting_owner(wh, user, user_id)
        with session_scope(wh.sessions) as session:
            items, nxt = reports.list_reports(
                session, kind, owner_id, dataset_id, min(max(limit, 1), 500), decode_cursor(cursor)
            )
            return Page(items=[ReportOut.of(r) for r in items], next_cursor=encode_cursor(nxt))

    def get(
        wh: WarehouseDep, user: CurrentUser, report_id: str, user_id: ActFor = None
    ) -> ReportOut:
        owner_id = acting_owner(wh, user, user_id)
        with session_scope(wh.sessions) as session:
            return ReportOut.of(reports.get_report(session, kind, owner_id, report_id))

    router.add_api_route(
        prefix,
        list_,
        methods=["GET"],
        response_model=Page[ReportOut],
        tags=[tag],
        summary=f"List {kind.value} reports",
    )
    router.add_api_route(
        f"{prefix}/{{report_id}}", get, methods=["GET"], response_model=ReportOut, tags=[tag]
    )


_json_routes(ReportKind.BIAS, "/bias-reports", "reports")
_json_routes(ReportKind.TRANSFORMATION, "/transformation-reports", "reports")


@router.post(
    "/xai-reports/upload/{user_id}",
    response_model=ReportOut,
    status_code=status.HTTP_201_CREATED,
    tags=["reports"],
    summary="Upload an XAI report (HTML)",
)
def upload_xai(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    file: Annotated[UploadFile, File(description="The report as HTML")],
    dataset_id: Annotated[str, Form()],
    report_type: Annotated[str, Form(description="model_explanation | data_explanation")],
    level: Annotated[str, Form(description="beginner | expert")],
    model_id: Annotated[str | None, Form()] = None,
    dataset_version: Annotated[str | None, Form()] = None,
) -> ReportOut:
    owner_id = acting_owner(wh, user, user_id)
    row = reports.create_xai_report(
        wh,
        owner_id=owner_id,
        dataset_id=dataset_id,
        dataset_version=parse_version(dataset_version) if dataset_version else None,
        model_id=model_id or None,
        report_type=report_type,
        level=level,
        html=file.file,
    )
    return ReportOut.of(row)


_read_routes(ReportKind.XAI, "/xai-reports", "reports")


def _view(kind: ReportKind, prefix: str) -> None:
    def view(
        wh: WarehouseDep, user: CurrentUser, report_id: str, user_id: ActFor = None
    ) -> StreamingResponse:
        owner_id = acting_owner(wh, user, user_id)
        with session_scope(wh.sessions) as session:
            key = reports.get_report(session, kind, owner_id, report_id).storage_key
        if key is None:
            raise NotFoundError(f"{kind.value} report {report_id!r} has no HTML view")
        return StreamingResponse(
            wh.storage.iter_bytes(key), media_type="text/html; charset=utf-8", headers=_SANDBOX
        )

    router.add_api_route(
        f"{prefix}/{{report_id}}/view",
        view,
        methods=["GET"],
        response_class=Response,
        tags=["reports"],
        summary=f"The {kind.value} report's HTML, sandboxed",
    )


_view(ReportKind.XAI, "/xai-reports")
_view(ReportKind.BIAS, "/bias-reports")
