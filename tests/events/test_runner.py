"""The consumer runner: commit after success, idempotency, retries, dead letters, burst.

Run on the embedded bus (no broker) with real handlers; the Kafka path shares the runner
and is covered end to end by the bus contract tests and the journey tests.
"""

from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy import select

from millrace.events.bus import Message
from millrace.events.embedded import EmbeddedBus
from millrace.events.liveness import LivenessBoard
from millrace.events.outbox import add_event
from millrace.events.runner import (
    ConsumerRunner,
    HandlerContext,
    Reject,
    Retry,
    Subscription,
)
from millrace.events.topics import BiasReportCreated, ModelUploaded
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import ConsumerOffset, OutboxEvent, ProcessedEvent


def _publish(wh: Warehouse, topic: str, n: int = 1) -> list[str]:
    ids = []
    with session_scope(wh.sessions) as session:
        for i in range(n):
            p = ModelUploaded(user_id="u1", model_id="m", version=f"v{i + 1}")
            add_event(session, p, subject="s", topic=topic)
            ids.append(p.event_id)
    return ids


def _rows(wh: Warehouse, topic: str) -> list[OutboxEvent]:
    with session_scope(wh.sessions) as session:
        return list(session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic)))


def _names() -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"in-{tag}", f"out-{tag}", f"group-{tag}"


def test_handled_events_are_marked_and_emitted_atomically(warehouse: Warehouse) -> None:
    topic, out, group = _names()
    ids = _publish(warehouse, topic, 3)
    seen: list[str] = []

    def handler(message: Message, ctx: HandlerContext) -> None:
        seen.append(message.event_id)
        ctx.emit(
            BiasReportCreated(user_id="u1", dataset_id="d", bias_report_id=message.event_id),
            subject="x",
            topic=out,
        )

    runner = ConsumerRunner(
        warehouse, EmbeddedBus(warehouse), Subscription(group, [topic], handler)
    )
    assert runner.run(threading.Event(), burst=True, poll_timeout=0.2) == 3
    assert seen == ids
    assert [r.payload["bias_report_id"] for r in _rows(warehouse, out)] == ids
    with session_scope(warehouse.sessions) as session:
        done = session.scalars(
            select(ProcessedEvent.event_id).where(ProcessedEvent.group_id == group)
        ).all()
        offset = session.get(ConsumerOffset, (group, topic))
    assert sorted(done) == sorted(ids)
    assert offset is not None and offset.committed == max(r.offset for r in _rows(warehouse, topic))


def test_redelivered_event_changes_nothing(warehouse: Warehouse) -> None:
    topic, out, group = _names()
    _publish(warehouse, topic, 1)
    calls: list[str] = []

    def handler(message: Message, ctx: HandlerContext) -> None:
        calls.append(message.event_id)
        ctx.emit(
            BiasReportCreated(user_id="u1", dataset_id="d", bias_report_id="r"),
            subject="x",
            topic=out,
        )

    bus = EmbeddedBus(warehouse)
    runner = ConsumerRunner(warehouse, bus, Subscription(group, [topic], handler))
    runner.run(threading.Event(), burst=True, poll_timeout=0.2)
    # Redeliver: a fresh group position would see it again; feed the same message directly.
    with bus.consumer(f"{group}-replay", [topic]) as replay:
        (message,) = replay.poll(1.0)
        assert runner.process(message, replay) == "duplicate"
    assert len(calls) == 1
    assert len(_rows(warehouse, out)) == 1


def test_failures_retry_with_backoff_then_succeed(warehouse: Warehouse) -> None:
    topic, _out, group = _names()
    _publish(warehouse, topic, 1)
    sleeps: list[float] = []
    attempts: list[int] = []

    def flaky(message: Message, ctx: HandlerContext) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError("transient")

    runner = ConsumerRunner(
        warehouse,
        EmbeddedBus(warehouse),
        Subscription(group, [topic], flaky, backoff_base=0.5),
        sleep=sleeps.append,
    )
    runner.run(threading.Event(), burst=True, poll_timeout=0.2)
    assert attempts == [1, 2, 3]
    assert sleeps == [0.5, 1.0]


def test_retry_defer_is_honoured(warehouse: Warehouse) -> None:
    topic, _out, group = _names()
    _publish(warehouse, topic, 1)
    sleeps: list[float] = []

    def later(message: Message, ctx: HandlerContext) -> None:
        if ctx.attempt == 1:
            raise Retry("model not registered yet", defer=7.0)

    ConsumerRunner(
        warehouse, EmbeddedBus(warehouse), Subscription(group, [topic], later), sleep=sleeps.append
    ).run(threading.Event(), burst=True, poll_timeout=0.2)
    assert sleeps == [7.0]


def test_poison_event_ends_in_the_dlq_and_the_hook_records_why(warehouse: Warehouse) -> None:
    topic, _out, group = _names()
    (event_id,) = _publish(warehouse, topic, 1)
    recorded: list[tuple[str, str]] = []

    def poison(message: Message, ctx: HandlerContext) -> None:
        raise ValueError("column 'target' not found")

    def hook(session: object, message: Message, error: str) -> None:
        recorded.append((message.event_id, error))

    sub = Subscription(group, [topic], poison, max_tries=4, on_dead_letter=hook)
    calls: list[float] = []
    ConsumerRunner(warehouse, EmbeddedBus(warehouse), sub, sleep=calls.append).run(
        threading.Event(), burst=True, poll_timeout=0.2
    )
    assert len(calls) == 3  # four tries, three waits
    (letter,) = _rows(warehouse, f"{topic}.dlq")
    assert letter.payload["error"] == "ValueError: column 'target' not found"
    assert letter.payload["attempts"] == 4
    assert letter.payload["original_event_id"] == event_id
    assert letter.payload["original"]["payload"]["model_id"] == "m"
    assert recorded == [(event_id, "ValueError: column 'target' not found")]
    with session_scope(warehouse.sessions) as session:
        assert session.get(ProcessedEvent, (group, event_id)).outcome == "dead_letter"


def test_reject_skips_retries(warehouse: Warehouse) -> None:
    topic, _out, group = _names()
    _publish(warehouse, topic, 1)
    tries: list[int] = []

    def bad_input(message: Message, ctx: HandlerContext) -> None:
        tries.append(ctx.attempt)
        raise Reject("single-class target: nothing to learn")

    ConsumerRunner(
        warehouse,
        EmbeddedBus(warehouse),
        Subscription(group, [topic], bad_input),
        sleep=lambda _s: None,
    ).run(threading.Event(), burst=True, poll_timeout=0.2)
    assert tries == [1]
    (letter,) = _rows(warehouse, f"{topic}.dlq")
    assert letter.payload["error"].startswith("Reject: single-class")


def test_a_failing_hook_rolls_back_the_dead_letter(warehouse: Warehouse) -> None:
    """The hook runs in the DLQ transaction: if it fails, nothing is half-recorded, and the
    loop keeps trying (backing off) instead of dying, until it is stopped."""
    topic, _out, group = _names()
    _publish(warehouse, topic, 1)
    hook_calls: list[str] = []

    def poison(message: Message, ctx: HandlerContext) -> None:
        raise ValueError("boom")

    def broken_hook(session: object, message: Message, error: str) -> None:
        hook_calls.append(error)
        raise RuntimeError("journey table unavailable")

    board = LivenessBoard()
    runner = ConsumerRunner(
        warehouse,
        EmbeddedBus(warehouse),
        Subscription(group, [topic], poison, max_tries=1, on_dead_letter=broken_hook),
        board=board,
    )
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), kwargs={"poll_timeout": 0.1})
    thread.start()
    deadline = time.monotonic() + 10
    while len(hook_calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    _failing, states = board.report()
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(hook_calls) >= 3  # tried again and again, not given up
    assert "journey table unavailable" in states[group]["last_trouble"]
    assert states[group]["problem"] is None  # alive, backing off
    assert board.report()[1][group]["state"] == "stopped"
    assert _rows(warehouse, f"{topic}.dlq") == []
    with session_scope(warehouse.sessions) as session:
        assert session.get(ConsumerOffset, (group, topic)) is None  # redelivered later


def test_stop_leaves_the_rest_uncommitted(warehouse: Warehouse) -> None:
    topic, _out, group = _names()
    _publish(warehouse, topic, 5)
    stop = threading.Event()
    handled: list[str] = []

    def handler(message: Message, ctx: HandlerContext) -> None:
        handled.append(message.event_id)
        if len(handled) == 2:
            stop.set()

    bus = EmbeddedBus(warehouse)
    ConsumerRunner(warehouse, bus, Subscription(group, [topic], handler)).run(stop)
    assert len(handled) == 2
    with bus.consumer(group, [topic]) as resumed:
        assert len(resumed.poll(1.0)) == 3


def test_prometheus_counters_follow_what_happened(warehouse: Warehouse) -> None:
    from prometheus_client import REGISTRY

    topic, _out, group = _names()
    _publish(warehouse, topic, 3)

    def sometimes(message: Message, ctx: HandlerContext) -> None:
        if message.payload["version"] == "v2" and ctx.attempt == 1:
            raise ConnectionError("blip")
        if message.payload["version"] == "v3":
            raise Reject("bad")

    ConsumerRunner(
        warehouse,
        EmbeddedBus(warehouse),
        Subscription(group, [topic], sometimes),
        sleep=lambda _s: None,
    ).run(threading.Event(), burst=True, poll_timeout=0.2)
    labels = {"group": group, "topic": topic}

    def value(name: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    assert value("millrace_events_handled_total") == 2
    assert value("millrace_events_failed_total") == 2
    assert value("millrace_events_retried_total") == 1
    assert value("millrace_events_dead_lettered_total") == 1
    assert value("millrace_consumer_lag") == 0
