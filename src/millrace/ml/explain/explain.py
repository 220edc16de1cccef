"""Explaining a tabular model: SHAP where it fits, plus permutation importance.

Tree models get ``TreeExplainer`` (exact, fast); linear models ``LinearExplainer``;
anything else a sampled model-agnostic ``PermutationExplainer``. Background and explained
samples are bounded so an explanation costs seconds, not minutes, on any dataset size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

__all__ = ["BACKGROUND_ROWS", "EXPLAIN_ROWS", "Explanation", "explain_model"]

BACKGROUND_ROWS = 100
EXPLAIN_ROWS = 500


@dataclass
class Explanation:
    explainer: str
    features: list[str]
    mean_abs_shap: dict[str, float]
    permutation: dict[str, dict[str, float]]
    shap_values: np.ndarray  # rows x features, for the positive class if binary
    sample: pd.DataFrame
    scoring: str


def _explainer(model: Any, background: pd.DataFrame) -> tuple[Any, str]:
    import shap

    name = type(model).__module__
    if name.startswith(("lightgbm", "xgboost")) or "tree" in name or "ensemble" in name:
        return shap.TreeExplainer(model), "TreeExplainer"
    if name.startswith("sklearn.linear_model"):
        return shap.LinearExplainer(model, background), "LinearExplainer"
    predict = model.predict_proba if hasattr(model, "predict_proba") else model.predict
    return shap.PermutationExplainer(predict, background), "PermutationExplainer"


def explain_model(
    model: Any, x: pd.DataFrame, y: np.ndarray, task: str, seed: int = 0
) -> Explanation:
    rng = np.random.default_rng(seed)
    take = rng.choice(len(x), size=min(EXPLAIN_ROWS, len(x)), replace=False)
    sample = x.iloc[np.sort(take)]
    background = x.iloc[rng.choice(len(x), size=min(BACKGROUND_ROWS, len(x)), replace=False)]
    explainer, kind = _explainer(model, background)
    raw = explainer(sample) if kind == "PermutationExplainer" else explainer.shap_values(sample)
    values = np.asarray(getattr(raw, "values", raw))
    if values.ndim == 3:  # (rows, features, classes): explain the last class
        values = values[:, :, -1]
    elif isinstance(raw, list):
        values = np.asarray(raw[-1])
    features = list(x.columns)
    scoring = "accuracy" if task == "classification" else "r2"
    perm = permutation_importance(
        model, sample, y[np.sort(take)], n_repeats=5, random_state=seed, scoring=scoring
    )
    return Explanation(
        explainer=kind,
        features=features,
        mean_abs_shap={
            f: round(float(v), 6)
            for f, v in zip(features, np.abs(values).mean(axis=0), strict=True)
        },
        permutation={
            f: {"mean": round(float(m), 6), "std": round(float(s), 6)}
            for f, m, s in zip(features, perm.importances_mean, perm.importances_std, strict=True)
        },
        shap_values=values,
        sample=sample,
        scoring=scoring,
    )
