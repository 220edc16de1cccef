"""Seed 004's response bodies, built from Millrace's rows.

Field names and types are the seed's (``dataset_id``, ``version: "v1"``, ``file_size``),
so a partner client parses them unchanged. Where Millrace keeps something else the value
is mapped, never invented: ``file_hash`` is the SHA-256 Millrace computes (the seed used
MD5), ``file_path`` is the logical ``{kind}s/{user}/{id}/v{n}/{file}`` path.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from millrace.warehouse.api.schemas import Timestamp
from millrace.warehouse.ids import version_label
from millrace.warehouse.models import Asset, AssetFile, AssetVersion, Report, User
from millrace.warehouse.seed_shapes import dataset_metadata

__all__ = [
    "BiasReportResponse",
    "DatasetFile",
    "DatasetResponse",
    "ModelFile",
    "ModelResponse",
    "TransformationReportResponse",
    "UserResponse",
    "XAIReportResponse",
]


def _ext(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _logical_path(asset: Asset, version: AssetVersion, path: str = "") -> str:
    label = version_label(version.version)
    return f"{asset.kind}s/{asset.owner_id}/{asset.asset_id}/{label}/{path}"


class DatasetFile(BaseModel):
    filename: str
    file_path: str
    file_size: int
    file_type: str
    file_hash: str
    content_type: str | None = None

    @classmethod
    def of(cls, asset: Asset, version: AssetVersion, f: AssetFile) -> DatasetFile:
        return cls(
            filename=f.path,
            file_path=_logical_path(asset, version, f.path),
            file_size=f.size_bytes,
            file_type=_ext(f.path),
            file_hash=f.sha256,
            content_type=f.content_type,
        )


class DatasetResponse(BaseModel):
    dataset_id: str
    user_id: str
    name: str
    description: str | None
    version: str
    file_type: str
    file_size: int
    original_filename: str
    files: list[DatasetFile] | None = None
    is_folder: bool = False
    columns: list[str] | None
    row_count: int | None
    data_types: dict[str, str] | None
    tags: list[str]
    custom_metadata: dict[str, Any]
    created_at: Timestamp
    updated_at: Timestamp
    file_hash: str | None

    @classmethod
    def of(cls, asset: Asset, version: AssetVersion) -> DatasetResponse:
        """The very dict ``dataset-events`` and the bias trigger carry, so a partner reads
        the same values from an event and from this route."""
        return cls.model_validate(dataset_metadata(asset, version))


class ModelFile(DatasetFile):
    is_primary: bool = False
    description: str | None = None

    @classmethod
    def of(cls, asset: Asset, version: AssetVersion, f: AssetFile) -> ModelFile:
        base = DatasetFile.of(asset, version, f)
        return cls(**base.model_dump(), is_primary=version.file_count == 1)


class ModelResponse(BaseModel):
    model_id: str
    user_id: str
    name: str
    description: str | None
    version: str
    framework: str
    model_type: str
    algorithm: str | None
    files: list[ModelFile]
    primary_file_path: str | None
    input_shape: list[int] | None
    output_shape: list[int] | None
    num_parameters: int | None
    model_size_mb: float | None
    training_dataset: str | None
    training_accuracy: float | None
    validation_accuracy: float | None
    test_accuracy: float | None
    training_loss: float | None
    python_version: str | None
    dependencies: list[str]
    hardware_requirements: str | None
    tags: list[str]
    custom_metadata: dict[str, Any]
    created_at: Timestamp
    updated_at: Timestamp
    is_active: bool
    is_production_ready: bool

    @classmethod
    def of(cls, asset: Asset, version: AssetVersion) -> ModelResponse:
        attrs = version.attributes
        files = [ModelFile.of(asset, version, f) for f in version.files]
        primary = next((f.file_path for f in files if f.is_primary), None)
        return cls(
            model_id=asset.asset_id,
            user_id=asset.owner_id,
            name=asset.name,
            description=asset.description or None,
            version=version_label(version.version),
            # The seed's enums both have "other": Millrace's own models may name neither.
            framework=attrs.get("framework") or "other",
            model_type=attrs.get("model_type") or "other",
            algorithm=attrs.get("algorithm"),
            files=files,
            primary_file_path=primary,
            input_shape=attrs.get("input_shape"),
            output_shape=attrs.get("output_shape"),
            num_parameters=attrs.get("num_parameters"),
            model_size_mb=round(version.size_bytes / 1024**2, 3),
            training_dataset=attrs.get("training_dataset"),
            training_accuracy=attrs.get("training_accuracy"),
            validation_accuracy=attrs.get("validation_accuracy"),
            test_accuracy=attrs.get("test_accuracy"),
            training_loss=attrs.get("training_loss"),
            python_version=attrs.get("python_version"),
            dependencies=list(attrs.get("dependencies") or []),
            hardware_requirements=attrs.get("hardware_requirements"),
            tags=list(asset.tags),
            custom_metadata=dict(attrs.get("custom_metadata") or {}),
            created_at=version.created_at,
            updated_at=asset.updated_at,
            is_active=attrs.get("is_active", True),
            is_production_ready=attrs.get("is_production_ready", False),
        )


def _label(number: int | None) -> str:
    return version_label(number) if number is not None else ""


class BiasReportResponse(BaseModel):
    id: str | None
    user_id: str
    dataset_id: str
    dataset_version: str
    report: Any
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, r: Report) -> BiasReportResponse:
        return cls(
            id=r.report_id,
            user_id=r.owner_id,
            dataset_id=r.dataset_id,
            dataset_version=_label(r.dataset_version),
            report=r.content,
            created_at=r.created_at,
            updated_at=r.created_at,
        )


class TransformationReportResponse(BaseModel):
    id: str | None
    user_id: str
    dataset_id: str
    version: str
    report: Any
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, r: Report) -> TransformationReportResponse:
        return cls(
            id=r.report_id,
            user_id=r.owner_id,
            dataset_id=r.dataset_id,
            version=_label(r.dataset_version),
            report=r.content,
            created_at=r.created_at,
            updated_at=r.created_at,
        )


class XAIReportResponse(BaseModel):
    user_id: str
    dataset_id: str
    dataset_version: str
    model_id: str
    model_version: str
    report_type: str
    level: str
    file_path: str
    file_size: int
    file_hash: str | None
    custom_metadata: dict[str, Any]
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, r: Report) -> XAIReportResponse:
        return cls(
            user_id=r.owner_id,
            dataset_id=r.dataset_id,
            dataset_version=_label(r.dataset_version),
            model_id=r.model_id or "",
            model_version=_label(r.model_version),
            report_type=r.report_type or "",
            level=r.level or "",
            file_path=r.storage_key or "",
            file_size=r.size_bytes,
            file_hash=r.sha256,
            custom_metadata={"report_id": r.report_id},
            created_at=r.created_at,
            updated_at=r.created_at,
        )


class UserResponse(BaseModel):
    """A user as seed 004 shows one. ``username`` is the user id until the user sets one."""

    user_id: str
    username: str
    email: str | None
    full_name: str | None
    is_active: bool
    is_admin: bool
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, u: User) -> UserResponse:
        return cls(
            user_id=u.id,
            username=u.username or u.id,
            email=u.email,
            full_name=u.full_name,
            is_active=u.is_active is not False,
            is_admin=u.is_admin,
            created_at=u.created_at,
            updated_at=u.updated_at or u.created_at,
        )
