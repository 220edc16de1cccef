"""How an agent consumes: a handler and its subscription, on the shared consumer loop.

A handler is a plain function ``(message, ctx) -> None``. It does its work (in its own short
transactions, never holding one across long computation) and announces results through
``ctx.emit``. The runner then, in ONE transaction, records the event id as processed and
writes the emitted events to the outbox; only after that commits does it commit the offset.

- Redelivery of a processed event id changes nothing (skipped, offset committed).
- A handler that raises is retried with exponential back-off; ``Retry(defer)`` picks the
  delay; after ``max_tries`` the event goes to ``<topic>.dlq`` with the error, and
  ``on_dead_letter`` lets the agent record why (the core marks the journey step failed).
- ``Reject(reason)`` skips the retries: the input itself is bad.
- Tries, back-off around poll/commit, liveness and shutdown are the loop's
  (``events/loop.py``), the same one the Kafka-chained pipeline stages run on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session

from millrace.events.bus import BusConsumer, EventBus, Message
from millrace.events.liveness import Liveness, LivenessBoard
from millrace.events.loop import ConsumerLoop, Reject, Retry, RetryPolicy
from millrace.events.outbox import add_event
from millrace.events.topics import DeadLetter, EventPayload, dlq_topic
from millrace.faults import crash_point
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import read_scope, session_scope
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


Emitted = tuple[EventPayload, str, str | None]  # payload, subject, topic (None: its own)


@dataclass
class HandlerContext:
    warehouse: Warehouse
    message: Message
    attempt: int
    group: str
    emitted: list[Emitted] = field(default_factory=list)

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


class _AgentDelivery:
    """An agent's side of the loop: done-checks, results and dead letters in the warehouse."""

    def __init__(self, wh: Warehouse, sub: Subscription) -> None:
        self.wh, self.sub = wh, sub

    def seen(self, message: Message) -> bool:
        with read_scope(self.wh.sessions) as session:
            return session.get(ProcessedEvent, (self.sub.group, message.event_id)) is not None

    def handle(self, message: Message, attempt: int) -> list[Emitted]:
        ctx = HandlerContext(self.wh, message, attempt, self.sub.group)
        self.sub.handler(message, ctx)
        crash_point("runner.after_handle")
        return ctx.emitted

    def finish(self, message: Message, emitted: list[Emitted]) -> bool:
        done = self._mark(message, emitted, "handled")
        crash_point("runner.after_finish")
        return done

    def dead_letter(self, message: Message, error: str, attempts: int) -> None:
        letter = DeadLetter(
            user_id=str(message.payload.get("user_id", "")),
            group=self.sub.group,
            error=error[:4000],
            error_type=error.split(":", 1)[0],
            attempts=attempts,
            original_topic=message.topic,
            original_key=message.key,
            original_event_id=message.event_id,
            original={"payload": message.payload, "attributes": message.attributes},
        )
        hook = self.sub.on_dead_letter
        self._mark(
            message,
            [(letter, f"dlq/{message.topic}/{message.event_id}", dlq_topic(message.topic))],
            "dead_letter",
            also=(lambda session: hook(session, message, error)) if hook else None,
        )

    def _mark(
        self,
        message: Message,
        emitted: list[Emitted],
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


class ConsumerRunner:
    """An agent's consumer: its subscription on the shared ``ConsumerLoop``."""

    def __init__(
        self,
        wh: Warehouse,
        bus: EventBus,
        sub: Subscription,
        sleep: Callable[[float], None] | None = None,
        board: LivenessBoard | None = None,
    ) -> None:
        self.wh, self.bus, self.sub = wh, bus, sub
        self.loop: ConsumerLoop[list[Emitted]] = ConsumerLoop(
            name=sub.group,
            open_consumer=lambda: bus.consumer(sub.group, sub.topics),
            delivery=_AgentDelivery(wh, sub),
            policy=RetryPolicy(sub.max_tries, sub.backoff_base, sub.backoff_max),
            sleep=sleep,
            board=board,
        )

    @property
    def liveness(self) -> Liveness:
        return self.loop.liveness

    def run(self, stop: threading.Event, *, burst: bool = False, poll_timeout: float = 1.0) -> int:
        """Consume until ``stop`` is set (or, in burst mode, until the log is drained)."""
        return self.loop.run(stop, burst=burst, poll_timeout=poll_timeout)

    def process(self, message: Message, consumer: BusConsumer) -> str:
        """Handle one message to completion and commit it; returns the outcome."""
        return self.loop.process(message, consumer, threading.Event())
