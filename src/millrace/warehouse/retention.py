"""Retention: delete what nothing needs any more, as the settings' ``retention_*`` say.

Left alone, five things grow without bound: outbox rows, processed-event marks,
idempotency records (each holding up to 1 MiB of answer), ``kfp.local`` run folders and
the inference server's daily request logs. ``collect_garbage`` prunes each by age, in
small batches, each batch its own short transaction, so agents and uploads writing at the
same time wait for one batch at most, never for the whole sweep.

What is never deleted, whatever its age:

- an outbox row not yet delivered: on Kafka, not yet published by the relay; on the
  embedded log, not yet committed by every consumer group that reads its topic (a topic
  no group has committed on, such as a dead-letter topic, is kept whole);
- a ``kfp.local`` run folder holding a model that a registry's ``current.json`` names as
  its champion, or in which anything changed within the retention window.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from millrace.settings import EventBusKind, Settings
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import read_scope, session_scope
from millrace.warehouse.models import ConsumerOffset, IdempotencyRecord, OutboxEvent, ProcessedEvent

__all__ = ["GC_INTERVAL_S", "Pruned", "collect_garbage", "run_gc_loop"]

log = logging.getLogger("millrace.retention")

GC_INTERVAL_S = 6 * 3600.0
_REQUEST_LOG = "requests-"


@dataclass(frozen=True)
class Pruned:
    """What one kind of garbage came to: how many were (or, in a dry run, would be)
    deleted, and the age past which they went."""

    kind: str
    count: int
    older_than: datetime
    size_bytes: int | None = None  # files and folders only


def collect_garbage(
    wh: Warehouse, *, dry_run: bool = False, now: datetime | None = None, batch_size: int = 500
) -> list[Pruned]:
    """Prune every kind once; with ``dry_run``, only count what would go."""
    s = wh.settings
    now = now or datetime.now(UTC)
    days = timedelta(days=1)
    cutoffs = {
        "outbox": now - s.retention_outbox_days * days,
        "processed_events": now - s.retention_processed_events_days * days,
        "idempotency_keys": now - timedelta(hours=s.retention_idempotency_hours),
        "kfp_runs": now - s.retention_kfp_work_days * days,
        "request_logs": now - s.retention_request_log_days * days,
    }
    rows = _RowPruner(wh, dry_run, batch_size)
    outbox = _delivered_outbox(wh, s, cutoffs["outbox"])
    return [
        Pruned("outbox", rows.prune(OutboxEvent, (OutboxEvent.offset,), outbox), cutoffs["outbox"]),
        Pruned(
            "processed_events",
            rows.prune(
                ProcessedEvent,
                (ProcessedEvent.group_id, ProcessedEvent.event_id),
                ProcessedEvent.handled_at < cutoffs["processed_events"],
            ),
            cutoffs["processed_events"],
        ),
        # In-flight claims go too: a request still running after a day is one whose
        # process died, and its claim would otherwise answer 409 for ever.
        Pruned(
            "idempotency_keys",
            rows.prune(
                IdempotencyRecord,
                (IdempotencyRecord.user_id, IdempotencyRecord.key),
                IdempotencyRecord.created_at < cutoffs["idempotency_keys"],
            ),
            cutoffs["idempotency_keys"],
        ),
        _prune_paths("kfp_runs", _old_kfp_runs(s, cutoffs["kfp_runs"]), cutoffs, dry_run),
        _prune_paths(
            "request_logs", _old_request_logs(s, cutoffs["request_logs"]), cutoffs, dry_run
        ),
    ]


def run_gc_loop(wh: Warehouse, stop: threading.Event, interval_s: float = GC_INTERVAL_S) -> None:
    """Collect garbage now and every ``interval_s`` until ``stop``; a failed sweep is
    logged and retried at the next one, never fatal to the process running it."""
    while True:
        try:
            pruned = collect_garbage(wh)
            log.info("gc: %s", ", ".join(f"{p.kind}={p.count}" for p in pruned))
        except Exception:
            log.exception("gc failed; retrying in %.0f s", interval_s)
        if stop.wait(interval_s):
            return


class _RowPruner:
    def __init__(self, wh: Warehouse, dry_run: bool, batch_size: int) -> None:
        self.wh = wh
        self.dry_run = dry_run
        self.batch_size = batch_size

    def prune(
        self,
        model: type[Any],
        key: Sequence[InstrumentedAttribute[Any]],
        where: ColumnElement[bool],
    ) -> int:
        if self.dry_run:
            with read_scope(self.wh.sessions) as session:
                return int(session.scalar(select(func.count()).select_from(model).where(where)))
        total = 0
        while True:
            # Select a batch of keys, then delete exactly those: portable (neither SQLite
            # nor PostgreSQL has DELETE ... LIMIT by default) and bounded per transaction.
            with session_scope(self.wh.sessions) as session:
                keys = session.execute(select(*key).where(where).limit(self.batch_size)).all()
                if keys:
                    column = key[0] if len(key) == 1 else tuple_(*key)
                    values = [k[0] if len(key) == 1 else tuple(k) for k in keys]
                    session.execute(delete(model).where(column.in_(values)))
            total += len(keys)
            if len(keys) < self.batch_size:
                return total


def _delivered_outbox(wh: Warehouse, s: Settings, cutoff: datetime) -> ColumnElement[bool]:
    if s.event_bus_kind is EventBusKind.KAFKA:
        return and_(OutboxEvent.published_at.is_not(None), OutboxEvent.published_at < cutoff)
    # The embedded log is the outbox itself: a row is delivered once every group reading
    # its topic committed past it. Committed offsets only grow, so this stays true.
    with read_scope(wh.sessions) as session:
        floors = dict(
            session.execute(
                select(ConsumerOffset.topic, func.min(ConsumerOffset.committed)).group_by(
                    ConsumerOffset.topic
                )
            )
            .tuples()
            .all()
        )
    read = [and_(OutboxEvent.topic == t, OutboxEvent.offset <= f) for t, f in floors.items()]
    return and_(OutboxEvent.ce_time < cutoff, or_(*read) if read else false())


def _tree_mtime(folder: Path) -> float:
    """When anything in ``folder`` last changed; a file vanishing under us means now."""
    try:
        return max([folder.stat().st_mtime, *(p.lstat().st_mtime for p in folder.rglob("*"))])
    except FileNotFoundError:
        return float("inf")


def _champion_folders(s: Settings) -> set[Path]:
    """Folders the registries' current champions live in (``model_uri``s)."""
    folders: set[Path] = set()
    for current in (s.home / "pipelines" / "registry").glob("*/current.json"):
        try:
            history = json.loads(current.read_text()).get("history") or []
            folders.add(Path(history[-1]["model_uri"]).resolve())
        except (OSError, ValueError, LookupError, TypeError) as exc:
            log.warning("gc: cannot read %s (%s); keeping every kfp run", current, exc)
            raise _KeepAll from exc
    return folders


class _KeepAll(Exception):
    """A champion pointer could not be read: delete no run folder rather than guess."""


def _old_kfp_runs(s: Settings, cutoff: datetime) -> list[Path]:
    root = s.home / "pipelines" / "kfp"
    if not root.is_dir():
        return []
    try:
        champions = _champion_folders(s)
    except _KeepAll:
        return []
    old = []
    for run in sorted(p for p in root.iterdir() if p.is_dir()):
        run = run.resolve()
        if any(c.is_relative_to(run) for c in champions):
            continue
        if datetime.fromtimestamp(_tree_mtime(run), UTC) < cutoff:
            old.append(run)
    return old


def _old_request_logs(s: Settings, cutoff: datetime) -> list[Path]:
    """Daily files whose whole day lies before the cutoff (never today's, still written)."""
    folder = s.home / "inference"
    if not folder.is_dir():
        return []
    old = []
    for path in sorted(folder.glob(f"{_REQUEST_LOG}*.jsonl")):
        try:
            day = date.fromisoformat(path.stem.removeprefix(_REQUEST_LOG))
        except ValueError:
            continue  # not one of ours
        if datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1) <= cutoff:
            old.append(path)
    return old


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _prune_paths(
    kind: str, paths: list[Path], cutoffs: dict[str, datetime], dry_run: bool
) -> Pruned:
    count = size = 0
    for path in paths:
        try:
            freed = _size(path)
            if not dry_run:
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        except OSError as exc:  # one stuck path must not stop the sweep
            log.warning("gc: cannot delete %s: %s", path, exc)
            continue
        count, size = count + 1, size + freed
    return Pruned(kind, count, cutoffs[kind], size)
