"""End-to-end event throughput: publish -> handled -> committed.

Millrace's path is: an outbox row per event (in a DB transaction), then the consumer runner
(processed mark + offset commit per event); on Kafka the relay sits in between. Next to it,
raw confluent-kafka produce/consume on the same broker shows what the broker alone allows.
Each figure is events per second over N events; ratios are Millrace / raw Kafka.

    .venv/bin/python benchmarks/events.py [--events 2000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from rich.console import Console
from rich.table import Table

from millrace.events.bus import EventBus, Message
from millrace.events.embedded import EmbeddedBus
from millrace.events.kafka import KafkaBus, ensure_topics
from millrace.events.outbox import add_event
from millrace.events.relay import OutboxRelay
from millrace.events.runner import ConsumerRunner, HandlerContext, Subscription
from millrace.events.testing import tansu_broker
from millrace.events.topics import ModelUploaded
from millrace.settings import Settings
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope

BATCH = 100


def publish(wh: Warehouse, topic: str, n: int) -> float:
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        with session_scope(wh.sessions) as session:
            for i in range(start, min(start + BATCH, n)):
                p = ModelUploaded(user_id="bench", model_id=f"m{i % 16}", version="v1")
                add_event(session, p, subject="bench", topic=topic)
    return time.perf_counter() - started


def consume(wh: Warehouse, bus: EventBus, topic: str, n: int) -> float:
    seen = 0
    done = threading.Event()

    def handler(message: Message, ctx: HandlerContext) -> None:
        nonlocal seen
        seen += 1
        if seen >= n:
            done.set()

    runner = ConsumerRunner(
        wh, bus, Subscription(f"bench-{uuid.uuid4().hex[:6]}", [topic], handler)
    )
    started = time.perf_counter()
    thread = threading.Thread(target=runner.run, args=(done,), daemon=True)
    thread.start()
    done.wait(600)
    thread.join(30)
    return time.perf_counter() - started


def millrace_run(wh: Warehouse, bus: EventBus, n: int, bootstrap: str | None) -> dict[str, float]:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    t_pub = publish(wh, topic, n)
    t_relay = 0.0
    if bootstrap:
        ensure_topics(bootstrap, [topic])
        relay = OutboxRelay(wh, bootstrap, batch_size=1000)
        started = time.perf_counter()
        while relay.run_once():
            pass
        t_relay = time.perf_counter() - started
    t_con = consume(wh, bus, topic, n)
    total = t_pub + t_relay + t_con
    return {
        "publish_s": t_pub,
        "relay_s": t_relay,
        "consume_s": t_con,
        "total_s": total,
        "events_per_s": n / total,
    }


def raw_kafka(bootstrap: str, n: int) -> dict[str, float]:
    topic = f"raw-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic])
    payload = json.dumps(ModelUploaded(user_id="bench", model_id="m", version="v1").body())
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
    )
    started = time.perf_counter()
    for i in range(n):
        producer.produce(topic, key=f"bench_m{i % 16}".encode(), value=payload.encode())
        producer.poll(0)
    producer.flush(60)
    t_prod = time.perf_counter() - started
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"raw-{topic}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "partition.assignment.strategy": "range",
        }
    )
    consumer.subscribe([topic])
    got = 0
    started = time.perf_counter()
    while got < n:
        for m in consumer.consume(500, 1.0):
            if m.error() is None:
                json.loads(m.value())
                consumer.commit(
                    offsets=[TopicPartition(m.topic(), m.partition(), m.offset() + 1)],
                    asynchronous=False,
                )
                got += 1
    t_con = time.perf_counter() - started
    consumer.close()
    total = t_prod + t_con
    return {
        "publish_s": t_prod,
        "relay_s": 0.0,
        "consume_s": t_con,
        "total_s": total,
        "events_per_s": n / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    n = args.events
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse.open(Settings(home=Path(tmp) / "home"))
        results["embedded (SQLite log)"] = millrace_run(wh, EmbeddedBus(wh), n, None)
        with tansu_broker(Path(tmp) / "tansu.log") as bootstrap:
            results["Millrace on Kafka (Tansu)"] = millrace_run(
                wh, KafkaBus(bootstrap), n, bootstrap
            )
            results["raw confluent-kafka (Tansu)"] = raw_kafka(bootstrap, n)
        wh.close()
    raw = results["raw confluent-kafka (Tansu)"]["events_per_s"]
    table = Table(title=f"Event throughput, {n} events (publish -> handled -> committed)")
    for col in ("path", "publish s", "relay s", "consume s", "events/s", "vs raw Kafka"):
        table.add_column(col, justify="right" if col != "path" else "left")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['publish_s']:.2f}",
            f"{r['relay_s']:.2f}",
            f"{r['consume_s']:.2f}",
            f"{r['events_per_s']:.0f}",
            f"{r['events_per_s'] / raw:.2f}x",
        )
    console = Console()
    console.print(table)
    console.print(
        "Millrace commits each event after its handler, with a processed mark in "
        "the DB (idempotency); the raw baseline commits each offset synchronously "
        "but keeps no processed marks."
    )
    print(
        json.dumps(
            {
                "events": n,
                "embedded_events_per_s": round(results["embedded (SQLite log)"]["events_per_s"], 1),
                "kafka_events_per_s": round(
                    results["Millrace on Kafka (Tansu)"]["events_per_s"], 1
                ),
                "raw_kafka_events_per_s": round(raw, 1),
                "embedded_vs_raw_kafka": round(
                    results["embedded (SQLite log)"]["events_per_s"] / raw, 3
                ),
                "kafka_vs_raw_kafka": round(
                    results["Millrace on Kafka (Tansu)"]["events_per_s"] / raw, 3
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
