"""The request log for monitoring: one JSON line per inference, written off the request path.

Seed 000 appended each prediction by downloading the whole log object, adding a line and
uploading it again, on the request path: 385 s per request once the log had grown. Here a
request only appends a small dict to a bounded in-memory buffer; a writer thread drains it
every ``flush_s`` and appends the lot to a daily JSON-lines file with one ``write``. If the
writer falls behind, records are dropped and counted (``millrace_inference_log_dropped_total``)
rather than slowing requests down.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from millrace.serving.metrics import ServingMetrics

__all__ = ["RequestLog", "summarize"]

log = logging.getLogger("millrace.serving")
HEAD = 10  # predictions kept verbatim per record


def summarize(entry: dict[str, Any]) -> dict[str, Any]:
    """Turn the raw inputs and outputs a request left (``_x``, ``_pred``) into a summary:
    per-feature means of the encoded inputs, and the first predictions with their mean
    or class counts. Done here, in the writer thread, not on the request path."""
    out = {k: v for k, v in entry.items() if not k.startswith("_")}
    x = entry.get("_x")
    if x is not None and len(x):
        features = entry.get("_features") or [str(i) for i in range(x.shape[1])]
        if len(x) == 1:
            means = x[0]
        else:  # nanmean without its warning for all-missing columns
            seen = (~np.isnan(x)).sum(axis=0)
            means = np.where(seen > 0, np.nansum(x, axis=0) / np.maximum(seen, 1), np.nan)
        missing = np.isnan(means)
        values = np.round(means, 6).tolist()
        if missing.any():
            values = [None if gone else v for v, gone in zip(values, missing, strict=True)]
        out["inputs"] = {
            "rows": int(x.shape[0]),
            "mean": dict(zip(features, values, strict=False)),
            "missing": int(np.isnan(x).sum()),
        }
    pred = entry.get("_pred")
    if pred is not None:
        summary: dict[str, Any] = {"n": len(pred), "head": pred[:HEAD]}
        if pred and all(
            isinstance(v, float | int) and not isinstance(v, bool) for v in pred[:HEAD]
        ):
            summary["mean"] = round(float(np.mean(pred)), 6)
        else:
            summary["counts"] = dict(Counter(map(str, pred)).most_common(HEAD))
        out["prediction"] = summary
    return out


class RequestLog:
    def __init__(
        self,
        folder: Path,
        metrics: ServingMetrics,
        *,
        flush_s: float = 1.0,
        capacity: int = 100_000,
    ) -> None:
        self.folder = folder
        self.metrics = metrics
        self.flush_s = flush_s
        self.capacity = capacity
        # A deque, not a queue.Queue: append and popleft are atomic under the GIL, so the
        # request path takes no lock and wakes no thread; the writer just polls.
        self._pending: deque[dict[str, Any]] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0

    def record(self, entry: dict[str, Any]) -> None:
        """Called on the request path: never blocks, never raises."""
        if len(self._pending) >= self.capacity:
            self.metrics.log_dropped.inc()
            return
        self._pending.append(entry)

    def path_for(self, day: datetime) -> Path:
        return self.folder / f"requests-{day:%Y-%m-%d}.jsonl"

    def _drain(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        pending = self._pending
        while pending:
            entries.append(pending.popleft())
        return entries

    def _write(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        by_file: dict[Path, list[str]] = {}
        for entry in entries:
            day = datetime.fromtimestamp(entry["ts"], UTC)
            by_file.setdefault(self.path_for(day), []).append(
                json.dumps({**summarize(entry), "ts": day.isoformat()}, default=str)
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        for path, lines in by_file.items():
            with path.open("a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        self.written += len(entries)

    def run(self) -> None:
        while True:
            stopping = self._stop.wait(self.flush_s)
            try:
                self._write(self._drain())
            except OSError:
                log.exception("cannot write the request log under %s", self.folder)
            if stopping:
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="request-log", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Flush what is queued, then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
