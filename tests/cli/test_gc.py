"""``millrace gc`` as a user runs it: a dry run shows the counts and deletes nothing; then
the real run deletes them and says so."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from millrace.settings import Settings
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import read_scope, session_scope
from millrace.warehouse.models import IdempotencyRecord, ProcessedEvent
from tests.conftest import millrace_cli


def _seed(home: Path) -> None:
    old = datetime.now(UTC) - timedelta(days=60)
    wh = Warehouse.open(Settings(home=home))
    try:
        with session_scope(wh.sessions) as s:
            s.add_all(
                [
                    ProcessedEvent(group_id="core", event_id=f"e{i}", handled_at=old)
                    for i in range(3)
                ]
            )
            s.add(ProcessedEvent(group_id="core", event_id="fresh"))
            s.add(
                IdempotencyRecord(user_id="ada", key="k", method="POST", path="/x", created_at=old)
            )
    finally:
        wh.close()


def _rows(home: Path) -> int:
    wh = Warehouse.open(Settings(home=home))
    try:
        with read_scope(wh.sessions) as s:
            return int(s.scalar(select(func.count()).select_from(ProcessedEvent)))
    finally:
        wh.close()


def _row(output: str, label: str) -> list[str]:
    line = next(line for line in output.splitlines() if label in line)
    return [cell.strip() for cell in re.split(r"[│|]", line) if cell.strip()]


def test_gc_dry_run_then_for_real(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _seed(home)
    env = {"MILLRACE_HOME": str(home), "COLUMNS": "160"}

    dry = millrace_cli(env, "gc", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would delete" in dry.stdout and "nothing deleted" in dry.stdout
    assert _row(dry.stdout, "processed-event marks")[1] == "3"
    assert _row(dry.stdout, "idempotency keys")[1] == "1"
    assert _rows(home) == 4

    done = millrace_cli(env, "gc")
    assert done.returncode == 0, done.stderr
    assert "deleted" in done.stdout and "would" not in done.stdout
    assert _row(done.stdout, "processed-event marks")[1] == "3"
    assert _rows(home) == 1

    again = millrace_cli(env, "gc", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["dry_run"] is False
    assert {p["kind"]: p["count"] for p in report["pruned"]} == {
        "outbox": 0,
        "processed_events": 0,
        "idempotency_keys": 0,
        "kfp_runs": 0,
        "request_logs": 0,
    }
