"""The seven topics of seed 004 and their payloads, field for field.

Partner consumers written against seed 004 read these payloads as plain JSON, so field names
and meanings do not change here; Millrace only adds optional fields (never renames) and wraps
each payload in CloudEvents 1.0 attributes. Versions travel as the seed's ``"v3"`` strings.

The event types and keys are the seed's too: ``dataset-events`` nests the dataset under
``"dataset"``; the agentic core's triggers (``*-trigger.reported``) carry what its partner
consumers read (``metadata`` and ``record_count`` for bias, ``time_budget`` in minutes as a
string for AutoML, ``level`` for XAI) and reuse the key of the event they answer. Millrace's
own fields (``journey_id``, ``time_budget_s``, flat ids on ``dataset-events``) sit beside them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "TOPICS",
    "AutoMLTrigger",
    "BiasReportCreated",
    "BiasTrigger",
    "CloudEvent",
    "DatasetUploaded",
    "DeadLetter",
    "EventPayload",
    "ModelUploaded",
    "Topic",
    "XAIReportCreated",
    "XAITrigger",
    "dlq_topic",
    "new_event_id",
]

SOURCE = "/millrace/warehouse"


class Topic(StrEnum):
    DATASET = "dataset-events"
    BIAS_TRIGGER = "bias-trigger-events"
    BIAS = "bias-events"
    AUTOML_TRIGGER = "automl-trigger-events"
    AUTOML = "automl-events"
    XAI_TRIGGER = "xai-trigger-events"
    XAI = "xai-events"


def new_event_id(event_type: str, subject_id: str) -> str:
    """Seed-style readable id (``model_uploaded_<id>_<ts>``) made unique with a UUID."""
    ts = int(datetime.now(UTC).timestamp())
    return f"{event_type.replace('.', '_')}_{subject_id}_{ts}_{uuid.uuid4().hex[:12]}"


def _now() -> str:
    # The seed's timestamps are naive ISO strings; keep the format, but in UTC.
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


class EventPayload(BaseModel):
    """Fields every seed payload carries."""

    model_config = ConfigDict(extra="allow")

    event_type: str
    event_id: str = ""
    timestamp: str = Field(default_factory=_now)
    user_id: str

    topic: ClassVar[Topic]

    def model_post_init(self, _context: Any) -> None:
        if not self.event_id:
            self.event_id = new_event_id(self.event_type, self.subject_id())

    def subject_id(self) -> str:
        return str(getattr(self, "dataset_id", None) or self.user_id)

    def kafka_key(self) -> str:
        """Seed 004 keys dataset events by ``dataset_id`` and model events by user+model."""
        return str(getattr(self, "dataset_id", None) or self.user_id)

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class _JourneyHints(BaseModel):
    target_column_name: str | None = None
    task_type: str | None = None
    sensitive_columns: list[str] | None = None
    time_budget_s: float | None = None
    favorable_label: str | None = None  # the bias report's favourable outcome
    privileged_groups: dict[str, str] | None = None  # its reference group per attribute
    metric: str | None = None  # the AutoML metric the user asked for


class DatasetUploaded(EventPayload, _JourneyHints):
    """The seed's payload is ``event_type``, ``event_id``, ``timestamp`` and ``dataset`` (its
    metadata, see ``warehouse/seed_shapes.py``); the flat fields are Millrace's."""

    topic: ClassVar[Topic] = Topic.DATASET
    event_type: str = "dataset.uploaded"
    dataset_id: str
    version: str
    name: str | None = None
    file_count: int = 0
    size_bytes: int = 0
    files: list[str] = Field(default_factory=list)
    dataset: dict[str, Any] = Field(default_factory=dict)
    external_steps: list[str] | None = None

    def model_post_init(self, _context: Any) -> None:
        if not self.event_id:
            # The seed's id is ``<event_type>_<dataset_id>_<ts>``, dots and all.
            ts = int(datetime.now(UTC).timestamp())
            self.event_id = f"{self.event_type}_{self.dataset_id}_{ts}_{uuid.uuid4().hex[:12]}"


class _Folder(BaseModel):
    """Whether the dataset is a folder upload, as the seed's core passes it along."""

    is_folder: bool = False
    file_count: int = 1


class BiasTrigger(EventPayload, _JourneyHints, _Folder):
    """``metadata`` is the seed's ``GET /datasets/{user_id}/{dataset_id}`` body: the seed's
    bias detector reads the user and dataset ids from it."""

    topic: ClassVar[Topic] = Topic.BIAS_TRIGGER
    event_type: str = "bias-trigger.reported"
    dataset_id: str
    version: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    record_count: int | None = None
    journey_id: str | None = None
    external: bool = False


class BiasReportCreated(EventPayload, _Folder):
    """``send_bias_event(dataset_id, user_id, bias_report_id, has_transformation_report,
    target_column_name, task_type)`` in seed 004."""

    topic: ClassVar[Topic] = Topic.BIAS
    event_type: str = "bias.reported"
    dataset_id: str
    bias_report_id: str | None
    has_transformation_report: bool = False
    target_column_name: str | None = None
    task_type: str | None = None
    version: str | None = None


class AutoMLTrigger(EventPayload, _JourneyHints, _Folder):
    """``time_budget`` is the seed's: minutes, as a string; ``time_budget_s`` is exact."""

    topic: ClassVar[Topic] = Topic.AUTOML_TRIGGER
    event_type: str = "automl-trigger.reported"
    dataset_id: str
    version: str
    time_budget: str = "10"
    bias_report_id: str | None = None
    journey_id: str | None = None
    external: bool = False


class ModelUploaded(EventPayload):
    topic: ClassVar[Topic] = Topic.AUTOML
    event_type: str = "model.uploaded"
    model_id: str
    dataset_id: str | None = None
    version: str
    framework: str | None = None
    model_type: str | None = None
    algorithm: str | None = None
    model_size_mb: float = 0.0
    training_accuracy: float | None = None
    validation_accuracy: float | None = None
    test_accuracy: float | None = None
    is_folder: bool = False
    file_count: int = 1
    is_model_folder: bool = False
    model_file_count: int = 1

    def subject_id(self) -> str:
        return self.model_id

    def kafka_key(self) -> str:
        return f"{self.user_id}_{self.model_id}"


class XAITrigger(EventPayload, _Folder):
    """``level`` (``beginner`` or ``expert``) is the expertise the reports are written for."""

    topic: ClassVar[Topic] = Topic.XAI_TRIGGER
    event_type: str = "xai-trigger.reported"
    model_id: str
    dataset_id: str | None = None
    version: str
    level: str = "expert"
    is_model_folder: bool = False
    model_file_count: int = 1
    framework: str | None = None
    model_type: str | None = None
    source_event: str = "model.uploaded"
    external: bool = False

    def subject_id(self) -> str:
        return self.model_id

    def kafka_key(self) -> str:
        return f"{self.user_id}_{self.model_id}"


class XAIReportCreated(EventPayload):
    topic: ClassVar[Topic] = Topic.XAI
    event_type: str = "xai.reported"
    dataset_id: str | None = None
    model_id: str | None = None
    xai_report_id: str
    report_type: str
    level: str

    def subject_id(self) -> str:
        return str(self.model_id or self.dataset_id or self.user_id)

    def kafka_key(self) -> str:
        return f"{self.user_id}_{self.model_id}"


class DeadLetter(EventPayload):
    """What lands on ``<topic>.dlq``: the original event and why it could not be handled."""

    topic: ClassVar[Topic] = Topic.DATASET  # never used: dead letters name their topic
    event_type: str = "dead_letter"
    group: str
    error: str
    error_type: str
    attempts: int
    original_topic: str
    original_key: str
    original_event_id: str
    original: dict[str, Any]

    def subject_id(self) -> str:
        return self.original_event_id

    def kafka_key(self) -> str:
        return self.original_key


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


TOPICS: dict[Topic, type[EventPayload]] = {
    Topic.DATASET: DatasetUploaded,
    Topic.BIAS_TRIGGER: BiasTrigger,
    Topic.BIAS: BiasReportCreated,
    Topic.AUTOML_TRIGGER: AutoMLTrigger,
    Topic.AUTOML: ModelUploaded,
    Topic.XAI_TRIGGER: XAITrigger,
    Topic.XAI: XAIReportCreated,
}


class CloudEvent(BaseModel):
    """CloudEvents 1.0 attributes around a seed payload (binary content mode on Kafka)."""

    id: str
    source: str = SOURCE
    type: str
    specversion: Literal["1.0"] = "1.0"
    time: datetime
    subject: str
    datacontenttype: Literal["application/json"] = "application/json"
    topic: str
    key: str
    data: dict[str, Any]

    @classmethod
    def wrap(
        cls, payload: EventPayload, subject: str, source: str = SOURCE, topic: str | None = None
    ) -> CloudEvent:
        return cls(
            id=payload.event_id,
            source=source,
            type=f"io.millrace.{payload.event_type}",
            time=datetime.now(UTC),
            subject=subject,
            topic=topic or payload.topic.value,
            key=payload.kafka_key(),
            data=payload.body(),
        )

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        attrs = {
            "ce_id": self.id,
            "ce_source": self.source,
            "ce_type": self.type,
            "ce_specversion": self.specversion,
            "ce_time": self.time.isoformat(),
            "ce_subject": self.subject,
            "content-type": self.datacontenttype,
        }
        return [(k, v.encode()) for k, v in attrs.items()]
