"""One contract for both event buses: the embedded log and Kafka (a real Tansu broker).

Events are published the one way Millrace publishes: an outbox row in a DB transaction.
On Kafka, the outbox relay carries them to the broker.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from millrace.events.bus import BusConsumer, EventBus, Message
from millrace.events.embedded import EmbeddedBus
from millrace.events.topics import ModelUploaded
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope

Publish = Callable[[str, int], list[str]]


@pytest.fixture(params=["embedded", "kafka"])
def bus(request: pytest.FixtureRequest, warehouse: Warehouse) -> Iterator[EventBus]:
    if request.param == "embedded":
        yield EmbeddedBus(warehouse)
        return
    from millrace.events.kafka import KafkaBus

    yield KafkaBus(request.getfixturevalue("kafka_bootstrap"))


@pytest.fixture
def publish(bus: EventBus, warehouse: Warehouse, request: pytest.FixtureRequest) -> Publish:
    """Write ``n`` model.uploaded events for one key to ``topic``; relay them on Kafka."""

    def _publish(topic: str, n: int) -> list[str]:
        ids = []
        with session_scope(warehouse.sessions) as session:
            for i in range(n):
                p = ModelUploaded(user_id="u", model_id="m", version=f"v{i + 1}")
                bus.publish(session, p, subject=f"models/u/m/{i + 1}", topic=topic)
                ids.append(p.event_id)
        if type(bus).__name__ == "KafkaBus":
            from millrace.events.kafka import ensure_topics
            from millrace.events.relay import OutboxRelay

            ensure_topics(bus.bootstrap, [topic])  # type: ignore[attr-defined]
            relay = OutboxRelay(warehouse, bus.bootstrap)  # type: ignore[attr-defined]
            while relay.run_once():
                pass
        return ids

    return _publish


def drain(consumer: BusConsumer, want: int, timeout: float = 30) -> list[Message]:
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += consumer.poll(1.0)
    return got


def test_delivers_in_order_with_cloudevent_attributes(bus: EventBus, publish: Publish) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    ids = publish(topic, 5)
    with bus.consumer(f"g-{uuid.uuid4().hex[:6]}", [topic]) as consumer:
        got = drain(consumer, 5)
    assert [m.event_id for m in got] == ids  # one key: one partition, publish order
    first = got[0]
    assert first.key == "u_m"
    assert first.payload["event_type"] == "model.uploaded"
    assert first.payload["version"] == "v1"
    assert first.attributes["type"] == "io.millrace.model.uploaded"
    assert first.attributes["specversion"] == "1.0"
    assert first.attributes["subject"] == "models/u/m/1"


def test_uncommitted_messages_come_back_to_the_group(bus: EventBus, publish: Publish) -> None:
    topic, group = f"t-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:6]}"
    ids = publish(topic, 3)
    with bus.consumer(group, [topic]) as consumer:
        got = drain(consumer, 3)
        consumer.commit(got[1])  # commits everything up to and including the second
    with bus.consumer(group, [topic]) as again:
        redelivered = drain(again, 1)
        assert [m.event_id for m in redelivered] == ids[2:]
        again.commit(redelivered[0])
        assert again.lag().get(topic, 0) == 0 or type(bus).__name__ == "KafkaBus"
    with bus.consumer(group, [topic]) as third:
        assert third.poll(2.0) == []


def test_groups_are_independent(bus: EventBus, publish: Publish) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    publish(topic, 2)
    for _ in range(2):
        with bus.consumer(f"g-{uuid.uuid4().hex[:6]}", [topic]) as consumer:
            assert len(drain(consumer, 2)) == 2


def test_kafka_messages_are_seed_compatible(warehouse: Warehouse, kafka_bootstrap: str) -> None:
    """A seed-004-style consumer (plain confluent-kafka, JSON value) reads our events."""
    from confluent_kafka import Consumer

    from millrace.events.kafka import KafkaBus

    topic = f"t-{uuid.uuid4().hex[:8]}"
    bus = KafkaBus(kafka_bootstrap)
    with session_scope(warehouse.sessions) as session:
        p = ModelUploaded(
            user_id="user123",
            model_id="test-model-1",
            version="v1",
            framework="pytorch",
            training_accuracy=0.95,
        )
        bus.publish(session, p, subject="models/user123/test-model-1/1", topic=topic)
    from millrace.events.kafka import ensure_topics
    from millrace.events.relay import OutboxRelay

    ensure_topics(kafka_bootstrap, [topic])
    relay = OutboxRelay(warehouse, kafka_bootstrap)
    while relay.run_once():
        pass
    seed = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"seed-{topic}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "partition.assignment.strategy": "range",
        }
    )
    seed.subscribe([topic])
    try:
        msg = None
        deadline = time.monotonic() + 30
        while msg is None and time.monotonic() < deadline:
            candidate = seed.poll(1.0)
            if candidate is not None and candidate.error() is None:
                msg = candidate
        assert msg is not None
        assert msg.key() == b"user123_test-model-1"
        assert json.loads(msg.value()) == p.body()
        headers = dict(msg.headers())
        assert headers["ce_id"] == p.event_id.encode()
        assert headers["ce_specversion"] == b"1.0"
        assert headers["content-type"] == b"application/json"
    finally:
        seed.close()
