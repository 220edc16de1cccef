"""The event bus contract: publish through the outbox, consume with a group, commit.

Publishing is the same on every backend: an event is an outbox row written in the caller's
transaction. The embedded bus reads that table as its log; the Kafka bus gets the rows from
the relay. Consumers differ per backend and share one small interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from millrace.events.outbox import add_event
from millrace.events.topics import EventPayload
from millrace.exceptions import MillraceError
from millrace.warehouse.models import OutboxEvent

__all__ = ["BusConsumer", "CommitLost", "EventBus", "Message"]


class CommitLost(MillraceError):
    """The message's partition went to another consumer: it redelivers, we must not commit."""


@dataclass(frozen=True)
class Message:
    """One delivered event: the seed payload plus its CloudEvents attributes."""

    topic: str
    key: str
    event_id: str
    payload: dict[str, Any]
    attributes: dict[str, str]
    offset: int
    partition: int = 0
    handle: Any = field(default=None, compare=False, repr=False)  # backend commit handle


class BusConsumer(ABC):
    """A consumer-group member. At-least-once: what is not committed comes back."""

    group: str
    topics: tuple[str, ...]

    @abstractmethod
    def poll(self, timeout: float, max_messages: int = 100) -> list[Message]:
        """Wait up to ``timeout`` seconds for messages; an empty list means none came."""

    @abstractmethod
    def commit(self, message: Message) -> None:
        """Mark ``message`` (and everything before it on its partition) as handled."""

    @abstractmethod
    def lag(self) -> dict[str, int]:
        """Messages not yet committed, per topic (best effort)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> BusConsumer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class EventBus(ABC):
    @staticmethod
    def publish(
        session: Session, payload: EventPayload, *, subject: str, topic: str | None = None
    ) -> OutboxEvent:
        """Publish in the caller's transaction (the transactional outbox)."""
        return add_event(session, payload, subject=subject, topic=topic)

    @abstractmethod
    def consumer(self, group: str, topics: Sequence[str]) -> BusConsumer: ...

    @abstractmethod
    def ping(self) -> None:
        """Raise ``BackendUnavailableError`` if the bus cannot be used right now."""

    def close(self) -> None:  # noqa: B027 - most buses hold nothing between consumers
        """Release what the bus holds."""
