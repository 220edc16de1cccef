"""Seed 004's AI model routes: uploads with its form fields, reads with ``?version=``.

As in the seed, a read without ``version`` means ``v1``. Uploads go through
``upload_model``, so a partner's upload with ``training_dataset`` announces
``model.uploaded`` exactly as Millrace's own automl agent does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationError

from millrace.exceptions import InvalidInputError
from millrace.warehouse import assets
from millrace.warehouse.ai_models import ModelFields, upload_model
from millrace.warehouse.api.deps import CurrentUser, WarehouseDep
from millrace.warehouse.api.routes.forms import meta_from_form, parse_list, upload_name, zip_files
from millrace.warehouse.api.seed.common import download, find
from millrace.warehouse.api.seed.shapes import ModelFile, ModelResponse
from millrace.warehouse.db import read_scope, session_scope
from millrace.warehouse.ids import id_from_filename
from millrace.warehouse.models import AssetKind, User
from millrace.warehouse.seed_store import list_versions, set_version_attributes
from millrace.warehouse.users import acting_owner

__all__ = ["router"]

router = APIRouter(prefix="/ai-models", tags=["seed 004: ai-models"])
KIND = AssetKind.MODEL
Text = Annotated[str | None, Form()]
Num = Annotated[float | None, Form()]
Version = Annotated[str, Query(description="v1, v2, ... (the seed's default is v1)")]
Skip = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=1000)]
_ACCURACY = Field(default=None, ge=0, le=1)


class ModelUpdate(BaseModel):
    name: str | None = Field(default=None, max_length=256)
    description: str | None = None
    algorithm: str | None = None
    input_shape: list[int] | None = None
    output_shape: list[int] | None = None
    training_dataset: str | None = None
    training_accuracy: float | None = _ACCURACY
    validation_accuracy: float | None = _ACCURACY
    test_accuracy: float | None = _ACCURACY
    training_loss: float | None = None
    python_version: str | None = None
    dependencies: list[str] | None = None
    hardware_requirements: str | None = None
    tags: list[str] | None = None
    custom_metadata: dict[str, Any] | None = None
    is_active: bool | None = None
    is_production_ready: bool | None = None


def _fields(values: dict[str, Any]) -> ModelFields:
    try:
        return ModelFields.model_validate({k: v for k, v in values.items() if v not in (None, "")})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidInputError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def _owner(wh: WarehouseDep, user: User, path_user: str | None, form_user: str | None) -> str:
    if path_user and form_user and path_user != form_user:
        raise InvalidInputError("user_id in the path and in the form differ")
    return acting_owner(wh, user, path_user or form_user)


def _response(wh: WarehouseDep, owner_id: str, model_id: str, version: str) -> Any:
    with read_scope(wh.sessions) as session:
        return ModelResponse.of(*find(session, KIND, owner_id, model_id, version))


def _upload(
    wh: WarehouseDep,
    user: User,
    owner_id: str,
    upload: UploadFile,
    form: dict[str, Any],
    folder: bool,
) -> Any:
    model_id = form.pop("model_id") or id_from_filename(upload_name(upload))
    meta = meta_from_form(form.pop("name"), form.pop("description"), form.pop("tags"))
    preserve = bool(form.pop("preserve_structure"))
    extra = {k: form.pop(k) for k in ("training_loss", "python_version", "hardware_requirements")}
    common = {
        "owner_id": owner_id,
        "actor_id": user.id,
        "model_id": model_id,
        "meta": meta,
        "fields": _fields(form),
        "attributes": {k: v for k, v in extra.items() if v not in (None, "")},
    }
    if folder:
        with zip_files(upload, wh.settings, preserve) as files:
            made = upload_model(wh, files=files, **common)
    else:
        made = upload_model(wh, files=[(upload_name(upload), upload.file)], **common)
    return _response(wh, owner_id, model_id, str(made.version))


def _form(
    model_id: Text = None,
    name: Text = None,
    description: Text = None,
    framework: Text = None,
    model_type: Text = None,
    algorithm: Text = None,
    tags: Text = None,
    training_dataset: Text = None,
    training_dataset_version: Annotated[int | None, Form()] = None,
    training_accuracy: Num = None,
    validation_accuracy: Num = None,
    test_accuracy: Num = None,
    training_loss: Num = None,
    python_version: Text = None,
    hardware_requirements: Text = None,
    preserve_structure: Annotated[bool, Form()] = True,
    version: Text = None,  # the seed's clients send v1; Millrace numbers versions itself
    is_primary: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    del version, is_primary
    return dict(locals())


Fields = Annotated[dict[str, Any], Depends(_form)]


def upload_single(
    wh: WarehouseDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File()],
    form: Fields,
    user_id: str | None = None,
    form_user_id: Annotated[str | None, Form(alias="user_id")] = None,
) -> Any:
    owner_id = _owner(wh, user, user_id, form_user_id)
    return _upload(wh, user, owner_id, file, form, folder=False)


def upload_folder(
    wh: WarehouseDep,
    user: CurrentUser,
    zip_file: Annotated[UploadFile, File()],
    form: Fields,
    user_id: str | None = None,
    form_user_id: Annotated[str | None, Form(alias="user_id")] = None,
) -> Any:
    owner_id = _owner(wh, user, user_id, form_user_id)
    return _upload(wh, user, owner_id, zip_file, form, folder=True)


for _path, _endpoint in (
    ("/upload/single", upload_single),
    ("/upload/single/{user_id}", upload_single),
    ("/upload/folder", upload_folder),
    ("/upload/folder/{user_id}", upload_folder),
):
    router.add_api_route(_path, _endpoint, methods=["POST"], response_model=ModelResponse)


@router.get("/search/{user_id}", response_model=list[ModelResponse])
def search(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    query: str | None = None,
    framework: str | None = None,
    model_type: str | None = None,
    tags: str | None = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> Any:
    owner_id = acting_owner(wh, user, user_id)
    wanted = set(parse_list(tags, "tags") or [])
    with read_scope(wh.sessions) as session:
        found = [ModelResponse.of(a, v) for a, v in list_versions(session, KIND, owner_id, query)]
    found = [
        m
        for m in found
        if (framework is None or m.framework == framework)
        and (model_type is None or m.model_type == model_type)
        and (not wanted or wanted & set(m.tags))
    ]
    return found[skip : skip + limit]


@router.get("/{user_id}", response_model=list[ModelResponse])
def list_(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    skip: Skip = 0,
    limit: Limit = 100,
    framework: str | None = None,
    model_type: str | None = None,
    tags: str | None = None,
) -> Any:
    return search(wh, user, user_id, None, framework, model_type, tags, skip, limit)


@router.get("/{user_id}/{model_id}", response_model=ModelResponse)
def get(
    wh: WarehouseDep, user: CurrentUser, user_id: str, model_id: str, version: Version = "v1"
) -> Any:
    return _response(wh, acting_owner(wh, user, user_id), model_id, version)


@router.get("/{user_id}/{model_id}/download", response_class=StreamingResponse)
def download_(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    model_id: str,
    version: Version = "v1",
    filename: str | None = None,
) -> StreamingResponse:
    owner_id = acting_owner(wh, user, user_id)
    return download(wh, KIND, owner_id, model_id, version, filename, single_as_zip=True)


@router.put("/{user_id}/{model_id}", response_model=ModelResponse)
def update(
    wh: WarehouseDep,
    user: CurrentUser,
    user_id: str,
    model_id: str,
    body: ModelUpdate,
    version: Version = "v1",
) -> Any:
    owner_id = acting_owner(wh, user, user_id)
    changes = body.model_dump(exclude_unset=True, exclude={"name", "description", "tags"})
    if body.training_dataset is not None:
        _fields({"training_dataset": body.training_dataset})
    with session_scope(wh.sessions) as session:
        asset, found = find(session, KIND, owner_id, model_id, version)
        meta = assets.AssetMeta(name=body.name, description=body.description, tags=body.tags)
        assets.update_meta(session, asset, meta)
        set_version_attributes(found, changes)
    return _response(wh, owner_id, model_id, version)


@router.delete("/{user_id}/{model_id}")
def delete(
    wh: WarehouseDep, user: CurrentUser, user_id: str, model_id: str, version: Version = "v1"
) -> dict[str, str]:
    owner_id = acting_owner(wh, user, user_id)
    with read_scope(wh.sessions) as session:
        number = find(session, KIND, owner_id, model_id, version)[1].version
    assets.delete_version(wh, kind=KIND, owner_id=owner_id, asset_id=model_id, version=number)
    return {"message": "Model deleted successfully"}


@router.get("/{user_id}/{model_id}/files", response_model=list[ModelFile])
def files(
    wh: WarehouseDep, user: CurrentUser, user_id: str, model_id: str, version: Version = "v1"
) -> Any:
    owner_id = acting_owner(wh, user, user_id)
    with read_scope(wh.sessions) as session:
        asset, found = find(session, KIND, owner_id, model_id, version)
        return [ModelFile.of(asset, found, f) for f in found.files]
