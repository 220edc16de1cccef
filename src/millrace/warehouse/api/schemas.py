"""Response bodies: what clients see of assets, versions, files and reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, Field, StrictInt, StrictStr

from millrace.warehouse.ids import MAX_VERSION, version_label
from millrace.warehouse.models import Asset, AssetFile, AssetVersion, Report
from millrace.warehouse.reports import readable_content

__all__ = [
    "AssetOut",
    "FileOut",
    "Page",
    "ReportOut",
    "Timestamp",
    "UserOut",
    "VersionIn",
    "VersionOut",
]

T = TypeVar("T")


def _as_utc(value: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, AfterValidator(_as_utc)]
# A version in a request body: 3 or "v3". Strict, so that true is not taken for 1 nor 3.0
# for 3; bounded, so that the schema says what a version column can hold.
VersionIn = Annotated[StrictInt, Field(ge=1, le=MAX_VERSION)] | StrictStr


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class UserOut(BaseModel):
    user_id: str
    is_admin: bool
    token: str | None = None


class FileOut(BaseModel):
    path: str
    size_bytes: int
    sha256: str
    content_type: str
    table_schema: dict[str, Any] | None = None
    unsafe: bool = False

    @classmethod
    def of(cls, f: AssetFile) -> FileOut:
        return cls(
            path=f.path,
            size_bytes=f.size_bytes,
            sha256=f.sha256,
            content_type=f.content_type,
            table_schema=f.table_schema,
            unsafe=f.unsafe,
        )


class VersionOut(BaseModel):
    version: int
    version_label: str
    created_at: Timestamp
    created_by: str
    size_bytes: int
    file_count: int
    attributes: dict[str, Any]
    has_unsafe_files: bool
    trusted: bool
    files: list[FileOut]

    @classmethod
    def of(cls, v: AssetVersion) -> VersionOut:
        return cls(
            version=v.version,
            version_label=version_label(v.version),
            created_at=v.created_at,
            created_by=v.created_by,
            size_bytes=v.size_bytes,
            file_count=v.file_count,
            attributes=v.attributes,
            has_unsafe_files=v.has_unsafe_files,
            trusted=v.trusted,
            files=[FileOut.of(f) for f in v.files],
        )


class AssetOut(BaseModel):
    id: str
    kind: str
    user_id: str
    name: str
    description: str
    tags: list[str]
    created_at: Timestamp
    updated_at: Timestamp
    versions: list[int]
    latest_version: int | None
    version: VersionOut | None = None

    @classmethod
    def of(cls, a: Asset, version: AssetVersion | None = None) -> AssetOut:
        numbers = [v.version for v in a.versions]
        return cls(
            id=a.asset_id,
            kind=a.kind,
            user_id=a.owner_id,
            name=a.name,
            description=a.description,
            tags=list(a.tags),
            created_at=a.created_at,
            updated_at=a.updated_at,
            versions=numbers,
            latest_version=max(numbers) if numbers else None,
            version=VersionOut.of(version) if version is not None else None,
        )


class ReportOut(BaseModel):
    id: str
    kind: str
    user_id: str
    dataset_id: str
    dataset_version: int | None
    model_id: str | None
    model_version: int | None
    report_type: str | None
    level: str | None
    content: Any = Field(
        description="An object when posted here; any JSON when posted to seed 004's routes"
    )
    content_truncated: bool = Field(
        default=False,
        description="True when the stored content is nested deeper than the API returns; "
        "deeper values are null",
    )
    size_bytes: int
    sha256: str | None
    created_at: Timestamp

    @classmethod
    def of(cls, r: Report) -> ReportOut:
        content, truncated = readable_content(r.content)
        return cls(
            id=r.report_id,
            kind=r.kind,
            user_id=r.owner_id,
            dataset_id=r.dataset_id,
            dataset_version=r.dataset_version,
            model_id=r.model_id,
            model_version=r.model_version,
            report_type=r.report_type,
            level=r.level,
            content=content,
            content_truncated=truncated,
            size_bytes=r.size_bytes,
            sha256=r.sha256,
            created_at=r.created_at,
        )
