"""Forecast errors on the original scale, and seed 000's weighted score."""

from __future__ import annotations

import numpy as np

__all__ = ["WEIGHTS", "forecast_metrics", "weighted_scores"]

WEIGHTS = {"rmse": 0.5, "mae": 0.3, "mse": 0.2}


def forecast_metrics(actual: np.ndarray, pred: np.ndarray, scale: float) -> dict[str, float]:
    """MAE, RMSE, MSE, sMAPE (%), MASE (against ``scale``, the naive in-sample MAE), NRMSE."""
    err = pred - actual
    mse = float(np.mean(err**2))
    denom = np.abs(actual) + np.abs(pred)
    smape = float(np.mean(np.where(denom == 0, 0.0, 2 * np.abs(err) / np.maximum(denom, 1e-12))))
    mean = float(np.mean(np.abs(actual)))
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(mse)),
        "mse": mse,
        "smape": 100 * smape,
        "mase": float(np.mean(np.abs(err)) / scale) if scale > 0 else float("nan"),
        "nrmse": float(np.sqrt(mse) / mean) if mean > 0 else float("nan"),
    }


def weighted_scores(
    metrics: dict[str, dict[str, float]], weights: dict[str, float] = WEIGHTS
) -> dict[str, float]:
    """Each metric divided by the best candidate's, so different scales compare; lower wins."""
    best = {m: min(v[m] for v in metrics.values()) for m in weights}
    return {
        name: sum(w * (v[m] / best[m] if best[m] > 0 else 1.0) for m, w in weights.items())
        for name, v in metrics.items()
    }
