"""The shared consumer loop survives its backends: poll and commit errors are waited out,
dead letters count the tries that really ran, and a dead loop is named by /health."""

from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy import select

from millrace.events.bus import BusConsumer, Message
from millrace.events.embedded import EmbeddedBus
from millrace.events.kafka import max_poll_interval_ms
from millrace.events.liveness import LivenessBoard
from millrace.events.outbox import add_event
from millrace.events.runner import ConsumerRunner, HandlerContext, Reject, Subscription
from millrace.events.topics import ModelUploaded
from millrace.warehouse.context import Warehouse
from millrace.warehouse.datasets import MAX_TIME_BUDGET_S
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import OutboxEvent, ProcessedEvent


class Flaky(BusConsumer):
    """A real embedded consumer whose poll and commit fail the first few times, as a
    database blip or a broker outage makes them (the fault is injected; the consumer, the
    database and the loop are real)."""

    def __init__(self, inner: BusConsumer, poll_failures: int, commit_failures: int) -> None:
        self.inner, self.group, self.topics = inner, inner.group, inner.topics
        self.poll_failures, self.commit_failures = poll_failures, commit_failures

    def poll(self, timeout: float, max_messages: int = 100) -> list[Message]:
        if self.poll_failures:
            self.poll_failures -= 1
            raise ConnectionError("database is locked")
        return self.inner.poll(timeout, max_messages)

    def commit(self, message: Message) -> None:
        if self.commit_failures:
            self.commit_failures -= 1
            raise ConnectionError("server closed the connection unexpectedly")
        self.inner.commit(message)

    def lag(self) -> dict[str, int]:
        return self.inner.lag()

    def close(self) -> None:
        self.inner.close()


class FlakyBus(EmbeddedBus):
    def __init__(self, wh: Warehouse, poll_failures: int, commit_failures: int) -> None:
        super().__init__(wh)
        self.failures = (poll_failures, commit_failures)
        self.opened = 0

    def consumer(self, group: str, topics: object) -> BusConsumer:  # type: ignore[override]
        self.opened += 1
        failures = self.failures if self.opened == 1 else (0, 0)  # a fresh consumer works
        return Flaky(super().consumer(group, topics), *failures)  # type: ignore[arg-type]


def _publish(wh: Warehouse, topic: str, n: int) -> list[str]:
    with session_scope(wh.sessions) as session:
        events = [ModelUploaded(user_id="u1", model_id="m", version=f"v{i + 1}") for i in range(n)]
        for e in events:
            add_event(session, e, subject="s", topic=topic)
    return [e.event_id for e in events]


def _names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"in-{tag}", f"group-{tag}"


def test_poll_and_commit_errors_are_waited_out(warehouse: Warehouse) -> None:
    topic, group = _names()
    ids = _publish(warehouse, topic, 3)
    seen: list[str] = []
    board = LivenessBoard()
    bus = FlakyBus(warehouse, poll_failures=3, commit_failures=2)
    runner = ConsumerRunner(
        warehouse,
        bus,
        Subscription(group, [topic], lambda m, _ctx: seen.append(m.event_id)),
        board=board,
    )
    assert runner.run(threading.Event(), burst=True, poll_timeout=0.1) == 3
    assert seen == ids  # each handled once: a failed commit does not re-run the handler
    with session_scope(warehouse.sessions) as session:
        done = session.scalars(
            select(ProcessedEvent.event_id).where(ProcessedEvent.group_id == group)
        )
        assert sorted(done) == sorted(ids)
    failing, states = board.report()
    assert failing == []
    assert states[group]["state"] == "stopped"
    assert (
        "server closed the connection" in states[group]["last_trouble"]
        or "locked" in (states[group]["last_trouble"])
    )


def test_a_consumer_that_keeps_failing_is_opened_again(warehouse: Warehouse) -> None:
    topic, group = _names()
    _publish(warehouse, topic, 1)
    bus = FlakyBus(warehouse, poll_failures=5, commit_failures=0)
    seen: list[str] = []
    ConsumerRunner(
        warehouse, bus, Subscription(group, [topic], lambda m, _ctx: seen.append(m.event_id))
    ).run(threading.Event(), burst=True, poll_timeout=0.1)
    assert bus.opened == 2  # five poll errors in a row: closed, reopened, then it worked
    assert len(seen) == 1


def test_a_rejected_event_records_the_one_try_that_ran(warehouse: Warehouse) -> None:
    topic, group = _names()
    _publish(warehouse, topic, 1)

    def bad(message: Message, ctx: HandlerContext) -> None:
        raise Reject("single-class target")

    ConsumerRunner(
        warehouse, EmbeddedBus(warehouse), Subscription(group, [topic], bad, max_tries=5)
    ).run(threading.Event(), burst=True, poll_timeout=0.1)
    with session_scope(warehouse.sessions) as session:
        (letter,) = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == f"{topic}.dlq"))
    assert letter.payload["attempts"] == 1


def test_a_dead_loop_is_named_with_its_reason(warehouse: Warehouse) -> None:
    topic, group = _names()
    _publish(warehouse, topic, 1)

    def fatal(message: Message, ctx: HandlerContext) -> None:
        raise SystemExit("out of file descriptors")

    board = LivenessBoard()
    runner = ConsumerRunner(
        warehouse, EmbeddedBus(warehouse), Subscription(group, [topic], fatal), board=board
    )
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(runner, errors))
    thread.start()
    thread.join(timeout=10)
    failing, states = board.report()
    assert failing == [group]
    assert "out of file descriptors" in states[group]["problem"]


def _capture(runner: ConsumerRunner, errors: list[BaseException]) -> None:
    try:
        runner.run(threading.Event(), poll_timeout=0.1)
    except BaseException as exc:
        errors.append(exc)


def test_a_loop_that_stops_polling_is_reported() -> None:
    board = LivenessBoard()
    record = board.register("automl")
    record.start()
    assert board.report()[0] == []
    record.last_beat = time.monotonic() - 600  # no poll for ten minutes, not handling
    failing, states = board.report()
    assert failing == ["automl"]
    assert states["automl"]["problem"].startswith("has not polled for 6")


def test_the_kafka_poll_interval_outlasts_the_longest_budget() -> None:
    interval_s = max_poll_interval_ms(MAX_TIME_BUDGET_S) / 1000
    assert MAX_TIME_BUDGET_S * 1.5 < interval_s <= 24 * 3600
    assert max_poll_interval_ms(10 * 24 * 3600) == 86_400_000  # librdkafka's ceiling
