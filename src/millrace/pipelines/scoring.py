"""How candidates are scored: the same validation and test windows for every candidate,
metrics on the original scale per series, and the choice made on validation alone.

With several series (targets, or a panel's ids) each is scored on its own and the
selection score is the mean of the per-series weighted scores, so a candidate must do well
on all of them rather than on the one with the largest values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.base import Forecaster, SeriesArrays
from millrace.ml.forecasting.metrics import forecast_metrics, weighted_scores

__all__ = [
    "Preds",
    "Windows",
    "ensemble_members",
    "mase_scale",
    "mean_forecast",
    "selection_scores",
]


def _origins(start: int, end: int, h: int, most: int) -> np.ndarray:
    last = end - h
    if last < start:
        raise InvalidInputError("the evaluation window is shorter than the horizon")
    return np.unique(np.linspace(start, last, num=min(most, last - start + 1)).astype(int))


Preds = list[tuple[np.ndarray, np.ndarray]]  # per series: validation and test forecasts


def _label(s: SeriesArrays) -> str:
    return f"{s.key}/{s.target}" if s.key else s.target


class Windows:
    """The validation and test windows of every series, their actuals and MASE scales:
    every candidate is scored on exactly these."""

    def __init__(self, units: list[SeriesArrays], h: int, most: int) -> None:
        self.units, self.h = units, h
        self.origins = [
            (_origins(u.train_end, u.val_end, h, most), _origins(u.val_end, len(u.y), h, most))
            for u in units
        ]
        self.actual = [
            tuple(np.concatenate([u.y[o : o + h] for o in part]) for part in origins)
            for u, origins in zip(units, self.origins, strict=True)
        ]
        self.scale = [mase_scale(u.y[: u.train_end], u.season) for u in units]

    def forecasts(self, model: Forecaster) -> Preds:
        return [
            tuple(
                np.concatenate([model.forecast(u, int(o), self.h) for o in part])
                for part in origins
            )
            for u, origins in zip(self.units, self.origins, strict=True)
        ]

    def metrics(self, preds: Preds) -> list[dict[str, dict[str, float]]]:
        """Per series: validation and test metrics on the original scale."""
        return [
            {
                part: forecast_metrics(actual[i], pred[i], scale)
                for i, part in enumerate(("validation", "test"))
            }
            for actual, pred, scale in zip(self.actual, preds, self.scale, strict=True)
        ]

    def validation(self, preds: Preds) -> list[dict[str, float]]:
        """Per series: validation metrics only, which is all selection may look at."""
        return [m["validation"] for m in self.metrics(preds)]

    def scored(self, preds: Preds, uri: str) -> dict[str, Any]:
        """Metrics averaged over the series (each series' own, when there are several)."""
        per_series = self.metrics(preds)
        out: dict[str, Any] = {
            part: {m: float(np.mean([s[part][m] for s in per_series])) for m in per_series[0][part]}
            for part in ("validation", "test")
        }
        if len(per_series) > 1:
            out["series"] = {_label(u): m for u, m in zip(self.units, per_series, strict=True)}
        return {**out, "model_uri": uri}


def mase_scale(train: np.ndarray, season: int) -> float:
    """MASE's denominator (Hyndman & Koehler): the in-sample MAE of the seasonal naive
    forecast, or of persistence when the training rows hold under two seasons."""
    m = season if season > 1 and len(train) > 2 * season else 1
    return float(np.mean(np.abs(train[m:] - train[:-m]))) or 1.0


def selection_scores(validation: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    """Seed 000's weighted score per series (normalised there, so scales compare), averaged
    over the series: a candidate must do well on all of them, not on the largest."""
    n = len(next(iter(validation.values())))
    per_series = [weighted_scores({c: v[i] for c, v in validation.items()}) for i in range(n)]
    return {c: float(np.mean([scores[c] for scores in per_series])) for c in validation}


def mean_forecast(preds: dict[str, Preds], members: list[str]) -> Preds:
    return [
        tuple(np.mean([preds[m][i][part] for m in members], axis=0) for part in (0, 1))
        for i in range(len(preds[members[0]]))
    ]


def ensemble_members(windows: Windows, preds: dict[str, Preds], most: int = 4) -> list[str]:
    """The best k candidates (2 <= k <= ``most``) whose mean scores best on validation."""
    scores = selection_scores({n: windows.validation(p) for n, p in preds.items()})
    ranked = sorted(scores, key=scores.__getitem__)
    tried = {
        str(k): windows.validation(mean_forecast(preds, ranked[:k]))
        for k in range(2, min(most, len(ranked)) + 1)
    }
    if not tried:
        return []
    by_k = selection_scores(tried)
    return ranked[: int(min(by_k, key=by_k.__getitem__))]
