"""Fairness per sensitive attribute: per-group rates, comparisons and verdicts.

On data alone (no model yet) the "prediction" is the label itself: the selection rate is
the share of favourable labels per group. With a model's predictions the report adds
true and false positive rates, equal opportunity and average odds (AIF360's names, signs
and definitions, see rates.py). Numbers keep full precision; only texts round.

A verdict needs a reference group and a big enough sample: comparisons are made against
the reference group, and a group under ``min_group_size`` rows (or a reference under it)
is reported but never flagged, since a handful of rows can swing any rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from millrace.exceptions import InvalidInputError
from millrace.ml.fairness.groups import check_privileged, group_column, reference_group
from millrace.ml.fairness.outcome import favourable_outcome
from millrace.ml.fairness.rates import compare_with_reference, group_rates, worst_case

__all__ = [
    "DEFAULT_MIN_GROUP_SIZE",
    "FOUR_FIFTHS",
    "PARITY_TOLERANCE",
    "check_fairness_hints",
    "fairness_report",
    "group_column",
]

FOUR_FIFTHS = 0.8  # disparate impact below it (or above 1/0.8 = 1.25) is flagged
PARITY_TOLERANCE = 0.1  # differences beyond +-0.1 are flagged, as in AIF360's guidance
DEFAULT_MIN_GROUP_SIZE = 30

_DIFFERENCES = {
    "statistical_parity_difference": "statistical parity difference",
    "equal_opportunity_difference": "equal opportunity difference",
    "average_odds_difference": "average odds difference",
}


def _flags(column: str, reference: str, versus: dict[str, dict[str, Any]]) -> list[str]:
    flags = []
    for g, row in versus.items():
        who = f"{column}={g} vs {reference}"
        di = row["disparate_impact"]
        if di is not None and not FOUR_FIFTHS <= di <= 1 / FOUR_FIFTHS:
            worse = g if di < 1 else reference
            flags.append(
                f"{who}: disparate impact {di:.3f} is outside [{FOUR_FIFTHS}, "
                f"{1 / FOUR_FIFTHS:.2f}] (four-fifths rule; {worse} is selected less)"
            )
        for metric, name in _DIFFERENCES.items():
            value = row.get(metric)
            if value is not None and abs(value) > PARITY_TOLERANCE:
                side = "lower" if value < 0 else "higher"
                flags.append(
                    f"{who}: {name} {value:+.3f} is beyond ±{PARITY_TOLERANCE} ({g} {side})"
                )
    return flags


def _attribute(
    column: str,
    groups: pd.Series,
    y: pd.Series,
    pred: pd.Series | None,
    privileged: str | None,
    min_group_size: int,
) -> dict[str, Any]:
    ref = reference_group(column, groups, privileged)
    rates = group_rates(y, pred, groups)
    for stats in rates.values():
        stats["small"] = stats["count"] < min_group_size
    eligible = [g for g, s in rates.items() if not s["small"]]
    versus = compare_with_reference(rates, ref.group, with_model=pred is not None)
    judged = {g: r for g, r in versus.items() if g in eligible} if ref.group in eligible else {}
    notes = []
    small = [g for g, s in rates.items() if s["small"]]
    if small:
        notes.append(f"under {min_group_size} rows, reported but not flagged: {', '.join(small)}")
    if rates[ref.group]["small"]:
        notes.append(
            f"the reference group {ref.group!r} has under {min_group_size} rows, so no "
            "comparison with it is flagged"
        )
    return {
        "reference_group": ref.group,
        "reference_assumed": ref.assumed,
        "reference_why": ref.why,
        "groups": rates,
        "vs_reference": versus,
        "worst_case": worst_case(rates, eligible, with_model=pred is not None),
        "small_groups": small,
        "notes": notes,
        "flags": _flags(column, ref.group, judged),
    }


def check_fairness_hints(
    frame: pd.DataFrame,
    target: str,
    task: str,
    sensitive: list[str],
    favorable_label: str | None,
    privileged_groups: dict[str, str] | None,
) -> str | None:
    """What is wrong with the user's favourable label or privileged groups for this data,
    before a journey starts on them; None if nothing is."""
    rows = frame[target].notna()
    try:
        if favorable_label is not None or task != "regression":
            favourable_outcome(frame.loc[rows, target], task, favorable_label)
        check_privileged(dict(privileged_groups or {}), sensitive)
        for column, group in (privileged_groups or {}).items():
            reference_group(column, group_column(frame.loc[rows, column]), group)
    except InvalidInputError as exc:
        return exc.detail
    return None


def fairness_report(
    frame: pd.DataFrame,
    target: str,
    task: str,
    sensitive: list[str],
    y_pred: np.ndarray | list[Any] | None = None,
    *,
    favorable_label: str | None = None,
    privileged_groups: dict[str, str] | None = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> dict[str, Any]:
    """Per attribute and group; ``y_pred`` are the model's predictions of ``target`` for
    the same rows (in the target's own labels), read with the same favourable-outcome rule.
    Raises InvalidInputError for a favourable label or privileged group the data lacks."""
    if privileged_groups is not None and not isinstance(privileged_groups, dict):
        raise InvalidInputError(
            "privileged_groups must map a sensitive column to its reference group",
            field="privileged_groups",
        )
    privileged = {str(k): str(v) for k, v in (privileged_groups or {}).items()}
    check_privileged(privileged, sensitive)
    rows = frame[target].notna()
    outcome = favourable_outcome(frame.loc[rows, target], task, favorable_label)
    y = outcome.rule(frame.loc[rows, target])
    pred = None
    if y_pred is not None:
        pred = outcome.rule(pd.Series(np.asarray(y_pred)[rows.to_numpy()], index=y.index))
    attributes = {
        column: _attribute(
            column,
            group_column(frame.loc[rows, column]),
            y,
            pred,
            privileged.get(column),
            min_group_size,
        )
        for column in sensitive
    }
    return {
        "favourable_outcome": outcome.meaning,
        "favourable_label": outcome.label,
        "favourable_assumed": outcome.assumed,
        "favourable_why": outcome.why,
        "basis": "labels" if pred is None else "predictions",
        "min_group_size": min_group_size,
        "thresholds": {
            "disparate_impact": [FOUR_FIFTHS, 1 / FOUR_FIFTHS],
            "difference": PARITY_TOLERANCE,
        },
        "attributes": attributes,
        "flagged": any(a["flags"] for a in attributes.values()),
    }
