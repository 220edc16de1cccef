"""Every trial of a FLAML search, best first, read from FLAML's own log.

FLAML writes one JSON record per trial (``log_type="all"``); the leaderboard keeps the
estimator, its configuration, its validation figure on the metric's own scale and how long
it trained, so a reader can see what was tried and what the winner beat.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from millrace.ml.tabular.scoring import from_loss

__all__ = ["leaderboard"]


def leaderboard(log_file: Path, metric: str) -> list[dict[str, Any]]:
    rows = []
    for line in log_file.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "validation_loss" not in rec or "learner" not in rec:
            continue
        loss = float(rec["validation_loss"])
        rows.append(
            {
                "trial": rec.get("record_id"),
                "estimator": rec["learner"],
                "validation_" + metric: round(from_loss(metric, loss), 6),
                "trial_seconds": round(float(rec.get("trial_time", 0.0)), 3),
                "sample_size": rec.get("sample_size"),
                "config": rec.get("config", {}),
                "_loss": loss,
            }
        )
    rows.sort(key=lambda r: r["_loss"])
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
        del row["_loss"]
    return rows
