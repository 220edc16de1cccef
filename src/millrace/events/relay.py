"""The outbox relay: moves outbox rows to Kafka, in order, and marks them sent.

Rows are produced in offset order with an idempotent producer, so events with one key keep
their order on their partition. A row is marked sent only after the broker acknowledged
it; a crash in between re-sends it, which consumers absorb (they are idempotent by event
id). A broker outage delays events and loses none.
"""

from __future__ import annotations

import json
import logging
import threading

from sqlalchemy import select, update

from millrace.events.liveness import LivenessBoard
from millrace.events.loop import trouble_backoff
from millrace.events.outbox import to_cloud_event
from millrace.exceptions import BackendUnavailableError
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import OutboxEvent, utcnow

try:
    from confluent_kafka import KafkaError, Message, Producer
except ImportError:  # pragma: no cover - the kafka extra is missing
    Producer = None  # type: ignore[assignment,misc]

__all__ = ["OutboxRelay"]

log = logging.getLogger("millrace.relay")


class OutboxRelay:
    def __init__(self, wh: Warehouse, bootstrap: str, batch_size: int = 500) -> None:
        if Producer is None:
            raise BackendUnavailableError("the relay needs confluent-kafka (millrace[kafka])")
        self.bootstrap = bootstrap
        self._topics_ready = False  # made on the first send: the broker may be down now
        self.wh = wh
        self.batch_size = batch_size
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
            }
        )

    def run_once(self) -> int:
        """Send one batch; returns how many rows were marked sent."""
        if not self._topics_ready:
            from millrace.events.kafka import ensure_topics

            ensure_topics(self.bootstrap)  # raises while the broker is down; run() waits
            self._topics_ready = True
        with session_scope(self.wh.sessions) as session:
            rows = session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.published_at.is_(None))
                .order_by(OutboxEvent.offset)
                .limit(self.batch_size)
            ).all()
            pending = [(r.offset, to_cloud_event(r)) for r in rows]
        if not pending:
            return 0
        failed: dict[int, str] = {}

        def delivered(offset: int) -> object:
            def callback(err: KafkaError | None, _msg: Message) -> None:
                if err is not None:
                    failed[offset] = str(err)

            return callback

        for offset, event in pending:
            self._producer.produce(
                event.topic,
                key=event.key.encode(),
                value=json.dumps(event.data).encode(),
                headers=event.kafka_headers(),
                on_delivery=delivered(offset),
            )
            self._producer.poll(0)
        left = self._producer.flush(30)
        sent = [o for o, _ in pending if o not in failed]
        if left or failed:
            # Mark only the prefix that was acknowledged, so order holds on the retry.
            first_bad = min(failed, default=pending[-1][0] + 1)
            sent = [o for o in sent if o < first_bad] if not left else []
            log.warning(
                "relay: %d not delivered (%s)",
                len(pending) - len(sent),
                next(iter(failed.values()), "flush timed out"),
            )
        if sent:
            with session_scope(self.wh.sessions) as session:
                session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.offset.in_(sent))
                    .values(published_at=utcnow())
                )
        return len(sent)

    def run(
        self, stop: threading.Event, idle_sleep: float = 0.1, board: LivenessBoard | None = None
    ) -> None:
        """Relay until ``stop``; any error (broker or database) is waited out, never fatal."""
        liveness = (board or LivenessBoard()).register("relay")
        liveness.start()
        failures = 0
        try:
            while not stop.is_set():
                liveness.beat()
                try:
                    sent = self.run_once()
                except Exception as exc:
                    failures += 1
                    liveness.trouble(f"{type(exc).__name__}: {exc}")
                    log.warning("relay: %s: %s; retrying", type(exc).__name__, exc)
                    stop.wait(trouble_backoff(failures))
                    continue
                if failures:
                    failures = 0
                    liveness.recovered()
                if sent == 0:
                    stop.wait(idle_sleep)
        except BaseException as exc:
            liveness.die(exc)
            raise
        liveness.stop()
        self._producer.flush(10)
