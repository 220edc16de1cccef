"""Seed 004's topics and payloads, and their CloudEvents wrapping."""

from __future__ import annotations

import json

from millrace.events.topics import TOPICS, CloudEvent, ModelUploaded, Topic, XAITrigger


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
    }
    assert p.body()["source_event"] == "model.uploaded"


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
