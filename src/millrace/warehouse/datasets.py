"""Dataset uploads: files or a zipped folder become a new dataset version.

Journey hints (target column, task type, sensitive columns, time budget, the favourable
label and privileged groups of the bias report, the AutoML metric) are optional at upload
time; they ride along in the version's attributes and in ``dataset.uploaded`` so the core
agent can start at once, or wait in ``needs_input`` when they are missing.
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
from millrace.warehouse.seed_shapes import dataset_event_body

__all__ = ["JourneyHints", "TaskType", "upload_dataset"]

TaskType = str  # "classification" | "regression" | "forecasting"
_TASKS = {"classification", "regression", "forecasting"}
_STEPS = {"bias", "automl", "xai"}


# The longest a journey may train. Kafka consumers derive their poll interval from it
# (events/kafka.py), so a long AutoML run never costs the agent its partitions.
MAX_TIME_BUDGET_S = 12 * 3600


def _label_text(value: Any) -> Any:
    """Labels and group names compare as text (``1``, ``1.0`` and ``"1"`` are one label),
    as the bias report reads them; JSON numbers and booleans become that text here."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return value


class JourneyHints(BaseModel):
    target_column: str | None = None
    task_type: str | None = None
    sensitive_columns: list[str] = Field(default_factory=list)
    time_budget_s: float | None = Field(default=None, gt=0, le=MAX_TIME_BUDGET_S)
    # Steps this journey leaves to partner agents (seed 004's consumers) on top of those
    # MILLRACE_AGENTS leaves to them for the whole deployment.
    external_steps: list[str] = Field(default_factory=list)
    # The target value that is the favourable outcome (a loan granted, no recidivism).
    favorable_label: str | None = Field(default=None, min_length=1, max_length=256)
    # The reference group per sensitive attribute, e.g. {"sex": "Male"}.
    privileged_groups: dict[str, str] = Field(default_factory=dict)
    # The AutoML metric; the AutoML agent checks the name against the task.
    metric: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("task_type")
    @classmethod
    def _task(cls, value: str | None) -> str | None:
        if value is not None and value not in _TASKS:
            raise ValueError(f"task_type must be one of {sorted(_TASKS)}")
        return value

    @field_validator("external_steps")
    @classmethod
    def _external(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - _STEPS)
        if unknown:
            raise ValueError(f"external_steps: {unknown} are not steps; use {sorted(_STEPS)}")
        return sorted(set(value))

    @field_validator("favorable_label", mode="before")
    @classmethod
    def _label(cls, value: Any) -> Any:
        return _label_text(value)

    @field_validator("privileged_groups", mode="before")
    @classmethod
    def _groups(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            return {k: _label_text(v) for k, v in value.items()}
        return value

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("metric must not be blank")
        return value.strip() if value is not None else None


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
            dataset=dataset_event_body(asset, version),
            external_steps=hints.external_steps or None,
            target_column_name=hints.target_column,
            task_type=hints.task_type,
            sensitive_columns=hints.sensitive_columns or None,
            time_budget_s=hints.time_budget_s,
            favorable_label=hints.favorable_label,
            privileged_groups=hints.privileged_groups or None,
            metric=hints.metric,
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
