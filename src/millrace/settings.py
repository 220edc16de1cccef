"""One typed settings object for every Millrace role.

Built once by the CLI callback or the app factory and passed down; never at import time.
Environment variables use the ``MILLRACE_`` prefix, except seed 000's ``USE_KFP`` and
``USE_KAFKA`` flags, which keep their historical names so existing deployments work.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["EventBusKind", "Settings"]

GiB = 1024**3
_AGENTS = frozenset({"core", "bias", "automl", "xai"})


class EventBusKind(StrEnum):
    EMBEDDED = "embedded"
    KAFKA = "kafka"


class Settings(BaseSettings):
    """Where Millrace keeps its state and how it reaches its backends."""

    model_config = SettingsConfigDict(env_prefix="MILLRACE_", extra="ignore")

    home: Path = Field(default=Path(".millrace"), description="Data dir for embedded backends.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite in the data dir."
    )
    storage_url: str | None = Field(
        default=None, description="Local folder (path or file://) or s3://bucket/prefix."
    )
    s3_endpoint_url: str | None = Field(default=None, description="For MinIO or moto.")
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = Field(default=None, description="Default: AWS_* / boto3 chain")
    s3_secret_access_key: SecretStr | None = None
    event_bus: str = Field(default="embedded", description="'embedded' or kafka://host:port.")
    mlflow_tracking_uri: str | None = Field(
        default=None, description="Default: sqlite in the data dir."
    )
    use_kfp: bool = Field(
        default=True, validation_alias=AliasChoices("USE_KFP", "MILLRACE_USE_KFP")
    )
    use_kafka: bool = Field(
        default=False, validation_alias=AliasChoices("USE_KAFKA", "MILLRACE_USE_KAFKA")
    )

    kfp_host: str | None = Field(
        default=None,
        description="KFP endpoint for 'pipeline submit'; 'local' runs journeys' pipelines "
        "with kfp.local in subprocesses",
    )

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # The client side: where `millrace datasets|journeys|models|predict` find the servers.
    url: str = Field(
        default="http://127.0.0.1:8000", description="The Millrace API client commands call."
    )
    token: SecretStr | None = Field(
        default=None, description="API token for client commands ('millrace users create')."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token Prometheus sends to the API's and the inference server's "
        "/metrics; an admin's API token is accepted too",
    )
    serve_url: str = Field(
        default="http://127.0.0.1:8080",
        description="The inference server ('millrace serve', 'millrace up') for 'predict'.",
    )

    # Which of Millrace's agents run; a step whose agent is left out waits for a partner's
    # post (seed 004's consumers), e.g. "core,bias,xai" leaves AutoML to a partner.
    agents: str = Field(
        default="core,bias,automl,xai",
        description="Comma-separated agents 'millrace up' runs (core, bias, automl, xai); "
        "the others' journey steps are left to partner agents",
    )
    partner_step_timeout_s: float = Field(
        default=3600.0,
        gt=0,
        description="How long a journey step left to a partner may wait for the partner's "
        "post before the journey fails with the reason",
    )
    partner_sweep_interval_s: float = Field(
        default=30.0, gt=0, description="How often the core agent checks partner steps' time"
    )

    champion_gate: bool = Field(
        default=True,
        description="A new AutoML or forecasting version becomes the champion only if it "
        "beats the current one on a comparable test score (else it is the 'challenger'); "
        "false promotes every new version",
    )

    max_upload_bytes: int = Field(default=5 * GiB, gt=0)
    zip_max_files: int = Field(default=10_000, gt=0)
    zip_max_total_bytes: int = Field(default=20 * GiB, gt=0)
    zip_max_ratio: float = Field(default=200.0, gt=1)
    upload_chunk_bytes: int = Field(default=1024 * 1024, gt=0)
    fairness_min_group_size: int = Field(
        default=30,
        ge=1,
        description="Bias reports show smaller groups but never flag them (nor compare "
        "against a smaller reference group): a few rows can swing any rate.",
    )

    # Retention: how long `millrace gc` keeps what would otherwise pile up forever.
    retention_outbox_days: float = Field(
        default=7.0,
        gt=0,
        description="Outbox rows already delivered: published to Kafka, or read by every "
        "consumer group of the embedded log",
    )
    # A processed-event mark turns a redelivered event into a no-op, so it must outlive
    # every way an event comes back: its row on the embedded log (retention_outbox_days),
    # or Kafka's log (7 days by default), which a group re-reads from the start when its
    # committed offsets expire. Dropped sooner, an old event would be handled twice.
    retention_processed_events_days: float = Field(
        default=30.0,
        gt=0,
        description="Marks of events agents handled; must exceed retention_outbox_days and "
        "the Kafka log's retention",
    )
    retention_idempotency_hours: float = Field(
        default=24.0,
        gt=0,
        description="Stored answers to POSTs sent with an Idempotency-Key; a retry after "
        "this runs again",
    )
    retention_kfp_work_days: float = Field(
        default=7.0, gt=0, description="Folders of kfp.local runs (<home>/pipelines/kfp/<run>)"
    )
    retention_request_log_days: float = Field(
        default=30.0, gt=0, description="Daily inference request logs (<home>/inference)"
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.use_kfp and self.use_kafka:
            raise ValueError(
                "USE_KFP and USE_KAFKA are both on; pick one pipeline runner "
                "(set USE_KFP=0 to use the Kafka-chained runner)"
            )
        kind = self.event_bus.split("://", 1)[0]
        if kind not in {k.value for k in EventBusKind}:
            raise ValueError(
                f"MILLRACE_EVENT_BUS={self.event_bus!r}: expected 'embedded' or kafka://host:port"
            )
        return self

    @model_validator(mode="after")
    def _check_agents(self) -> Settings:
        unknown = sorted(self.local_agents - _AGENTS)
        if unknown:
            raise ValueError(
                f"MILLRACE_AGENTS={self.agents!r}: unknown {unknown}; choose from {sorted(_AGENTS)}"
            )
        return self

    @model_validator(mode="after")
    def _check_retention(self) -> Settings:
        if self.retention_processed_events_days <= self.retention_outbox_days:
            raise ValueError(
                "MILLRACE_RETENTION_PROCESSED_EVENTS_DAYS must exceed "
                "MILLRACE_RETENTION_OUTBOX_DAYS: a redelivered event whose mark is gone "
                "would be handled twice"
            )
        return self

    # Derived values are properties, not fields, so a changed home moves them all.

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'millrace.db').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or str((self.home / "objects").resolve())

    @property
    def resolved_mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def event_bus_kind(self) -> EventBusKind:
        return EventBusKind(self.event_bus.split("://", 1)[0])

    @property
    def local_agents(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.agents.split(",") if a.strip())

    @property
    def kafka_bootstrap(self) -> str | None:
        if self.event_bus_kind is not EventBusKind.KAFKA:
            return None
        return urlparse(self.event_bus).netloc

    def ensure_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
