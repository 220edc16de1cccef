"""The embedded event bus: the outbox table is the log, a table holds group offsets.

Needs no server. Consumers long-poll the table; a group's position is the last committed
offset per topic, so a restarted consumer resumes where it left off (at-least-once). One
consumer per group: to spread a group over processes, use Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from millrace.events.bus import BusConsumer, EventBus, Message
from millrace.exceptions import BackendUnavailableError
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import ping, read_scope, session_scope
from millrace.warehouse.models import ConsumerOffset, OutboxEvent, utcnow

__all__ = ["EmbeddedBus", "EmbeddedConsumer"]

_IDLE_SLEEP = (0.02, 0.25)  # back off from 20 ms to 250 ms while the log is quiet


def to_message(row: OutboxEvent) -> Message:
    return Message(
        topic=row.topic,
        key=row.key,
        event_id=row.event_id,
        payload=row.payload,
        attributes={
            "id": row.event_id,
            "source": row.ce_source,
            "type": row.ce_type,
            "specversion": "1.0",
            "time": row.ce_time.isoformat(),
            "subject": row.ce_subject,
        },
        offset=row.offset,
    )


class EmbeddedConsumer(BusConsumer):
    def __init__(self, wh: Warehouse, group: str, topics: Sequence[str]) -> None:
        self.wh = wh
        self.group = group
        self.topics = tuple(topics)
        with read_scope(wh.sessions) as session:
            rows = session.scalars(
                select(ConsumerOffset).where(
                    ConsumerOffset.group_id == group, ConsumerOffset.topic.in_(self.topics)
                )
            ).all()
        committed = {r.topic: r.committed for r in rows}
        # Where the next poll starts; ahead of the committed offset while messages are in
        # flight. A new group starts at the beginning of the log.
        self._position = {t: committed.get(t, 0) for t in self.topics}

    def poll(self, timeout: float, max_messages: int = 100) -> list[Message]:
        deadline = time.monotonic() + timeout
        sleep = _IDLE_SLEEP[0]
        while True:
            messages = self._fetch(max_messages)
            if messages or time.monotonic() >= deadline:
                return messages
            time.sleep(min(sleep, max(deadline - time.monotonic(), 0)))
            sleep = min(sleep * 2, _IDLE_SLEEP[1])

    def _fetch(self, limit: int) -> list[Message]:
        after = or_(
            *(
                and_(OutboxEvent.topic == t, OutboxEvent.offset > p)
                for t, p in self._position.items()
            )
        )
        # Idle consumers poll several times a second: a read-only transaction never queues
        # behind a writer (an agent's commit, an upload) nor makes one queue behind it.
        with read_scope(self.wh.sessions) as session:
            rows = session.scalars(
                select(OutboxEvent).where(after).order_by(OutboxEvent.offset).limit(limit)
            ).all()
            messages = [to_message(r) for r in rows]
        for m in messages:
            self._position[m.topic] = max(self._position[m.topic], m.offset)
        return messages

    def commit(self, message: Message) -> None:
        with session_scope(self.wh.sessions) as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            stmt = insert(ConsumerOffset).values(
                group_id=self.group,
                topic=message.topic,
                committed=message.offset,
                updated_at=utcnow(),
            )
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["group_id", "topic"],
                    set_={
                        "committed": func.max(stmt.excluded.committed, ConsumerOffset.committed)
                        if dialect == "sqlite"
                        else func.greatest(stmt.excluded.committed, ConsumerOffset.committed),
                        "updated_at": utcnow(),
                    },
                )
            )

    def rewind(self) -> None:
        """Forget in-flight positions: the next poll starts after the committed offsets."""
        fresh = EmbeddedConsumer(self.wh, self.group, self.topics)
        self._position = fresh._position

    def lag(self) -> dict[str, int]:
        with read_scope(self.wh.sessions) as session:
            committed = dict(
                session.execute(
                    select(ConsumerOffset.topic, ConsumerOffset.committed).where(
                        ConsumerOffset.group_id == self.group,
                        ConsumerOffset.topic.in_(self.topics),
                    )
                )
                .tuples()
                .all()
            )
            behind = or_(
                *(
                    and_(OutboxEvent.topic == t, OutboxEvent.offset > committed.get(t, 0))
                    for t in self.topics
                )
            )
            counts = dict(
                session.execute(
                    select(OutboxEvent.topic, func.count())
                    .where(behind)
                    .group_by(OutboxEvent.topic)
                )
                .tuples()
                .all()
            )
        return {t: int(counts.get(t, 0)) for t in self.topics}

    def close(self) -> None:
        pass


class EmbeddedBus(EventBus):
    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh

    def consumer(self, group: str, topics: Sequence[str]) -> EmbeddedConsumer:
        return EmbeddedConsumer(self.wh, group, topics)

    def ping(self) -> None:
        try:
            ping(self.wh.engine)
        except Exception as exc:
            raise BackendUnavailableError(f"embedded event log unavailable: {exc}") from exc
