"""The consumer loop every agent shares.

A handler is a plain function ``(message, ctx) -> None``. It does its work (in its own short
transactions, never holding one across long computation) and announces results through
``ctx.emit``. The runner then, in ONE transaction, records the event id as processed and
writes the emitted events to the outbox; only after that commits does it commit the offset.

- Redelivery of a processed event id changes nothing (skipped, offset committed).
- A handler that raises is retried with exponential back-off; ``Retry(defer)`` picks the
  delay; after ``max_tries`` the event goes to ``<topic>.dlq`` with the error, and
  ``on_dead_letter`` lets the agent record why (the core marks the journey step failed).
- ``Reject(reason)`` skips the retries: the input itself is bad.
- ``stop`` is checked between messages: SIGTERM finishes the current message, then exits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session

from millrace.events import metrics
from millrace.events.bus import BusConsumer, EventBus, Message
from millrace.events.outbox import add_event
from millrace.events.topics import DeadLetter, EventPayload, dlq_topic
from millrace.exceptions import MillraceError
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import ProcessedEvent

__all__ = [
    "ConsumerRunner",
    "DeadLetterHook",
    "Handler",
    "HandlerContext",
    "Reject",
    "Retry",
    "Subscription",
]

log = logging.getLogger("millrace.runner")

# Lag costs broker round trips (committed offsets, watermarks): measure it now and then,
# not after every batch.
LAG_REPORT_EVERY_S = 5.0


class Retry(MillraceError):
    """Raised by a handler to be called again after ``defer`` seconds."""

    def __init__(self, detail: str = "retry requested", defer: float | None = None) -> None:
        super().__init__(detail)
        self.defer = defer


class Reject(MillraceError):
    """Raised by a handler when retrying cannot help: straight to the dead-letter topic."""


@dataclass
class HandlerContext:
    warehouse: Warehouse
    message: Message
    attempt: int
    group: str
    emitted: list[tuple[EventPayload, str, str | None]] = field(default_factory=list)

    def emit(self, payload: EventPayload, *, subject: str, topic: str | None = None) -> None:
        """Publish ``payload`` together with this event's "processed" mark."""
        self.emitted.append((payload, subject, topic))


class Handler(Protocol):
    def __call__(self, message: Message, ctx: HandlerContext) -> None: ...


# Runs inside the dead-letter transaction: its writes commit with the DLQ event or not at all.
DeadLetterHook = Callable[[Session, Message, str], None]


@dataclass
class Subscription:
    group: str
    topics: Sequence[str]
    handler: Handler
    max_tries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    on_dead_letter: DeadLetterHook | None = None


class ConsumerRunner:
    def __init__(
        self,
        wh: Warehouse,
        bus: EventBus,
        sub: Subscription,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.wh = wh
        self.bus = bus
        self.sub = sub
        self._sleep = sleep

    def run(self, stop: threading.Event, *, burst: bool = False, poll_timeout: float = 1.0) -> int:
        """Consume until ``stop`` is set (or, in burst mode, until the log is drained)."""
        handled = 0
        next_lag_report = 0.0
        with self.bus.consumer(self.sub.group, self.sub.topics) as consumer:
            while not stop.is_set():
                batch = consumer.poll(poll_timeout)
                for message in batch:
                    if stop.is_set():
                        break  # uncommitted: redelivered to whoever resumes
                    self.process(message, consumer)
                    handled += 1
                if time.monotonic() >= next_lag_report:
                    self._report_lag(consumer)
                    next_lag_report = time.monotonic() + LAG_REPORT_EVERY_S
                if burst and not batch:
                    break
        return handled

    def _report_lag(self, consumer: BusConsumer) -> None:
        try:
            for topic, lag in consumer.lag().items():
                metrics.CONSUMER_LAG.labels(self.sub.group, topic).set(lag)
        except MillraceError as exc:
            log.debug("lag unavailable: %s", exc)

    def _already_processed(self, event_id: str) -> bool:
        with session_scope(self.wh.sessions) as session:
            return session.get(ProcessedEvent, (self.sub.group, event_id)) is not None

    def process(self, message: Message, consumer: BusConsumer) -> str:
        """Handle one message to completion; returns the outcome."""
        labels = (self.sub.group, message.topic)
        if self._already_processed(message.event_id):
            metrics.SKIPPED.labels(*labels).inc()
            consumer.commit(message)
            return "duplicate"
        error = ""
        for attempt in range(1, self.sub.max_tries + 1):
            ctx = HandlerContext(self.wh, message, attempt, self.sub.group)
            started = time.perf_counter()
            try:
                self.sub.handler(message, ctx)
            except Reject as exc:
                metrics.FAILED.labels(*labels).inc()
                error = f"Reject: {exc.detail}"
                break
            except Exception as exc:
                metrics.FAILED.labels(*labels).inc()
                error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "%s: %s failed (try %d/%d): %s",
                    self.sub.group,
                    message.event_id,
                    attempt,
                    self.sub.max_tries,
                    error,
                )
                if attempt < self.sub.max_tries:
                    metrics.RETRIED.labels(*labels).inc()
                    defer = exc.defer if isinstance(exc, Retry) else None
                    self._sleep(defer if defer is not None else self._backoff(attempt))
                continue
            if self._finish(message, ctx.emitted, "handled"):
                metrics.HANDLED.labels(*labels).inc()
                metrics.HANDLE_SECONDS.labels(*labels).observe(time.perf_counter() - started)
            else:
                metrics.SKIPPED.labels(*labels).inc()
            consumer.commit(message)
            return "handled"
        self._dead_letter(message, error)
        consumer.commit(message)
        return "dead_lettered"

    def _backoff(self, attempt: int) -> float:
        return float(min(self.sub.backoff_base * 2 ** (attempt - 1), self.sub.backoff_max))

    def _finish(
        self,
        message: Message,
        emitted: list[tuple[EventPayload, str, str | None]],
        outcome: str,
        also: Callable[[Session], None] | None = None,
    ) -> bool:
        """Mark processed and publish, atomically. False if another worker got there first."""
        with session_scope(self.wh.sessions) as session:
            exists = session.get(ProcessedEvent, (self.sub.group, message.event_id))
            if exists is not None:
                return False
            session.add(
                ProcessedEvent(group_id=self.sub.group, event_id=message.event_id, outcome=outcome)
            )
            for payload, subject, topic in emitted:
                add_event(session, payload, subject=subject, topic=topic)
            if also is not None:
                also(session)
        return True

    def _dead_letter(self, message: Message, error: str) -> None:
        letter = DeadLetter(
            user_id=str(message.payload.get("user_id", "")),
            group=self.sub.group,
            error=error[:4000],
            error_type=error.split(":", 1)[0],
            attempts=self.sub.max_tries,
            original_topic=message.topic,
            original_key=message.key,
            original_event_id=message.event_id,
            original={"payload": message.payload, "attributes": message.attributes},
        )
        hook = self.sub.on_dead_letter
        self._finish(
            message,
            [(letter, f"dlq/{message.topic}/{message.event_id}", dlq_topic(message.topic))],
            "dead_letter",
            also=(lambda session: hook(session, message, error)) if hook else None,
        )
        metrics.DEAD_LETTERED.labels(self.sub.group, message.topic).inc()
        log.error("%s: %s dead-lettered: %s", self.sub.group, message.event_id, error)
