"""The data-quality half of a bias report: what is missing, duplicated, constant or odd."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["quality_profile"]

_HIGH_CORRELATION = 0.9


def _type_issues(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Text columns that are mostly numbers: usually a unit, a comma or a stray value."""
    issues = []
    for col in frame.select_dtypes(include="object").columns:
        values = frame[col].dropna().astype(str)
        if values.empty:
            continue
        parsed = pd.to_numeric(values, errors="coerce")
        share = float(parsed.notna().mean())
        if 0.8 <= share < 1.0:
            bad = values[parsed.isna()].head(3).tolist()
            issues.append(
                {"column": str(col), "numeric_share": round(share, 4), "examples_not_numeric": bad}
            )
    return issues


def quality_profile(frame: pd.DataFrame, target: str, task: str) -> dict[str, Any]:
    missing = frame.isna().sum()
    n = max(len(frame), 1)
    numeric = frame.select_dtypes(include=[np.number])
    corr = numeric.corr(numeric_only=True) if numeric.shape[1] > 1 else pd.DataFrame()
    pairs = []
    cols = list(corr.columns)
    for i, a in enumerate(cols):
        for b in cols[i + 1 :]:
            r = corr.loc[a, b]
            if pd.notna(r) and abs(r) >= _HIGH_CORRELATION:
                pairs.append({"a": str(a), "b": str(b), "r": round(float(r), 4)})
    with_target = {}
    if target in numeric.columns and not corr.empty:
        with_target = {
            str(c): round(float(v), 4) for c, v in corr[target].drop(target).dropna().items()
        }
    y = frame[target]
    if task == "classification":
        counts = y.value_counts(dropna=False)
        balance: dict[str, Any] = {
            "counts": {str(k): int(v) for k, v in counts.items()},
            "minority_share": round(float(counts.min() / n), 4),
        }
    else:
        described = y.describe()
        balance = {k: round(float(v), 6) for k, v in described.items()}
    return {
        "rows": len(frame),
        "columns": int(frame.shape[1]),
        "missing": {
            str(c): {"count": int(v), "share": round(float(v) / n, 4)}
            for c, v in missing.items()
            if v > 0
        },
        "all_missing_columns": [str(c) for c, v in missing.items() if v == len(frame)],
        "duplicate_rows": int(frame.duplicated().sum()),
        "constant_columns": [
            str(c)
            for c in frame.columns
            if frame[c].nunique(dropna=True) <= 1 and missing[c] < len(frame)
        ],
        "type_issues": _type_issues(frame),
        "label_balance": balance,
        "high_correlations": pairs,
        "correlation_with_target": with_target,
    }
