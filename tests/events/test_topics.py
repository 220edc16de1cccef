"""Seed 004's topics and payloads, and their CloudEvents wrapping."""

from __future__ import annotations

import json

import pytest

from millrace.events.topics import (
    TOPICS,
    AutoMLTrigger,
    CloudEvent,
    ModelUploaded,
    Topic,
    XAIReportCreated,
    XAITrigger,
)
from millrace.warehouse.seed_triggers import budget_minutes


def test_the_seven_seed_topics() -> None:
    assert sorted(t.value for t in TOPICS) == sorted(
        [
            "dataset-events",
            "bias-trigger-events",
            "bias-events",
            "automl-trigger-events",
            "automl-events",
            "xai-trigger-events",
            "xai-events",
        ]
    )
    for topic, model in TOPICS.items():
        assert model.topic is topic


def test_model_uploaded_has_the_seed_fields_and_key() -> None:
    p = ModelUploaded(
        user_id="user123",
        model_id="my-model-id",
        dataset_id="dataset123",
        version="v1",
        framework="pytorch",
        model_type="classification",
        algorithm="ResNet50",
        model_size_mb=98.5,
        training_accuracy=0.95,
        validation_accuracy=0.93,
        test_accuracy=0.92,
    )
    body = p.body()
    assert set(body) == {
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
    }
    assert body["event_type"] == "model.uploaded"
    assert body["event_id"].startswith("model_uploaded_my-model-id_")
    assert p.kafka_key() == "user123_my-model-id"
    json.dumps(body)


def test_xai_trigger_matches_the_seed() -> None:
    p = XAITrigger(
        user_id="user123",
        model_id="m",
        dataset_id="d",
        version="v1",
        framework="pytorch",
        model_type="classification",
    )
    assert set(p.body()) == {
        "event_type",
        "event_id",
        "timestamp",
        "user_id",
        "model_id",
        "dataset_id",
        "version",
        "framework",
        "model_type",
        "source_event",
        "level",
        "is_folder",
        "file_count",
        "is_model_folder",
        "model_file_count",
        "external",
    }
    assert p.body()["source_event"] == "model.uploaded"
    assert p.body()["event_type"] == "xai-trigger.reported"
    assert p.body()["level"] == "expert"  # what the seed's core asked its partners for
    assert p.kafka_key() == "user123_m"


def test_xai_reports_are_keyed_by_user_and_model() -> None:
    p = XAIReportCreated(
        user_id="u1",
        dataset_id="d",
        model_id="m",
        xai_report_id="r",
        report_type="model_explanation",
        level="expert",
    )
    assert p.kafka_key() == "u1_m"
    assert p.event_id.startswith("xai_reported_m_")


@pytest.mark.parametrize(
    ("seconds", "minutes"), [(600, "10"), (60, "1"), (90, "1.5"), (6, "0.1"), (43200, "720")]
)
def test_the_seed_budget_is_minutes_as_text(seconds: float, minutes: str) -> None:
    assert budget_minutes(seconds) == minutes
    trigger = AutoMLTrigger(
        user_id="u", dataset_id="d", version="v1", time_budget=minutes, time_budget_s=seconds
    )
    assert trigger.body()["time_budget"] == minutes and trigger.kafka_key() == "d"


def test_event_ids_are_unique() -> None:
    ids = {ModelUploaded(user_id="u", model_id="m", version="v1").event_id for _ in range(500)}
    assert len(ids) == 500


def test_cloudevent_binary_mode_headers() -> None:
    p = ModelUploaded(user_id="u", model_id="m", version="v2")
    ce = CloudEvent.wrap(p, "models/u/m/2")
    headers = dict(ce.kafka_headers())
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"] == p.event_id.encode()
    assert headers["ce_type"] == b"io.millrace.model.uploaded"
    assert headers["ce_subject"] == b"models/u/m/2"
    assert headers["ce_source"] == b"/millrace/warehouse"
    assert ce.topic == Topic.AUTOML.value and ce.key == "u_m" and ce.data == p.body()
