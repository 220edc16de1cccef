"""Retention against a real database (SQLite, and PostgreSQL under ``postgres``) and real
folders: old things go, fresh ones and undelivered events stay, a dry run deletes nothing.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from millrace.settings import Settings
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import read_scope, session_scope
from millrace.warehouse.models import ConsumerOffset, IdempotencyRecord, OutboxEvent, ProcessedEvent
from millrace.warehouse.retention import Pruned, collect_garbage, run_gc_loop
from tests.conftest import PG_ADMIN_URL, create_pg_database, drop_pg_database

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
TOPIC = "dataset-events"


def _open(tmp_path: Path, db: str, **overrides: Any) -> Iterator[Warehouse]:
    name = create_pg_database() if db == "postgres" else None
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}" if name else None
    wh = Warehouse.open(Settings(home=tmp_path / "home", database_url=url, **overrides))
    try:
        yield wh
    finally:
        wh.close()
        if name:
            drop_pg_database(name)


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    yield from _open(tmp_path, request.param)


@pytest.fixture(params=DATABASES)
def kafka_wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    yield from _open(tmp_path, request.param, event_bus="kafka://127.0.0.1:9")


def _event(tag: str, age: timedelta, topic: str = TOPIC, published: timedelta | None = None) -> Any:
    return OutboxEvent(
        event_id=tag,
        topic=topic,
        key="k",
        ce_type="io.millrace.test",
        ce_source="/test",
        ce_subject=tag,
        ce_time=NOW - age,
        payload={"tag": tag},
        published_at=NOW - published if published is not None else None,
    )


def _age(path: Path, age: timedelta) -> None:
    stamp = (NOW - age).timestamp()
    for p in [*path.rglob("*"), path]:
        os.utime(p, (stamp, stamp))


def _seed_files(home: Path) -> None:
    kfp = home / "pipelines" / "kfp"
    for run in ("old", "fresh", "champion"):
        (kfp / run / "model").mkdir(parents=True)
        (kfp / run / "model" / "spec.json").write_text("{}" * 50)
    _age(kfp / "old", 10 * DAY)
    _age(kfp / "champion", 10 * DAY)
    registry = home / "pipelines" / "registry" / "air"
    registry.mkdir(parents=True)
    history = [{"model_uri": str(kfp / "champion" / "model")}]
    (registry / "current.json").write_text(json.dumps({"history": history}))
    logs = home / "inference"
    logs.mkdir()
    for back in (40, 29, 0):
        (logs / f"requests-{(NOW - back * DAY):%Y-%m-%d}.jsonl").write_text('{"ts": 1}\n')


def _seed(wh: Warehouse) -> dict[str, int]:
    """Old and fresh things of every kind; returns the outbox offsets by tag."""
    with session_scope(wh.sessions) as s:
        events = [
            _event("old-1", 10 * DAY),
            _event("old-2", 10 * DAY),
            _event("old-unread", 10 * DAY),  # "core" has not committed it yet
            _event("fresh", DAY),
            _event("old-dlq", 10 * DAY, topic=f"{TOPIC}.dlq"),  # a topic no group reads
        ]
        s.add_all(events)
        s.flush()
        offsets = {e.event_id: e.offset for e in events}
        s.add_all(
            [
                ConsumerOffset(group_id="core", topic=TOPIC, committed=offsets["old-2"]),
                ConsumerOffset(group_id="tail", topic=TOPIC, committed=offsets["fresh"]),
                ProcessedEvent(group_id="core", event_id="e-old", handled_at=NOW - 40 * DAY),
                ProcessedEvent(group_id="core", event_id="e-recent", handled_at=NOW - 10 * DAY),
                IdempotencyRecord(
                    user_id="ada",
                    key="done-long-ago",
                    method="POST",
                    path="/x",
                    status_code=201,
                    body="x" * 1000,
                    created_at=NOW - 2 * DAY,
                ),
                IdempotencyRecord(
                    user_id="ada",
                    key="claim-of-a-dead-process",
                    method="POST",
                    path="/x",
                    created_at=NOW - 2 * DAY,
                ),
                IdempotencyRecord(
                    user_id="ada", key="recent", method="POST", path="/x", created_at=NOW
                ),
            ]
        )
    _seed_files(wh.settings.home)
    return offsets


def _counts(pruned: list[Pruned]) -> dict[str, int]:
    return {p.kind: p.count for p in pruned}


def _state(wh: Warehouse) -> dict[str, list[str]]:
    home = wh.settings.home
    with read_scope(wh.sessions) as s:
        return {
            "outbox": sorted(s.scalars(select(OutboxEvent.event_id))),
            "processed": sorted(s.scalars(select(ProcessedEvent.event_id))),
            "idempotency": sorted(s.scalars(select(IdempotencyRecord.key))),
            "kfp": sorted(p.name for p in (home / "pipelines" / "kfp").iterdir()),
            "logs": sorted(p.name for p in (home / "inference").iterdir()),
        }


EXPECTED = {
    "outbox": 2,
    "processed_events": 1,
    "idempotency_keys": 2,
    "kfp_runs": 1,
    "request_logs": 1,
}


def test_old_things_go_and_fresh_or_undelivered_ones_stay(wh: Warehouse) -> None:
    _seed(wh)
    before = _state(wh)
    dry = collect_garbage(wh, dry_run=True)
    assert _counts(dry) == EXPECTED
    assert _state(wh) == before  # a dry run deletes nothing
    kfp = next(p for p in dry if p.kind == "kfp_runs")
    assert kfp.size_bytes == 100

    done = collect_garbage(wh, batch_size=1)  # batches of one: the loop must go round
    assert _counts(done) == EXPECTED
    assert _state(wh) == {
        "outbox": ["fresh", "old-dlq", "old-unread"],
        "processed": ["e-recent"],
        "idempotency": ["recent"],
        "kfp": ["champion", "fresh"],
        "logs": [f"requests-{(NOW - d * DAY):%Y-%m-%d}.jsonl" for d in (29, 0)],
    }
    assert set(_counts(collect_garbage(wh)).values()) == {0}


def test_on_kafka_only_events_published_long_ago_go(kafka_wh: Warehouse) -> None:
    with session_scope(kafka_wh.sessions) as s:
        s.add_all(
            [
                _event("sent-long-ago", 10 * DAY, published=8 * DAY),
                _event("sent-lately", 10 * DAY, published=DAY),
                _event("never-sent", 10 * DAY),  # the broker was down: keep until relayed
            ]
        )
    assert _counts(collect_garbage(kafka_wh))["outbox"] == 1
    with read_scope(kafka_wh.sessions) as s:
        assert sorted(s.scalars(select(OutboxEvent.event_id))) == ["never-sent", "sent-lately"]


def test_an_unreadable_champion_pointer_keeps_every_kfp_run(wh: Warehouse) -> None:
    _seed_files(wh.settings.home)
    (wh.settings.home / "pipelines" / "registry" / "air" / "current.json").write_text("{")
    assert _counts(collect_garbage(wh))["kfp_runs"] == 0
    assert (wh.settings.home / "pipelines" / "kfp" / "old").is_dir()


def test_the_gc_loop_sweeps_then_stops(wh: Warehouse) -> None:
    _seed(wh)
    stop = threading.Event()
    stop.set()
    run_gc_loop(wh, stop, interval_s=3600)  # one sweep, then sees the stop
    assert _state(wh)["processed"] == ["e-recent"]


def test_processed_marks_must_outlive_outbox_rows() -> None:
    with pytest.raises(ValidationError, match="must exceed"):
        Settings(retention_outbox_days=30, retention_processed_events_days=7)
    with pytest.raises(ValidationError):
        Settings(retention_idempotency_hours=0)
