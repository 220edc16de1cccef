"""Dataset uploads: files or a zipped folder become a new dataset version.

Journey hints (target column, task type, sensitive columns, time budget) are optional at
upload time; they ride along in the version's attributes and in ``dataset.uploaded`` so the
core agent can start at once, or wait in ``needs_input`` when they are missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, BinaryIO

from pydantic import BaseModel, Field, field_validator

from millrace.events.topics import DatasetUploaded
from millrace.warehouse.assets import AssetMeta, create_version
from millrace.warehouse.context import Warehouse
from millrace.warehouse.ids import version_label
from millrace.warehouse.models import Asset, AssetKind, AssetVersion

__all__ = ["JourneyHints", "TaskType", "upload_dataset"]

TaskType = str  # "classification" | "regression" | "forecasting"
_TASKS = {"classification", "regression", "forecasting"}


# The longest a journey may train. Kafka consumers derive their poll interval from it
# (events/kafka.py), so a long AutoML run never costs the agent its partitions.
MAX_TIME_BUDGET_S = 12 * 3600


class JourneyHints(BaseModel):
    target_column: str | None = None
    task_type: str | None = None
    sensitive_columns: list[str] = Field(default_factory=list)
    time_budget_s: float | None = Field(default=None, gt=0, le=MAX_TIME_BUDGET_S)

    @field_validator("task_type")
    @classmethod
    def _task(cls, value: str | None) -> str | None:
        if value is not None and value not in _TASKS:
            raise ValueError(f"task_type must be one of {sorted(_TASKS)}")
        return value


def upload_dataset(
    wh: Warehouse,
    *,
    owner_id: str,
    actor_id: str,
    dataset_id: str,
    files: Iterable[tuple[str, BinaryIO]],
    meta: AssetMeta,
    hints: JourneyHints,
    encoding: str = "utf-8",
) -> AssetVersion:
    def announce(asset: Asset, version: AssetVersion) -> tuple[DatasetUploaded, str]:
        payload = DatasetUploaded(
            user_id=asset.owner_id,
            dataset_id=asset.asset_id,
            version=version_label(version.version),
            name=asset.name,
            file_count=version.file_count,
            size_bytes=version.size_bytes,
            files=[f.path for f in version.files],
            target_column_name=hints.target_column,
            task_type=hints.task_type,
            sensitive_columns=hints.sensitive_columns or None,
            time_budget_s=hints.time_budget_s,
        )
        return payload, f"datasets/{asset.owner_id}/{asset.asset_id}/{version.version}"

    attributes: dict[str, Any] = {"journey": hints.model_dump(), "encoding": encoding}
    return create_version(
        wh,
        kind=AssetKind.DATASET,
        owner_id=owner_id,
        actor_id=actor_id,
        asset_id=dataset_id,
        files=files,
        meta=meta,
        attributes=attributes,
        encoding=encoding,
        make_event=announce,
    )
