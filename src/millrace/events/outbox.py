"""The transactional outbox: an event is a row written with the change it announces.

``add_event`` only adds to the caller's session, so the event commits or rolls back with
the dataset, model or report row; there is no window where one exists without the other.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from millrace.events.topics import CloudEvent, EventPayload
from millrace.warehouse.models import OutboxEvent

__all__ = ["OUTBOX_LOCK", "add_event", "to_cloud_event"]

OUTBOX_LOCK = 0x6D696C6C  # "mill": the advisory lock id that orders outbox writers


def add_event(
    session: Session, payload: EventPayload, *, subject: str, topic: str | None = None
) -> OutboxEvent:
    """Add ``payload`` to the outbox in the caller's transaction (``topic`` overrides the
    payload's own, for dead letters)."""
    if session.get_bind().dialect.name == "postgresql":
        # Offsets come from a sequence, so concurrent transactions could commit them out
        # of order and a reader of the log would skip the late one forever. Holding this
        # lock until commit makes outbox writers commit in offset order.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": OUTBOX_LOCK})
    event = CloudEvent.wrap(payload, subject, topic=topic)
    row = OutboxEvent(
        event_id=event.id,
        topic=event.topic,
        key=event.key,
        ce_type=event.type,
        ce_source=event.source,
        ce_subject=event.subject,
        ce_time=event.time,
        payload=event.data,
    )
    session.add(row)
    return row


def to_cloud_event(row: OutboxEvent) -> CloudEvent:
    return CloudEvent(
        id=row.event_id,
        source=row.ce_source,
        type=row.ce_type,
        time=row.ce_time,
        subject=row.ce_subject,
        topic=row.topic,
        key=row.key,
        data=row.payload,
    )
