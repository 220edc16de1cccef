"""Dataset upload routes, at seed 004's paths, plus the shared read routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status
from pydantic import ValidationError

from millrace.exceptions import InvalidInputError
from millrace.warehouse.api.deps import CurrentUser, WarehouseDep
from millrace.warehouse.api.routes.assets import asset_router
from millrace.warehouse.api.routes.forms import (
    meta_from_form,
    parse_list,
    parse_map,
    upload_name,
    zip_files,
)
from millrace.warehouse.api.schemas import AssetOut
from millrace.warehouse.datasets import JourneyHints, upload_dataset
from millrace.warehouse.db import session_scope
from millrace.warehouse.ids import id_from_filename
from millrace.warehouse.models import AssetKind, AssetVersion
from millrace.warehouse.users import acting_owner

__all__ = ["router"]

router = APIRouter()
Text = Annotated[str | None, Form()]


def _hints(
    target_column: str | None,
    task_type: str | None,
    sensitive_columns: str | None,
    time_budget_s: float | None,
    favorable_label: str | None = None,
    privileged_groups: str | None = None,
    metric: str | None = None,
) -> JourneyHints:
    try:
        return JourneyHints(
            target_column=target_column or None,
            task_type=task_type or None,
            sensitive_columns=parse_list(sensitive_columns, "sensitive_columns") or [],
            time_budget_s=time_budget_s,
            favorable_label=favorable_label or None,
            privileged_groups=parse_map(privileged_groups, "privileged_groups") or {},
            metric=metric or None,
        )
    except ValidationError as exc:
        raise InvalidInputError(str(exc.errors()[0]["msg"]), field="journey") from None


def _created(wh: WarehouseDep, owner_id: str, dataset_id: str, version: AssetVersion) -> AssetOut:
    from millrace.warehouse.assets import get_asset

    with session_scope(wh.sessions) as session:
        asset = get_asset(session, AssetKind.DATASET, owner_id, dataset_id)
        fresh = next(v for v in asset.versions if v.pk == version.pk)
        return AssetOut.of(asset, fresh)


@router.post(
    "/datasets/upload/folder/{user_id}",
    response_model=AssetOut,
    status_code=status.HTTP_201_CREATED,
    tags=["datasets"],
    summary="Upload a folder (as a zip) as a new dataset version",
)
def upload_folder(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    zip_file: Annotated[UploadFile, File(description="A .zip of the folder")],
    dataset_id: Text = None,
    name: Text = None,
    description: Text = None,
    preserve_structure: Annotated[bool, Form()] = True,
    tags: Text = None,
    target_column: Text = None,
    task_type: Text = None,
    sensitive_columns: Text = None,
    time_budget_s: Annotated[float | None, Form()] = None,
    favorable_label: Annotated[
        str | None, Form(description="The target value that is the favourable outcome")
    ] = None,
    privileged_groups: Annotated[
        str | None,
        Form(description='Reference group per sensitive column: {"sex": "Male"} or sex=Male'),
    ] = None,
    metric: Annotated[str | None, Form(description="The AutoML metric, e.g. roc_auc")] = None,
    encoding: Annotated[str, Form()] = "utf-8",
) -> AssetOut:
    owner_id = acting_owner(wh, user, user_id)
    ds_id = dataset_id or id_from_filename(upload_name(zip_file))
    hints = _hints(
        target_column,
        task_type,
        sensitive_columns,
        time_budget_s,
        favorable_label,
        privileged_groups,
        metric,
    )
    with zip_files(zip_file, wh.settings, preserve_structure) as files:
        version = upload_dataset(
            wh,
            owner_id=owner_id,
            actor_id=user.id,
            dataset_id=ds_id,
            files=files,
            meta=meta_from_form(name, description, tags),
            hints=hints,
            encoding=encoding,
        )
    return _created(wh, owner_id, ds_id, version)


@router.post(
    "/datasets/upload/{user_id}",
    response_model=AssetOut,
    status_code=status.HTTP_201_CREATED,
    tags=["datasets"],
    summary="Upload one file as a new dataset version",
)
def upload_file(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    file: Annotated[UploadFile, File(description="CSV, Parquet, XLSX or any file")],
    dataset_id: Text = None,
    name: Text = None,
    description: Text = None,
    tags: Text = None,
    target_column: Text = None,
    task_type: Text = None,
    sensitive_columns: Text = None,
    time_budget_s: Annotated[float | None, Form()] = None,
    favorable_label: Annotated[
        str | None, Form(description="The target value that is the favourable outcome")
    ] = None,
    privileged_groups: Annotated[
        str | None,
        Form(description='Reference group per sensitive column: {"sex": "Male"} or sex=Male'),
    ] = None,
    metric: Annotated[str | None, Form(description="The AutoML metric, e.g. roc_auc")] = None,
    encoding: Annotated[str, Form()] = "utf-8",
) -> AssetOut:
    owner_id = acting_owner(wh, user, user_id)
    filename = upload_name(file)
    ds_id = dataset_id or id_from_filename(filename)
    hints = _hints(
        target_column,
        task_type,
        sensitive_columns,
        time_budget_s,
        favorable_label,
        privileged_groups,
        metric,
    )
    version = upload_dataset(
        wh,
        owner_id=owner_id,
        actor_id=user.id,
        dataset_id=ds_id,
        files=[(filename, file.file)],
        meta=meta_from_form(name, description, tags),
        hints=hints,
        encoding=encoding,
    )
    return _created(wh, owner_id, ds_id, version)


router.include_router(asset_router(AssetKind.DATASET, "/datasets", "datasets"))
