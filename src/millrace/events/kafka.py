"""Kafka as the event bus (confluent-kafka), in CloudEvents binary content mode.

The message value is the seed 004 JSON payload, the CloudEvents attributes travel in
``ce_*`` headers and the key is the seed's, so consumers written for seed 004 keep working.
Offsets are committed by hand, after the handler succeeded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from millrace.events.bus import BusConsumer, CommitLost, EventBus, Message
from millrace.events.topics import Topic, dlq_topic
from millrace.exceptions import BackendUnavailableError, ConfigError

try:
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ConfigError(
        "the Kafka event bus needs confluent-kafka: pip install 'millrace[kafka]'"
    ) from exc

__all__ = ["ALL_TOPICS", "KafkaBus", "KafkaConsumer", "ensure_topics", "max_poll_interval_ms"]

ALL_TOPICS = [t.value for t in Topic] + [dlq_topic(t.value) for t in Topic]
_PARTITIONS = 3


def ensure_topics(bootstrap: str, topics: Iterable[str] = ALL_TOPICS) -> None:
    """Create the topics if missing; brokers that auto-create are fine too."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=_PARTITIONS, replication_factor=1) for t in topics],
        operation_timeout=10,
    )
    for topic, future in futures.items():
        try:
            future.result(timeout=15)
        except TimeoutError as exc:  # no broker answered: the caller backs off and retries
            raise BackendUnavailableError(f"Kafka at {bootstrap} did not answer") from exc
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BackendUnavailableError(f"cannot create Kafka topic {topic}: {exc}") from exc


def _headers(raw: list[tuple[str, bytes | None]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in raw or []:
        if name.startswith("ce_") and value is not None:
            out[name[3:]] = value.decode(errors="replace")
    return out


# Commit errors that mean "not your partition any more" rather than "try again".
_LOST = {
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError._ASSIGNMENT_LOST,
}


def max_poll_interval_ms(longest_handle_s: float) -> int:
    """librdkafka's ``max.poll.interval.ms`` for handlers that may run ``longest_handle_s``.

    Past that interval without a poll the consumer leaves its group and its partitions go
    elsewhere (the 300 s default ended any AutoML run over five minutes). Half as long again
    plus ten minutes covers the work around the budget; librdkafka caps it at 24 h.
    """
    return int(min(longest_handle_s * 1.5 + 600, 86_400) * 1000)


def _agent_poll_interval_ms() -> int:
    from millrace.warehouse.datasets import MAX_TIME_BUDGET_S

    return max_poll_interval_ms(MAX_TIME_BUDGET_S)


class KafkaConsumer(BusConsumer):
    def __init__(
        self, bootstrap: str, group: str, topics: Sequence[str], extra: dict[str, Any] | None = None
    ) -> None:
        self.group = group
        self.topics = tuple(topics)
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
                "partition.assignment.strategy": "range",
                "max.poll.interval.ms": _agent_poll_interval_ms(),
                **(extra or {}),
            }
        )
        self._consumer.subscribe(list(self.topics))

    def poll(self, timeout: float, max_messages: int = 100) -> list[Message]:
        raw = self._consumer.consume(num_messages=max_messages, timeout=timeout)
        messages: list[Message] = []
        for m in raw:
            error = m.error()
            if error is not None:
                if error.code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                    continue
                raise BackendUnavailableError(f"Kafka consume error: {error}")
            try:
                payload = json.loads(m.value() or b"null")
            except json.JSONDecodeError:
                payload = {"_undecodable": (m.value() or b"")[:1000].decode(errors="replace")}
            attrs = _headers(m.headers())
            key = (m.key() or b"").decode(errors="replace")
            event_id = attrs.get("id") or str(
                (payload or {}).get("event_id") or f"{m.topic()}-{m.partition()}-{m.offset()}"
            )
            messages.append(
                Message(
                    topic=m.topic(),
                    key=key,
                    event_id=event_id,
                    payload=payload if isinstance(payload, dict) else {"value": payload},
                    attributes=attrs,
                    offset=m.offset(),
                    partition=m.partition(),
                    handle=m,
                )
            )
        return messages

    def commit(self, message: Message) -> None:
        """Commit synchronously; ``CommitLost`` if the partition went to another member.

        Committing a partition that is no longer ours could move its new owner's offset
        back, so it is not attempted: the new owner redelivers the message instead.
        """
        tp = TopicPartition(message.topic, message.partition, message.offset + 1)
        mine = {(a.topic, a.partition) for a in self._consumer.assignment()}
        if (message.topic, message.partition) not in mine:
            raise CommitLost(f"{message.topic}[{message.partition}] is no longer assigned here")
        try:
            self._consumer.commit(offsets=[tp], asynchronous=False)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() in _LOST:
                raise CommitLost(f"commit refused after a rebalance: {exc}") from exc
            raise BackendUnavailableError(f"Kafka commit failed: {exc}") from exc

    def lag(self) -> dict[str, int]:
        lags: dict[str, int] = dict.fromkeys(self.topics, 0)
        assigned = self._consumer.assignment()
        if not assigned:
            return lags
        committed = self._consumer.committed(assigned, timeout=5)
        for tp in committed:
            _low, high = self._consumer.get_watermark_offsets(tp, timeout=5, cached=False)
            done = tp.offset if tp.offset >= 0 else 0
            lags[tp.topic] = lags.get(tp.topic, 0) + max(high - done, 0)
        return lags

    def close(self) -> None:
        self._consumer.close()


class KafkaBus(EventBus):
    def __init__(self, bootstrap: str, consumer_config: dict[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self.consumer_config = consumer_config or {}

    def consumer(self, group: str, topics: Sequence[str]) -> KafkaConsumer:
        ensure_topics(self.bootstrap, topics)
        return KafkaConsumer(self.bootstrap, group, topics, self.consumer_config)

    def ping(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 3000})
        try:
            admin.list_topics(timeout=3)
        except (KafkaException, RuntimeError) as exc:
            raise BackendUnavailableError(f"Kafka at {self.bootstrap} unreachable: {exc}") from exc
