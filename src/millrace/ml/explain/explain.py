"""Explaining a tabular model: SHAP where it fits, plus permutation importance.

Tree models get ``TreeExplainer`` (exact, fast); linear models ``LinearExplainer``;
anything else a sampled model-agnostic ``PermutationExplainer``. Background and explained
samples are bounded so an explanation costs seconds, not minutes, on any dataset size.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

__all__ = ["AGNOSTIC_ROWS", "BACKGROUND_ROWS", "EXPLAIN_ROWS", "Explanation", "explain_model"]

BACKGROUND_ROWS = 100
EXPLAIN_ROWS = 500  # tree and linear explainers are cheap per row
# A model-agnostic explainer calls the model ~2 x features x background rows per explained
# row; these bounds keep it to seconds for a KNN on a few dozen features.
AGNOSTIC_ROWS = 60
AGNOSTIC_BACKGROUND_ROWS = 30


@dataclass
class Explanation:
    explainer: str
    features: list[str]
    mean_abs_shap: dict[str, float]
    permutation: dict[str, dict[str, float]]
    shap_values: np.ndarray  # rows x features, for the positive class if binary
    sample: pd.DataFrame
    scoring: str


def _kind(model: Any) -> str:
    name = type(model).__module__
    if name == "sklearn.ensemble._voting":  # AutoML's ensemble: shap has no tree path for it
        return "PermutationExplainer"
    if name.startswith(("lightgbm", "xgboost")) or "tree" in name or "ensemble" in name:
        return "TreeExplainer"
    if name.startswith("sklearn.linear_model"):
        return "LinearExplainer"
    return "PermutationExplainer"


def _explainer(model: Any, kind: str, background: pd.DataFrame) -> Any:
    import shap

    if kind == "TreeExplainer":
        return shap.TreeExplainer(model)
    if kind == "LinearExplainer":
        return shap.LinearExplainer(model, background)
    predict = model.predict_proba if hasattr(model, "predict_proba") else model.predict
    return shap.PermutationExplainer(predict, background)


def _positive_class(raw: Any) -> np.ndarray:
    """SHAP values as (rows, features), for the last class when there is one per class.

    Explainers answer in three shapes: an array (rows, features); a list with an array per
    class; or an array (rows, features, classes).
    """
    if isinstance(raw, list):
        return np.asarray(raw[-1])
    values = np.asarray(getattr(raw, "values", raw))
    return values[:, :, -1] if values.ndim == 3 else values


def explain_model(
    model: Any, x: pd.DataFrame, y: np.ndarray, task: str, seed: int = 0
) -> Explanation:
    rng = np.random.default_rng(seed)
    kind = _kind(model)
    agnostic = kind == "PermutationExplainer"
    rows, back = (
        (AGNOSTIC_ROWS, AGNOSTIC_BACKGROUND_ROWS) if agnostic else (EXPLAIN_ROWS, BACKGROUND_ROWS)
    )
    take = rng.choice(len(x), size=min(rows, len(x)), replace=False)
    sample = x.iloc[np.sort(take)]
    background = x.iloc[rng.choice(len(x), size=min(back, len(x)), replace=False)]
    explainer = _explainer(model, kind, background)
    with warnings.catch_warnings():
        # SHAP announces that LightGBM binary models now give one array per class; the
        # list case is handled below.
        warnings.filterwarnings("ignore", message=".*shap values output has changed.*")
        raw = (
            # Two sampled permutations per row: a bounded estimate, not an exact one.
            explainer(sample, max_evals=4 * x.shape[1] + 2, silent=True)
            if agnostic
            else explainer.shap_values(sample)
        )
    values = _positive_class(raw)
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
