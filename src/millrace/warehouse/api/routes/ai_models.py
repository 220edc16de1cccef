"""AI model routes at seed 004's paths (with and without ``/{user_id}``).

No ``from __future__ import annotations`` here: the endpoints are built in a loop and
FastAPI must evaluate their annotations, which refer to the loop's local variables.
"""

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status
from pydantic import ValidationError

from millrace.exceptions import InvalidInputError
from millrace.warehouse.ai_models import ModelFields, upload_model
from millrace.warehouse.api.deps import CurrentUser, WarehouseDep
from millrace.warehouse.api.routes.assets import asset_router
from millrace.warehouse.api.routes.forms import meta_from_form, upload_name, zip_files
from millrace.warehouse.api.schemas import AssetOut
from millrace.warehouse.assets import get_asset
from millrace.warehouse.db import session_scope
from millrace.warehouse.ids import id_from_filename
from millrace.warehouse.models import AssetKind, AssetVersion, User
from millrace.warehouse.users import acting_owner

__all__ = ["router"]

router = APIRouter()
Text = Annotated[str | None, Form()]
Num = Annotated[float | None, Form()]


def _fields(**values: object) -> ModelFields:
    try:
        return ModelFields.model_validate({k: v for k, v in values.items() if v not in (None, "")})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidInputError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def _owner(wh: WarehouseDep, user: User, path_user: str | None, form_user: str | None) -> str:
    if path_user and form_user and path_user != form_user:
        raise InvalidInputError("user_id in the path and in the form differ")
    return acting_owner(wh, user, path_user or form_user)


def _created(wh: WarehouseDep, owner_id: str, model_id: str, version: AssetVersion) -> AssetOut:
    with session_scope(wh.sessions) as session:
        asset = get_asset(session, AssetKind.MODEL, owner_id, model_id)
        return AssetOut.of(asset, next(v for v in asset.versions if v.pk == version.pk))


def _upload(
    wh: WarehouseDep,
    user: User,
    path_user: str | None,
    upload: UploadFile,
    folder: bool,
    form: dict[str, object],
) -> AssetOut:
    owner_id = _owner(wh, user, path_user, form.pop("user_id"))  # type: ignore[arg-type]
    preserve = bool(form.pop("preserve_structure", True))
    model_id = str(form.pop("model_id") or id_from_filename(upload_name(upload)))
    meta = meta_from_form(form.pop("name"), form.pop("description"), form.pop("tags"))  # type: ignore[arg-type]
    form.pop("version", None)  # seed clients send version=v1; Millrace allocates versions
    fields = _fields(**form)
    if folder:
        with zip_files(upload, wh.settings, preserve) as files:
            version = upload_model(
                wh,
                owner_id=owner_id,
                actor_id=user.id,
                model_id=model_id,
                files=files,
                meta=meta,
                fields=fields,
            )
    else:
        version = upload_model(
            wh,
            owner_id=owner_id,
            actor_id=user.id,
            model_id=model_id,
            files=[(upload_name(upload), upload.file)],
            meta=meta,
            fields=fields,
        )
    return _created(wh, owner_id, model_id, version)


def _register(folder: bool, with_user: bool) -> None:
    kind = "folder" if folder else "single"
    path = f"/ai-models/upload/{kind}" + ("/{user_id}" if with_user else "")
    part = "zip_file" if folder else "file"

    def endpoint(
        wh: WarehouseDep,
        user: CurrentUser,
        upload: Annotated[UploadFile, File(alias=part)],
        user_id: str | None = None,
        form_user_id: Annotated[str | None, Form(alias="user_id")] = None,
        model_id: Text = None,
        name: Text = None,
        description: Text = None,
        tags: Text = None,
        version: Text = None,
        framework: Text = None,
        model_type: Text = None,
        algorithm: Text = None,
        training_dataset: Text = None,
        training_dataset_version: Annotated[int | None, Form()] = None,
        training_accuracy: Num = None,
        validation_accuracy: Num = None,
        test_accuracy: Num = None,
        preserve_structure: Annotated[bool, Form()] = True,
    ) -> AssetOut:
        form: dict[str, object] = {
            "user_id": form_user_id,
            "model_id": model_id,
            "name": name,
            "description": description,
            "tags": tags,
            "version": version,
            "framework": framework,
            "model_type": model_type,
            "algorithm": algorithm,
            "training_dataset": training_dataset,
            "training_dataset_version": training_dataset_version,
            "training_accuracy": training_accuracy,
            "validation_accuracy": validation_accuracy,
            "test_accuracy": test_accuracy,
            "preserve_structure": preserve_structure,
        }
        return _upload(wh, user, user_id, upload, folder, form)

    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        response_model=AssetOut,
        status_code=status.HTTP_201_CREATED,
        tags=["ai-models"],
        summary=f"Upload a model ({kind}) as a new version",
        operation_id=f"upload_model_{kind}{'_for_user' if with_user else ''}",
    )


for _folder in (False, True):
    for _with_user in (False, True):
        _register(_folder, _with_user)

router.include_router(asset_router(AssetKind.MODEL, "/ai-models", "ai-models"))
