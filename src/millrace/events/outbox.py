"""The transactional outbox: an event is a row written with the change it announces.

``add_event`` only adds to the caller's session, so the event commits or rolls back with
the dataset, model or report row; there is no window where one exists without the other.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from millrace.events.topics import CloudEvent, EventPayload
from millrace.warehouse.models import OutboxEvent

__all__ = ["add_event", "to_cloud_event"]


def add_event(session: Session, payload: EventPayload, *, subject: str) -> OutboxEvent:
    event = CloudEvent.wrap(payload, subject)
    row = OutboxEvent(
        event_id=event.id,
        topic=event.topic.value,
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
        topic=row.topic,  # type: ignore[arg-type]
        key=row.key,
        data=row.payload,
    )
