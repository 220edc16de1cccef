"""Prediction intervals from cross-validation residuals (split conformal, per step ahead).

Every candidate is already scored on rolling-origin folds it was not fitted on; the
absolute errors of those forecasts, divided by the series' MASE scale (the in-sample MAE
of the seasonal naive forecast), are exchangeable draws of "how wrong is this model k
steps ahead, in units of this series' own variation". Their quantile per step, times the
scale of the history being forecast, gives the interval's half-width. Scale-free widths
let one set of quantiles serve every series of a panel and any history a request sends.

No distributional assumption and no refit are needed, which is why it is done here rather
than with each library's own intervals (statsforecast's, Prophet's and the networks'
differ in kind or do not exist).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_LEVELS", "FILE", "Intervals", "scale_of"]

DEFAULT_LEVELS = (80, 95)
FILE = "intervals.json"  # beside a saved model's files


def scale_of(history: np.ndarray, season: int) -> float:
    """MASE's denominator: the in-sample MAE of the seasonal naive forecast, or of
    persistence when the history holds under two seasons; 1.0 for a flat history."""
    y = np.asarray(history, dtype=float).ravel()
    if len(y) < 2:
        return 1.0
    m = season if season > 1 and len(y) > 2 * season else 1
    # Differences of values m steps apart; a gap drops the differences it touches, rather
    # than pairing values that are not m steps apart.
    diffs = np.abs(y[m:] - y[:-m])
    diffs = diffs[np.isfinite(diffs)]
    return float(np.mean(diffs)) if len(diffs) and np.mean(diffs) > 0 else 1.0


@dataclass(frozen=True)
class Intervals:
    """Scaled half-widths per level (percent) and per step ahead."""

    halfwidths: dict[int, list[float]]
    season: int
    n_residuals: int

    @classmethod
    def from_residuals(
        cls, scaled_errors: np.ndarray, season: int, levels: Sequence[int] = DEFAULT_LEVELS
    ) -> Intervals:
        """``scaled_errors`` is (windows, h): |actual - forecast| / scale per fold window.

        The half-width is the conformal quantile, the k-th smallest of the n errors with
        k = ceil((n + 1) * level / 100), so that coverage holds in finite samples; with too
        few windows for a level (k > n) it is the largest error seen. A window with a
        missing error is left out; no windows at all give no intervals.
        """
        errors = np.abs(np.asarray(scaled_errors, dtype=float))
        if errors.ndim != 2:
            errors = errors.reshape(0, 0) if errors.size == 0 else np.atleast_2d(errors)
        errors = np.sort(errors[np.isfinite(errors).all(axis=1)], axis=0)
        n = len(errors)
        widths: dict[int, list[float]] = {}
        for level in levels:
            if level != int(level) or not 0 < level < 100:
                raise ValueError(f"an interval level is a whole percentage, 1 to 99, not {level}")
            if n == 0:
                widths[int(level)] = []
                continue
            # Integer arithmetic: (n + 1) * level / 100 in floats can land a hair above k.
            k = min(n, -(-(n + 1) * int(level) // 100))
            widths[int(level)] = [float(v) for v in errors[k - 1]]
        return cls(halfwidths=widths, season=season, n_residuals=n)

    def bounds(
        self, forecast: np.ndarray, history: np.ndarray
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Lower and upper bounds per level for ``forecast`` made after ``history``.

        A forecast longer than the horizon the residuals cover reuses the last step's width
        (the widest, usually), rather than pretending to know better."""
        forecast = np.asarray(forecast, dtype=float)
        scale = scale_of(history, self.season)
        out = {}
        for level, widths in self.halfwidths.items():
            if not widths:
                continue
            steps = np.full(len(forecast), widths[-1])
            steps[: len(widths)] = widths[: len(forecast)]
            half = steps * scale
            out[level] = (forecast - half, forecast + half)
        return out

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "levels": {str(k): v for k, v in self.halfwidths.items()},
                "season": self.season,
                "n_residuals": self.n_residuals,
                "method": "split conformal on rolling-origin CV errors scaled by MASE scale",
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Intervals:
        data = json.loads(raw)
        return cls(
            halfwidths={int(k): [float(x) for x in v] for k, v in data["levels"].items()},
            season=int(data["season"]),
            n_residuals=int(data.get("n_residuals", 0)),
        )
