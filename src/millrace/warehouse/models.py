"""The metadata schema: users, versioned assets (datasets and AI models), reports, outbox.

Datasets and AI models share one shape - an asset with numbered versions, each a set of
stored files - so they share these tables and one service (``assets.py``); ``kind`` tells
them apart and kind-specific fields live in ``attributes``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "ApiToken",
    "Asset",
    "AssetFile",
    "AssetKind",
    "AssetVersion",
    "Base",
    "ConsumerOffset",
    "IdempotencyRecord",
    "Journey",
    "JourneyState",
    "OutboxEvent",
    "ProcessedEvent",
    "Report",
    "ReportKind",
    "User",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


Timestamp = DateTime(timezone=True)


class AssetKind(StrEnum):
    DATASET = "dataset"
    MODEL = "model"


class ReportKind(StrEnum):
    BIAS = "bias"
    TRANSFORMATION = "transformation"
    XAI = "xai"


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    # The profile seed 004's /users routes read and update; the id is what Millrace uses.
    username: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    email: Mapped[str | None] = mapped_column(String(256), nullable=True)
    full_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


class ApiToken(Base):
    """Only the SHA-256 of a token is kept; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="default")
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Asset(Base):
    """A dataset or AI model as a user names it; its content lives in versions."""

    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("kind", "owner_id", "asset_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Last version number handed out. Incremented with UPDATE ... RETURNING, which the
    # database serialises, so concurrent uploads get distinct, gapless numbers.
    version_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)

    versions: Mapped[list[AssetVersion]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="AssetVersion.version"
    )


class AssetVersion(Base):
    __tablename__ = "asset_versions"
    __table_args__ = (UniqueConstraint("asset_pk", "version"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_pk: Mapped[int] = mapped_column(ForeignKey("assets.pk", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    storage_prefix: Mapped[str] = mapped_column(String(512))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    # Kind-specific fields: model framework/accuracies, dataset journey hints, schema.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # A model file that could execute code when loaded (pickle) is kept opaque unless an
    # admin marks the version trusted.
    has_unsafe_files: Mapped[bool] = mapped_column(Boolean, default=False)
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)

    asset: Mapped[Asset] = relationship(back_populates="versions")
    files: Mapped[list[AssetFile]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="AssetFile.path"
    )


class AssetFile(Base):
    __tablename__ = "asset_files"
    __table_args__ = (UniqueConstraint("version_pk", "path"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_pk: Mapped[int] = mapped_column(
        ForeignKey("asset_versions.pk", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(1024))
    storage_key: Mapped[str] = mapped_column(String(1536))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(128), default="application/octet-stream")
    # Tabular files: columns, dtypes, row_count (or why they could not be read).
    table_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    unsafe: Mapped[bool] = mapped_column(Boolean, default=False)

    version: Mapped[AssetVersion] = relationship(back_populates="files")


class Report(Base):
    """Bias, transformation and XAI reports, each tied to a dataset version."""

    __tablename__ = "reports"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[str] = mapped_column(String(128), index=True)
    dataset_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    model_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    model_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    report_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    level: Mapped[str | None] = mapped_column(String(32), nullable=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    storage_key: Mapped[str | None] = mapped_column(String(1536), nullable=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class OutboxEvent(Base):
    """An event written in the same transaction as the row it announces.

    The autoincrement ``offset`` orders the log: the embedded bus reads it directly and the
    Kafka relay publishes rows in this order, marking ``published_at``.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_topic_offset", "topic", "offset"),)

    offset: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    topic: Mapped[str] = mapped_column(String(128), index=True)
    key: Mapped[str] = mapped_column(String(256))
    ce_type: Mapped[str] = mapped_column(String(128))
    ce_source: Mapped[str] = mapped_column(String(256))
    ce_subject: Mapped[str] = mapped_column(String(512))
    ce_time: Mapped[datetime] = mapped_column(Timestamp)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True, index=True)


class IdempotencyRecord(Base):
    """The stored answer to a POST sent with an ``Idempotency-Key``."""

    __tablename__ = "idempotency_records"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(1024))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(128), nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class ConsumerOffset(Base):
    """The embedded log's committed position per consumer group and topic."""

    __tablename__ = "consumer_offsets"

    group_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    topic: Mapped[str] = mapped_column(String(128), primary_key=True)
    committed: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class ProcessedEvent(Base):
    """An event a consumer group has fully handled: a redelivery of it changes nothing.

    Written in the same transaction as the events the handler emits, so "handled" and
    "announced what it did" cannot disagree after a crash.
    """

    __tablename__ = "processed_events"

    group_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), default="handled")
    handled_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class JourneyState(StrEnum):
    NEEDS_INPUT = "needs_input"
    BIAS = "bias"
    AUTOML = "automl"
    XAI = "xai"
    COMPLETED = "completed"
    FAILED = "failed"


class Journey(Base):
    """A dataset version's way through bias -> automl -> xai, driven by the core agent."""

    __tablename__ = "journeys"
    __table_args__ = (UniqueConstraint("owner_id", "dataset_id", "dataset_version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[str] = mapped_column(String(128))
    dataset_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    target_column: Mapped[str | None] = mapped_column(String(256), nullable=True)
    task_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    task_type_inferred: Mapped[bool] = mapped_column(Boolean, default=False)
    sensitive_columns: Mapped[list[Any]] = mapped_column(JSON, default=list)
    time_budget_s: Mapped[float] = mapped_column(default=60.0)
    # What the bias report counts as the favourable outcome, its reference group per
    # sensitive attribute, and the AutoML metric; None: the report says what it assumed.
    favorable_label: Mapped[str | None] = mapped_column(String(256), nullable=True)
    privileged_groups: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    metric: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    failed_step: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Per step: state, started_at, finished_at, error and links to its outputs.
    steps: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
