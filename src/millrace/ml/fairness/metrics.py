"""Fairness metrics per sensitive attribute and group, computed with Fairlearn.

On data alone (no model yet), the "prediction" is the label itself: selection rate is the
share of favourable labels per group, and disparate impact / statistical parity compare
those shares. Once a model exists, its predictions add equal opportunity (TPR gap) and
average odds (mean of TPR and FPR gaps).

The favourable outcome is label 1/True for binary labels, the minority class otherwise,
and "above the median" for a regression target; the report says which was used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

__all__ = ["FOUR_FIFTHS", "PARITY_TOLERANCE", "fairness_report", "favourable", "group_column"]

FOUR_FIFTHS = 0.8
PARITY_TOLERANCE = 0.1
_MAX_GROUPS = 20


def favourable(y: pd.Series, task: str) -> tuple[Callable[[pd.Series], pd.Series], str]:
    """How to read values of ``y`` (or predictions of it) as 0/1 "favourable outcome",
    decided from the true labels, and a description of what 1 means."""
    values = y.dropna()
    if task == "regression":
        cut = float(values.median())
        return (lambda s: (s > cut).astype(int)), f"{y.name} above its median ({cut:g})"
    labels = set(values.unique().tolist())
    if labels <= {0, 1} or labels <= {False, True}:
        return (lambda s: (s == 1).astype(int)), f"{y.name} == 1"
    positive = values.value_counts().idxmin()
    return (lambda s: (s == positive).astype(int)), (
        f"{y.name} == {positive!r} (the minority class)"
    )


def group_column(s: pd.Series) -> pd.Series:
    """Groups as strings; a numeric attribute with many values is cut into quartiles."""
    if pd.api.types.is_numeric_dtype(s) and s.nunique() > 10:
        binned = pd.qcut(s, q=4, duplicates="drop").astype(str)
        return binned.where(s.notna(), "missing")
    if pd.api.types.is_float_dtype(s) and (s.dropna() % 1 == 0).all():
        s = s.astype("Int64")  # codes stored as floats (1.0, 2.0) read as 1, 2
    out = s.astype(str).where(s.notna(), "missing")
    top = out.value_counts().index[: _MAX_GROUPS - 1]
    return out.where(out.isin(top), "other")


def _round(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 6)


def fairness_report(
    frame: pd.DataFrame,
    target: str,
    task: str,
    sensitive: list[str],
    y_pred: np.ndarray | list[Any] | None = None,
) -> dict[str, Any]:
    """Per attribute and group; ``y_pred`` are the model's predictions of ``target`` for the
    same rows (in the target's own labels), read with the same favourable-outcome rule."""
    rows = frame[target].notna()
    rule, meaning = favourable(frame.loc[rows, target], task)
    y = rule(frame.loc[rows, target])
    pred = None
    if y_pred is not None:
        pred = rule(pd.Series(np.asarray(y_pred)[rows.to_numpy()], index=y.index))
    out: dict[str, Any] = {"favourable_outcome": meaning, "attributes": {}}
    for column in sensitive:
        groups = group_column(frame.loc[rows, column])
        basis = y if pred is None else pred
        frame_ = MetricFrame(
            metrics={"selection_rate": selection_rate, "count": count},
            y_true=y,
            y_pred=basis,
            sensitive_features=groups,
        )
        per_group = {
            str(g): {"count": int(r["count"]), "selection_rate": _round(r["selection_rate"])}
            for g, r in frame_.by_group.iterrows()
        }
        ratio = demographic_parity_ratio(y, basis, sensitive_features=groups)
        diff = demographic_parity_difference(y, basis, sensitive_features=groups)
        entry: dict[str, Any] = {
            "groups": per_group,
            "disparate_impact_ratio": _round(ratio),
            "statistical_parity_difference": _round(diff),
            "flags": [],
        }
        if ratio < FOUR_FIFTHS:
            entry["flags"].append(
                f"four-fifths rule: the lowest group's selection rate is {ratio:.0%} of the "
                f"highest (< {FOUR_FIFTHS:.0%})"
            )
        if abs(diff) > PARITY_TOLERANCE:
            entry["flags"].append(
                f"statistical parity difference {diff:.2f} exceeds {PARITY_TOLERANCE}"
            )
        if pred is not None:
            rates = MetricFrame(
                metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
                y_true=y,
                y_pred=pred,
                sensitive_features=groups,
            )
            eod = equal_opportunity_difference(y, pred, sensitive_features=groups)
            gaps = rates.difference(method="between_groups")
            entry["equal_opportunity_difference"] = _round(eod)
            entry["average_odds_difference"] = _round((gaps["tpr"] + gaps["fpr"]) / 2)
            for g, r in rates.by_group.iterrows():
                per_group[str(g)].update(
                    {
                        "true_positive_rate": _round(r["tpr"]),
                        "false_positive_rate": _round(r["fpr"]),
                    }
                )
            if abs(eod) > PARITY_TOLERANCE:
                entry["flags"].append(
                    f"equal opportunity difference {eod:.2f} exceeds {PARITY_TOLERANCE}"
                )
        out["attributes"][column] = entry
    out["flagged"] = any(a["flags"] for a in out["attributes"].values())
    return out
