"""Seed 004's payload and key on each of the seven topics, from a journey run for real.

One journey goes through Millrace's own agents (handlers called in turn, as the runner
would); every message it leaves on a topic is checked against what seed 004's producers
sent there: every field the seed sent, of the seed's type, under the seed's key. Millrace's
own fields may stand beside them. The field lists are written from seed 004's
``kafka_service.py`` and agentic core (October 2025), not taken from Millrace's models.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from millrace.agents import automl, bias, core, xai
from millrace.events.bus import Message
from millrace.events.embedded import to_message
from millrace.events.outbox import add_event
from millrace.events.runner import Handler, HandlerContext
from millrace.warehouse.assets import AssetMeta, get_asset, get_version
from millrace.warehouse.context import Warehouse
from millrace.warehouse.datasets import JourneyHints, upload_dataset
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import AssetKind, OutboxEvent
from tests.agents.world import World, diabetes_frame, new_world
from tests.conftest import Backend

# The seed's DatasetMetadata fields on dataset-events (send_dataset_event).
SEED_DATASET = {
    "dataset_id",
    "user_id",
    "name",
    "description",
    "version",
    "file_type",
    "file_size",
    "file_path",
    "original_filename",
    "is_folder",
    "file_count",
    "columns",
    "row_count",
    "data_types",
    "tags",
    "custom_metadata",
    "created_at",
    "updated_at",
    "file_hash",
}
# The seed's DatasetResponse: GET /datasets/{user_id}/{dataset_id}, the bias trigger's metadata.
SEED_DATASET_RESPONSE = (SEED_DATASET - {"file_path", "file_count"}) | {"files"}
SEED_FIELDS = {
    "dataset-events": {"event_type", "event_id", "timestamp", "dataset"},
    "bias-trigger-events": {
        "event_type",
        "dataset_id",
        "user_id",
        "target_column_name",
        "task_type",
        "is_folder",
        "file_count",
        "timestamp",
        "metadata",
        "record_count",
    },
    "bias-events": {
        "event_type",
        "dataset_id",
        "user_id",
        "bias_report_id",
        "has_transformation_report",
        "target_column_name",
        "task_type",
        "is_folder",
        "file_count",
        "timestamp",
    },
    "automl-trigger-events": {
        "event_type",
        "dataset_id",
        "user_id",
        "target_column_name",
        "task_type",
        "is_folder",
        "file_count",
        "time_budget",
        "timestamp",
    },
    "automl-events": {
        "event_type",
        "event_id",
        "timestamp",
        "user_id",
        "model_id",
        "dataset_id",
        "version",
        "framework",
        "model_type",
        "algorithm",
        "model_size_mb",
        "training_accuracy",
        "validation_accuracy",
        "test_accuracy",
        "is_folder",
        "file_count",
        "is_model_folder",
        "model_file_count",
    },
    "xai-trigger-events": {
        "event_type",
        "user_id",
        "dataset_id",
        "model_id",
        "version",
        "is_folder",
        "file_count",
        "is_model_folder",
        "model_file_count",
        "level",
        "timestamp",
    },
    "xai-events": {
        "event_type",
        "event_id",
        "timestamp",
        "user_id",
        "dataset_id",
        "model_id",
        "report_type",
        "level",
        "xai_report_id",
    },
}
XAI_TYPES = ("model_explanation", "data_explanation")
SEED_EVENT_TYPES = {
    "dataset-events": "dataset.uploaded",
    "bias-trigger-events": "bias-trigger.reported",
    "bias-events": "bias.reported",
    "automl-trigger-events": "automl-trigger.reported",
    "automl-events": "model.uploaded",
    "xai-trigger-events": "xai-trigger.reported",
    "xai-events": "xai.reported",
}


@dataclass
class Run:
    world: World
    dataset_id: str
    rows: int
    messages: dict[str, list[Message]]

    def last(self, topic: str) -> Message:
        return self.messages[topic][-1]

    @property
    def model_key(self) -> str:
        model_id = self.last("automl-events").payload["model_id"]
        return f"{self.world.user_id}_{model_id}"


def _mine(wh: Warehouse, user_id: str) -> dict[str, list[Message]]:
    with session_scope(wh.sessions) as session:
        rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.offset)).all()
        found: dict[str, list[Message]] = {}
        for row in rows:
            if row.payload.get("user_id") == user_id:
                found.setdefault(row.topic, []).append(to_message(row))
    return found


def _run(world: World, handler: Handler, topic: str) -> None:
    message = _mine(world.wh, world.user_id)[topic][-1]
    ctx = HandlerContext(world.wh, message, attempt=1, group="test")
    handler(message, ctx)
    with session_scope(world.wh.sessions) as session:
        for payload, subject, to in ctx.emitted:
            add_event(session, payload, subject=subject, topic=to)


@pytest.fixture(scope="module")
def run(backend: Backend) -> Iterator[Run]:
    wh = Warehouse.open(backend.settings())
    try:
        world = new_world(wh)
        frame = diabetes_frame()
        dataset_id = world.upload(
            frame, target_column="high_risk", sensitive_columns=["sex"], time_budget_s=6
        )
        for handler, topic in [
            (core.handle, "dataset-events"),
            (bias.handle, "bias-trigger-events"),
            (core.handle, "bias-events"),
            (automl.handle, "automl-trigger-events"),
            (core.handle, "automl-events"),
            (xai.handle, "xai-trigger-events"),
        ]:
            _run(world, handler, topic)
        yield Run(world, dataset_id, len(frame), _mine(wh, world.user_id))
    finally:
        wh.close()


def _seed_shape(run: Run, topic: str) -> dict[str, Any]:
    message = run.last(topic)
    payload = message.payload
    assert SEED_FIELDS[topic] <= set(payload), SEED_FIELDS[topic] - set(payload)
    assert payload["event_type"] == SEED_EVENT_TYPES[topic]
    assert isinstance(payload["timestamp"], str) and payload["timestamp"][:2] == "20"
    return payload


def test_dataset_events_nest_the_dataset(run: Run) -> None:
    payload = _seed_shape(run, "dataset-events")
    dataset = payload["dataset"]
    assert set(dataset) == SEED_DATASET
    assert dataset["dataset_id"] == run.dataset_id
    assert dataset["user_id"] == run.world.user_id
    assert dataset["version"] == "v1"
    assert dataset["file_type"] == "csv"
    assert dataset["original_filename"] == f"{run.dataset_id}.csv"
    assert dataset["is_folder"] is False and dataset["file_count"] == 1
    assert dataset["row_count"] == run.rows
    assert "high_risk" in dataset["columns"] and dataset["data_types"]["high_risk"] == "int64"
    assert dataset["file_size"] > 0 and len(dataset["file_hash"]) == 64
    assert dataset["file_path"].endswith(f"/v1/{run.dataset_id}.csv")
    assert payload["event_id"].startswith(f"dataset.uploaded_{run.dataset_id}_")
    assert run.last("dataset-events").key == run.dataset_id


def test_bias_trigger_carries_the_dataset_metadata(run: Run) -> None:
    payload = _seed_shape(run, "bias-trigger-events")
    metadata = payload["metadata"]
    assert set(metadata) == SEED_DATASET_RESPONSE
    # The seed's bias detector reads the ids from here, and nowhere else.
    assert metadata["user_id"] == run.world.user_id
    assert metadata["dataset_id"] == run.dataset_id
    assert metadata["version"] == "v1" and metadata["files"] is None
    assert payload["record_count"] == run.rows
    assert payload["target_column_name"] == "high_risk"
    assert payload["task_type"] == "classification"
    assert payload["is_folder"] is False and payload["file_count"] == 1
    assert run.last("bias-trigger-events").key == run.dataset_id


def test_bias_events_as_the_seed_sent_them(run: Run) -> None:
    payload = _seed_shape(run, "bias-events")
    assert payload["dataset_id"] == run.dataset_id
    assert isinstance(payload["bias_report_id"], str)
    assert payload["has_transformation_report"] is False
    assert payload["target_column_name"] == "high_risk"
    assert run.last("bias-events").key == run.dataset_id


def test_automl_trigger_has_the_budget_in_minutes(run: Run) -> None:
    payload = _seed_shape(run, "automl-trigger-events")
    assert payload["time_budget"] == "0.1"  # the seed's minutes, as a string
    assert payload["time_budget_s"] == 6  # Millrace's own, beside it
    assert payload["task_type"] == "classification"
    assert run.last("automl-trigger-events").key == run.dataset_id


def test_automl_events_as_the_seed_sent_them(run: Run) -> None:
    payload = _seed_shape(run, "automl-events")
    assert payload["dataset_id"] == run.dataset_id
    assert payload["version"] == "v1"
    assert isinstance(payload["model_size_mb"], float)
    with session_scope(run.world.wh.sessions) as session:
        stored = get_asset(session, AssetKind.MODEL, run.world.user_id, payload["model_id"])
        files = get_version(session, stored, 1).file_count
    assert files > 1  # Millrace's package: model, encoder, leaderboard, metrics...
    assert payload["model_file_count"] == files and payload["is_model_folder"] is True
    assert payload["event_id"].startswith(f"model_uploaded_{payload['model_id']}_")
    assert run.last("automl-events").key == run.model_key


def test_xai_trigger_asks_for_a_level(run: Run) -> None:
    payload = _seed_shape(run, "xai-trigger-events")
    model = run.last("automl-events").payload
    assert payload["level"] in {"beginner", "expert"}
    assert payload["model_id"] == model["model_id"] and payload["version"] == model["version"]
    with session_scope(run.world.wh.sessions) as session:
        stored = get_asset(session, AssetKind.MODEL, run.world.user_id, model["model_id"])
        files = get_version(session, stored, 1).file_count
    assert payload["model_file_count"] == files and payload["is_model_folder"] == (files > 1)
    # The seed's core re-sent the model event's key.
    assert run.last("xai-trigger-events").key == run.model_key


def test_xai_events_are_keyed_by_user_and_model(run: Run) -> None:
    reports = run.messages["xai-events"]
    assert len(reports) == 4
    for message in reports:
        payload = message.payload
        assert SEED_FIELDS["xai-events"] <= set(payload)
        assert payload["event_type"] == "xai.reported"
        assert payload["event_id"].startswith(f"xai_reported_{payload['model_id']}_")
        assert message.key == run.model_key
    kinds = {(m.payload["report_type"], m.payload["level"]) for m in reports}
    assert kinds == {(t, lvl) for t in XAI_TYPES for lvl in ("beginner", "expert")}


def test_a_folder_dataset_is_described_as_the_seed_did(run: Run) -> None:
    """A zipped folder: ``is_folder``, its file count, a ``.zip`` name, no single schema."""
    files = [
        ("train/a.csv", io.BytesIO(b"x,y\n1,2\n")),
        ("test/b.csv", io.BytesIO(b"x,y\n3,4\n")),
    ]
    upload_dataset(
        run.world.wh,
        owner_id=run.world.user_id,
        actor_id=run.world.user_id,
        dataset_id="folder",
        files=files,
        meta=AssetMeta(description="two parts"),
        hints=JourneyHints(),
    )
    (message,) = [
        m
        for m in _mine(run.world.wh, run.world.user_id)["dataset-events"]
        if m.payload["dataset_id"] == "folder"
    ]
    dataset = message.payload["dataset"]
    assert set(dataset) == SEED_DATASET
    assert dataset["is_folder"] is True and dataset["file_count"] == 2
    assert dataset["original_filename"] == "folder.zip" and dataset["file_type"] == "csv"
    assert dataset["columns"] is None and dataset["row_count"] is None
    assert dataset["file_path"].endswith("/folder/v1/")
    assert dataset["description"] == "two parts"
    assert message.key == "folder"
