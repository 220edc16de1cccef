"""``millrace gc``: apply the retention settings once, and show what went."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["gc"]

_LABELS = {
    "outbox": "delivered outbox events",
    "processed_events": "processed-event marks",
    "idempotency_keys": "idempotency keys",
    "kfp_runs": "kfp.local run folders",
    "request_logs": "inference request logs",
}


def _size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only (for scripts)")] = False,
) -> None:
    """Delete what the retention settings (MILLRACE_RETENTION_*) say is old enough.

    Delivered outbox events, processed-event marks, idempotency keys, kfp.local run
    folders and inference request logs; undelivered events are never deleted.

    Example: millrace gc --dry-run
    """
    from millrace.cli.main import open_warehouse
    from millrace.warehouse.retention import collect_garbage

    wh = open_warehouse()
    try:
        pruned = collect_garbage(wh, dry_run=dry_run)
    finally:
        wh.close()
    if as_json:
        rows = [{**asdict(p), "older_than": p.older_than.isoformat()} for p in pruned]
        typer.echo(json.dumps({"dry_run": dry_run, "pruned": rows}, indent=2))
        return
    table = Table(
        "what",
        "would delete" if dry_run else "deleted",
        "older than",
        "size",
        title="millrace gc (dry run: nothing deleted)" if dry_run else "millrace gc",
    )
    for p in pruned:
        table.add_row(
            _LABELS.get(p.kind, p.kind),
            str(p.count),
            p.older_than.strftime("%Y-%m-%d %H:%M UTC"),
            _size(p.size_bytes),
        )
    Console(highlight=False).print(table)
