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

__all__ = ["ModelFields", "upload_model"]

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
) -> AssetVersion:
    """``attributes`` add to the stored fields (leaderboards, lineage); ``event_extra`` adds
    optional fields to ``model.uploaded`` (seed consumers ignore fields they do not know)."""
    if fields.training_dataset is not None:
        check_id(fields.training_dataset, "training_dataset")

    def announce(asset: Asset, version: AssetVersion) -> tuple[ModelUploaded, str]:
        payload = ModelUploaded(
            user_id=asset.owner_id,
            model_id=asset.asset_id,
            dataset_id=fields.training_dataset,
            version=version_label(version.version),
            framework=fields.framework,
            model_type=fields.model_type,
            algorithm=fields.algorithm,
            model_size_mb=round(version.size_bytes / 1024**2, 3),
            training_accuracy=fields.training_accuracy,
            validation_accuracy=fields.validation_accuracy,
            test_accuracy=fields.test_accuracy,
            **(event_extra or {}),
        )
        return payload, f"models/{asset.owner_id}/{asset.asset_id}/{version.version}"

    return create_version(
        wh,
        kind=AssetKind.MODEL,
        owner_id=owner_id,
        actor_id=actor_id,
        asset_id=model_id,
        files=files,
        meta=meta,
        attributes={**fields.model_dump(), **(attributes or {})},
        make_event=announce,
    )
