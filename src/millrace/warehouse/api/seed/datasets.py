"""Seed 004's dataset routes: the owner in the path, ``v1`` versions, the seed's bodies.

Uploads also take Millrace's journey hints (``target_column``, ``task_type``,
``sensitive_columns``, ``time_budget_s``, ``favorable_label``, ``privileged_groups``,
``metric``) and ``encoding``, as ``/api/v1`` does; a seed client never sends them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from millrace.warehouse import assets
from millrace.warehouse.api.deps import CurrentUser, WarehouseDep
from millrace.warehouse.api.routes.datasets import _hints
from millrace.warehouse.api.routes.forms import meta_from_form, parse_list, upload_name, zip_files
from millrace.warehouse.api.seed.common import download, find, version_number
from millrace.warehouse.api.seed.shapes import DatasetFile, DatasetResponse
from millrace.warehouse.datasets import JourneyHints, upload_dataset
from millrace.warehouse.db import read_scope, session_scope
from millrace.warehouse.ids import id_from_filename
from millrace.warehouse.models import AssetKind, AssetVersion
from millrace.warehouse.seed_store import list_versions, set_version_attributes
from millrace.warehouse.users import acting_owner

__all__ = ["router"]

router = APIRouter(prefix="/datasets", tags=["seed 004: datasets"])
KIND = AssetKind.DATASET
Text = Annotated[str | None, Form()]
Skip = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=1000)]


def _journey(
    target_column: Text = None,
    task_type: Text = None,
    sensitive_columns: Text = None,
    time_budget_s: Annotated[float | None, Form()] = None,
    favorable_label: Text = None,
    privileged_groups: Text = None,
    metric: Text = None,
) -> JourneyHints:
    return _hints(
        target_column,
        task_type,
        sensitive_columns,
        time_budget_s,
        favorable_label,
        privileged_groups,
        metric,
    )


Hints = Annotated[JourneyHints, Depends(_journey)]


class DatasetUpdate(BaseModel):
    name: str | None = Field(default=None, max_length=256)
    description: str | None = None
    tags: list[str] | None = None
    custom_metadata: dict[str, Any] | None = None


def _response(wh: WarehouseDep, owner_id: str, dataset_id: str, version: str | None) -> Any:
    with read_scope(wh.sessions) as session:
        return DatasetResponse.of(*find(session, KIND, owner_id, dataset_id, version))


def _uploaded(wh: WarehouseDep, owner_id: str, dataset_id: str, made: AssetVersion) -> Any:
    return _response(wh, owner_id, dataset_id, str(made.version))


@router.post("/upload/{user_id}", response_model=DatasetResponse)
def upload(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    file: Annotated[UploadFile, File()],
    hints: Hints,
    dataset_id: Text = None,
    name: Text = None,
    description: Text = None,
    tags: Text = None,
    encoding: Annotated[str, Form()] = "utf-8",
) -> Any:
    owner_id = acting_owner(wh, user, user_id)
    filename = upload_name(file)
    ds_id = dataset_id or id_from_filename(filename)
    made = upload_dataset(
        wh,
        owner_id=owner_id,
        actor_id=user.id,
        dataset_id=ds_id,
        files=[(filename, file.file)],
        meta=meta_from_form(name, description, tags),
        hints=hints,
        encoding=encoding,
    )
    return _uploaded(wh, owner_id, ds_id, made)


@router.post("/upload/folder/{user_id}", response_model=DatasetResponse)
def upload_folder(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    zip_file: Annotated[UploadFile, File()],
    hints: Hints,
    dataset_id: Text = None,
    name: Text = None,
    description: Text = None,
    preserve_structure: Annotated[bool, Form()] = True,
    tags: Text = None,
    encoding: Annotated[str, Form()] = "utf-8",
) -> Any:
    owner_id = acting_owner(wh, user, user_id)
    ds_id = dataset_id or id_from_filename(upload_name(zip_file))
    with zip_files(zip_file, wh.settings, preserve_structure) as files:
        made = upload_dataset(
            wh,
            owner_id=owner_id,
            actor_id=user.id,
            dataset_id=ds_id,
            files=files,
            meta=meta_from_form(name, description, tags),
            hints=hints,
            encoding=encoding,
        )
    return _uploaded(wh, owner_id, ds_id, made)


@router.get("/search/{user_id}", response_model=list[DatasetResponse])
def search(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    query: str | None = None,
    tags: str | None = None,
    file_type: str | None = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> Any:
    owner_id = acting_owner(wh, user, user_id)
    wanted = set(parse_list(tags, "tags") or [])
    with read_scope(wh.sessions) as session:
        found = [DatasetResponse.of(a, v) for a, v in list_versions(session, KIND, owner_id, query)]
    if wanted:
        found = [d for d in found if wanted & set(d.tags)]
    if file_type:
        found = [d for d in found if file_type.lower() in d.file_type.split(", ")]
    return found[skip : skip + limit]


@router.get("/{user_id}", response_model=list[DatasetResponse])
def list_(
    wh: WarehouseDep, user: CurrentUser, user_id: str, skip: Skip = 0, limit: Limit = 100
) -> Any:
    """Every version of every dataset, as the seed lists its documents."""
    return search(wh, user, user_id, skip=skip, limit=limit)


@router.get("/{user_id}/{dataset_id}", response_model=DatasetResponse)
def get(wh: WarehouseDep, user: CurrentUser, user_id: str, dataset_id: str) -> Any:
    return _response(wh, acting_owner(wh, user, user_id), dataset_id, None)


@router.put("/{user_id}/{dataset_id}", response_model=DatasetResponse)
def update(
    wh: WarehouseDep, user: CurrentUser, user_id: str, dataset_id: str, body: DatasetUpdate
) -> Any:
    owner_id = acting_owner(wh, user, user_id)
    with session_scope(wh.sessions) as session:
        asset = assets.get_asset(session, KIND, owner_id, dataset_id)
        meta = assets.AssetMeta(name=body.name, description=body.description, tags=body.tags)
        assets.update_meta(session, asset, meta)
        if body.custom_metadata is not None:
            for version in asset.versions:
                set_version_attributes(version, {"custom_metadata": body.custom_metadata})
    return _response(wh, owner_id, dataset_id, None)


@router.delete("/{user_id}/{dataset_id}")
def delete(wh: WarehouseDep, user: CurrentUser, user_id: str, dataset_id: str) -> dict[str, Any]:
    owner_id = acting_owner(wh, user, user_id)
    with read_scope(wh.sessions) as session:
        asset = assets.get_asset(session, KIND, owner_id, dataset_id)
        files = sum(v.file_count for v in asset.versions)
    versions = assets.delete_asset(wh, kind=KIND, owner_id=owner_id, asset_id=dataset_id)
    return {
        "message": f"All {versions} version(s) of dataset deleted successfully",
        "versions_deleted": versions,
        "files_deleted": files,
        "files_failed": 0,
    }


@router.get("/{user_id}/{dataset_id}/download", response_class=StreamingResponse)
def download_latest(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    dataset_id: str,
    filename: str | None = None,
    split: str | None = None,
) -> StreamingResponse:
    owner_id = acting_owner(wh, user, user_id)
    return download(wh, KIND, owner_id, dataset_id, None, filename, split=split)


@router.get("/{user_id}/{dataset_id}/version/{version}/download", response_class=StreamingResponse)
def download_version(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    dataset_id: str,
    version: str,
    filename: str | None = None,
    split: str | None = None,
) -> StreamingResponse:
    owner_id = acting_owner(wh, user, user_id)
    return download(wh, KIND, owner_id, dataset_id, version, filename, split=split)


@router.get("/{user_id}/{dataset_id}/files", response_model=list[DatasetFile])
def files(
    wh: WarehouseDep, user: CurrentUser, user_id: str, dataset_id: str, version: str | None = None
) -> Any:
    """A single-file version lists its one file, as the seed does."""
    owner_id = acting_owner(wh, user, user_id)
    with read_scope(wh.sessions) as session:
        asset, found = find(session, KIND, owner_id, dataset_id, version)
        return [DatasetFile.of(asset, found, f) for f in found.files]


@router.get("/{user_id}/{dataset_id}/versions", response_model=list[DatasetResponse])
def versions(wh: WarehouseDep, user: CurrentUser, user_id: str, dataset_id: str) -> Any:
    owner_id = acting_owner(wh, user, user_id)
    with read_scope(wh.sessions) as session:
        asset = assets.get_asset(session, KIND, owner_id, dataset_id)
        return [DatasetResponse.of(asset, v) for v in asset.versions]


@router.get("/{user_id}/{dataset_id}/version/{version}", response_model=DatasetResponse)
def get_version(
    wh: WarehouseDep, user: CurrentUser, user_id: str, dataset_id: str, version: str
) -> Any:
    version_number(version)  # a bad label is a 422 before any lookup
    return _response(wh, acting_owner(wh, user, user_id), dataset_id, version)


@router.delete("/{user_id}/{dataset_id}/version/{version}")
def delete_version(
    wh: WarehouseDep, user: CurrentUser, user_id: str, dataset_id: str, version: str
) -> dict[str, Any]:
    owner_id = acting_owner(wh, user, user_id)
    with read_scope(wh.sessions) as session:
        _, found = find(session, KIND, owner_id, dataset_id, version)
        number, count = found.version, found.file_count
    assets.delete_version(wh, kind=KIND, owner_id=owner_id, asset_id=dataset_id, version=number)
    return {
        "message": "Dataset deleted successfully",
        "files_deleted": count,
        "metadata_deleted": True,
    }
