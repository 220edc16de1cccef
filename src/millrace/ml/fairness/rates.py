"""Per-group counts and rates, and the comparisons built on them, with AIF360's definitions.

Everything is a ratio of counts, so a rate whose denominator is zero is undefined: it is
``None`` with the reason beside it, never 0.0 (a group with no actual positives has no
true positive rate, and must not drive an equal-opportunity verdict).

Against the reference group r (AIF360's ``privileged_groups``), for each other group g:

    disparate_impact                 SR_g / SR_r
    statistical_parity_difference    SR_g - SR_r
    equal_opportunity_difference     TPR_g - TPR_r
    average_odds_difference          ((FPR_g - FPR_r) + (TPR_g - TPR_r)) / 2
    average_abs_odds_difference      (|FPR_g - FPR_r| + |TPR_g - TPR_r|) / 2

SR is the selection rate: the share of favourable outcomes (predicted ones once there is a
model, the labels before). The worst-case versions (Fairlearn's) take min/max and max-min
over the groups large enough to judge, with no reference and no sign.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["compare_with_reference", "group_rates", "worst_case"]

Stats = dict[str, Any]


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def group_rates(y: pd.Series, pred: pd.Series | None, groups: pd.Series) -> dict[str, Stats]:
    """``y``/``pred`` are 0/1 (1 = favourable) on the same index as ``groups``."""
    out: dict[str, Stats] = {}
    for g in sorted(groups.unique().tolist(), key=str):
        mask = (groups == g).to_numpy()
        yg = y.to_numpy()[mask].astype(int)
        n, pos = int(mask.sum()), int(yg.sum())
        stats: Stats = {"count": n, "favourable_labels": pos}
        undefined: dict[str, str] = {}
        if pred is None:
            stats["selection_rate"] = _ratio(pos, n)
        else:
            pg = pred.to_numpy()[mask].astype(int)
            neg = n - pos
            tp = int(((yg == 1) & (pg == 1)).sum())
            fp = int(((yg == 0) & (pg == 1)).sum())
            stats.update(
                {
                    "favourable_predictions": int(pg.sum()),
                    "selection_rate": _ratio(int(pg.sum()), n),
                    "base_rate": _ratio(pos, n),
                    "true_positives": tp,
                    "false_positives": fp,
                    "unfavourable_labels": neg,
                    "true_positive_rate": _ratio(tp, pos),
                    "false_positive_rate": _ratio(fp, neg),
                }
            )
            if pos == 0:
                undefined["true_positive_rate"] = "no favourable labels in this group"
            if neg == 0:
                undefined["false_positive_rate"] = "no unfavourable labels in this group"
        stats["undefined"] = undefined
        out[str(g)] = stats
    return out


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def compare_with_reference(
    rates: dict[str, Stats], reference: str, with_model: bool
) -> dict[str, Stats]:
    """Each other group against the reference, signed (negative: worse off than it)."""
    ref = rates[reference]
    out: dict[str, Stats] = {}
    for g, s in rates.items():
        if g == reference:
            continue
        undefined: dict[str, str] = {}
        di = _ratio(s["selection_rate"], ref["selection_rate"])
        if di is None:
            undefined["disparate_impact"] = "the reference group's selection rate is 0"
        row: Stats = {
            "disparate_impact": di,
            "statistical_parity_difference": s["selection_rate"] - ref["selection_rate"],
        }
        if with_model:
            tpr = _difference(s["true_positive_rate"], ref["true_positive_rate"])
            fpr = _difference(s["false_positive_rate"], ref["false_positive_rate"])
            row["equal_opportunity_difference"] = tpr
            row["false_positive_rate_difference"] = fpr
            both = tpr is not None and fpr is not None
            row["average_odds_difference"] = (fpr + tpr) / 2 if both else None
            row["average_abs_odds_difference"] = (abs(fpr) + abs(tpr)) / 2 if both else None
            why = _why_undefined(g, s, reference, ref)
            for metric, rate in (
                ("equal_opportunity_difference", "true_positive_rate"),
                ("false_positive_rate_difference", "false_positive_rate"),
            ):
                if row[metric] is None:
                    undefined[metric] = why[rate]
            for metric in ("average_odds_difference", "average_abs_odds_difference"):
                if row[metric] is None:
                    undefined[metric] = "; ".join(
                        dict.fromkeys(why[r] for r in why if why[r])  # unique, in order
                    )
        row["undefined"] = undefined
        out[g] = row
    return out


def _why_undefined(g: str, s: Stats, reference: str, ref: Stats) -> dict[str, str]:
    why = {}
    for rate in ("true_positive_rate", "false_positive_rate"):
        parts = [
            f"{name}: {stats['undefined'][rate]}"
            for name, stats in ((g, s), (reference, ref))
            if rate in stats["undefined"]
        ]
        why[rate] = f"{rate.replace('_', ' ')} undefined ({'; '.join(parts)})" if parts else ""
    return why


def _spread(
    rates: dict[str, Stats], eligible: list[str], rate: str
) -> tuple[float | None, float | None]:
    values = [rates[g][rate] for g in eligible if rates[g][rate] is not None]
    if len(values) < 2:
        return None, None
    low, high = float(np.min(values)), float(np.max(values))
    return low, high


def worst_case(rates: dict[str, Stats], eligible: list[str], with_model: bool) -> Stats:
    """Fairlearn's min/max and max-min over the eligible groups with a defined rate."""
    undefined: dict[str, str] = {}
    few = "fewer than two groups large enough to judge have this rate defined"
    low, high = _spread(rates, eligible, "selection_rate")
    out: Stats = {
        "groups": eligible,
        "disparate_impact_min_over_max": _ratio(low, high) if high is not None else None,
        "statistical_parity_max_minus_min": None if low is None else high - low,
    }
    if low is None:
        undefined["disparate_impact_min_over_max"] = few
        undefined["statistical_parity_max_minus_min"] = few
    elif not high:
        undefined["disparate_impact_min_over_max"] = "every group's selection rate is 0"
    if with_model:
        gaps = {}
        for rate, name in (
            ("true_positive_rate", "equal_opportunity_max_minus_min"),
            ("false_positive_rate", "false_positive_rate_max_minus_min"),
        ):
            lo, hi = _spread(rates, eligible, rate)
            gaps[name] = None if lo is None else hi - lo
            if lo is None:
                undefined[name] = few
        out.update(gaps)
        defined = [v for v in gaps.values() if v is not None]
        out["equalized_odds_max_difference"] = max(defined) if len(defined) == 2 else None
        if len(defined) < 2:
            undefined["equalized_odds_max_difference"] = few
    out["undefined"] = undefined
    return out
