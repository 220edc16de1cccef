"""AI model uploads with seed 004's metadata fields and its ``model.uploaded`` event."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, BinaryIO

from pydantic import BaseModel, Field

from millrace.events.topics import ModelUploaded
from millrace.warehouse.assets import AssetMeta, create_version
from millrace.warehouse.context import Warehouse
from millrace.warehouse.ids import check_id, version_label
from millrace.warehouse.models import Asset, AssetKind, AssetVersion

__all__ = ["ModelFields", "model_uploaded", "upload_model"]

_Accuracy = Field(default=None, ge=0, le=1)


class ModelFields(BaseModel):
    framework: str | None = None
    model_type: str | None = None
    algorithm: str | None = None
    training_dataset: str | None = None
    training_dataset_version: int | None = None
    training_accuracy: float | None = _Accuracy
    validation_accuracy: float | None = _Accuracy
    test_accuracy: float | None = _Accuracy


def model_uploaded(
    owner_id: str,
    model_id: str,
    version: int,
    size_bytes: int,
    fields: ModelFields,
    extra: dict[str, Any] | None = None,
    file_count: int = 1,
) -> tuple[ModelUploaded, str]:
    """The ``model.uploaded`` event of one stored version, and its subject. Several files
    make it the seed's folder upload (``is_model_folder``)."""
    payload = ModelUploaded(
        user_id=owner_id,
        model_id=model_id,
        dataset_id=fields.training_dataset,
        version=version_label(version),
        framework=fields.framework,
        model_type=fields.model_type,
        algorithm=fields.algorithm,
        model_size_mb=round(size_bytes / 1024**2, 3),
        training_accuracy=fields.training_accuracy,
        validation_accuracy=fields.validation_accuracy,
        test_accuracy=fields.test_accuracy,
        is_model_folder=file_count > 1,
        model_file_count=file_count,
        **(extra or {}),
    )
    return payload, f"models/{owner_id}/{model_id}/{version}"


def upload_model(
    wh: Warehouse,
    *,
    owner_id: str,
    actor_id: str,
    model_id: str,
    files: Iterable[tuple[str, BinaryIO]],
    meta: AssetMeta,
    fields: ModelFields,
    attributes: dict[str, Any] | None = None,
    event_extra: dict[str, Any] | None = None,
    announce: bool = True,
) -> AssetVersion:
    """``attributes`` add to the stored fields (leaderboards, lineage); ``event_extra`` adds
    optional fields to ``model.uploaded`` (seed consumers ignore fields they do not know).

    ``announce=False`` stores the version without its event: the automl agent announces
    the model only once it is registered in MLflow too (``model_uploaded``).
    """
    if fields.training_dataset is not None:
        check_id(fields.training_dataset, "training_dataset")

    def announce_version(asset: Asset, version: AssetVersion) -> tuple[ModelUploaded, str]:
        return model_uploaded(
            asset.owner_id,
            asset.asset_id,
            version.version,
            version.size_bytes,
            fields,
            event_extra,
            file_count=version.file_count,
        )

    return create_version(
        wh,
        kind=AssetKind.MODEL,
        owner_id=owner_id,
        actor_id=actor_id,
        asset_id=model_id,
        files=files,
        meta=meta,
        attributes={**fields.model_dump(), **(attributes or {})},
        make_event=announce_version if announce else None,
    )
