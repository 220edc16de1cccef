"""A weighted average of the best configurations, kept only when it validates better.

Greedy ensemble selection (Caruana et al., 2004; what AutoGluon does at the end of a run):
each estimator's best configuration is fitted on the training folds and predicts the rows
it did not see, then members are added one at a time, with replacement, whichever lowers
the validation loss of the average most. The weights are how often each was picked. The
single best configuration is one of the candidates, so the ensemble is used only when the
average beats it on the same validation rows; otherwise Millrace serves the single best.

The result is scikit-learn's own ``VotingClassifier`` (soft) or ``VotingRegressor``, with
members already fitted by FLAML's learners, so it is stored with skops like any estimator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch

from millrace.ml.tabular.refit import Refit, fit_config
from millrace.ml.tabular.scoring import PROBA_METRICS, from_loss

__all__ = ["Candidate", "Ensemble", "select"]

ROUNDS = 25
MIN_GAIN = 1e-4  # relative: an average that is not clearly better is not worth serving


@dataclass
class Candidate:
    name: str
    config: dict[str, Any]
    loss: float  # FLAML's validation loss of this configuration
    fit_seconds: float  # one fit on the 80%, expected from its trial


@dataclass
class Ensemble:
    members: list[Candidate]
    weights: list[int]
    metric: str
    validation_score: float
    single_best_score: float

    @property
    def name(self) -> str:
        return "ensemble(" + "+".join(m.name for m in self.members) + ")"

    def describe(self) -> dict[str, Any]:
        return {
            "members": [
                {"estimator": m.name, "weight": w, "config": m.config}
                for m, w in zip(self.members, self.weights, strict=True)
            ],
            "validation_" + self.metric: self.validation_score,
            "single_best_validation_" + self.metric: self.single_best_score,
        }

    def fit(
        self, x: pd.DataFrame, y: np.ndarray, kind: str, budget_s: float, n_jobs: int = 1
    ) -> Refit:
        """Each member fitted on ``x``, sharing ``budget_s`` by their expected cost."""
        started = time.monotonic()
        total = sum(m.fit_seconds for m in self.members) or 1.0
        fitted, truncated = [], False
        for member in self.members:
            share = budget_s * member.fit_seconds / total
            refit = fit_config(member.name, member.config, kind, x, y, max(share, 0.2), n_jobs)
            fitted.append(refit.estimator)
            truncated |= refit.truncated
        model = _voting(self.members, self.weights, fitted, y, kind)
        return Refit(model, time.monotonic() - started, len(x), truncated)


def select(
    candidates: list[Candidate],
    x: pd.DataFrame,
    y: np.ndarray,
    kind: str,
    metric: str,
    folds: int,
    until: float,
    seed: int,
    n_jobs: int = 1,
) -> Ensemble | None:
    """The ensemble of ``candidates`` (best first) that validates best, or None when the
    single best does as well, or when the out-of-fold predictions cannot be had by
    ``until`` (a monotonic time)."""
    preds, kept = [], []
    splits = _splits(x, y, kind, folds, seed)
    for cand in candidates:
        if time.monotonic() + cand.fit_seconds * max(folds, 1) * 1.2 > until:
            continue
        pred = _out_of_fold(cand, x, y, kind, splits, until, n_jobs)
        if pred is not None:
            preds.append(pred)
            kept.append(cand)
    if len(kept) < 2:
        return None
    rows = np.concatenate([test for _, test in splits]) if folds > 1 else splits[0][1]
    truth = y[rows]
    weights = _greedy(preds, truth, metric, kind)
    chosen = [i for i, w in enumerate(weights) if w > 0]
    single = min(_loss(metric, kind, truth, p) for p in preds)
    blended = _loss(metric, kind, truth, _blend(preds, weights))
    if len(chosen) < 2 or blended > single - MIN_GAIN * max(abs(single), 1e-9):
        return None
    return Ensemble(
        members=[kept[i] for i in chosen],
        weights=[int(weights[i]) for i in chosen],
        metric=metric,
        validation_score=from_loss(metric, blended),
        single_best_score=from_loss(metric, single),
    )


def _splits(
    x: pd.DataFrame, y: np.ndarray, kind: str, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds for cross-validation; one 90/10 split when FLAML used a holdout."""
    if kind != "regression" and np.bincount(y).min() >= max(folds, 2):
        splitter: Any = StratifiedKFold(max(folds, 2), shuffle=True, random_state=seed)
    else:
        splitter = KFold(max(folds, 2), shuffle=True, random_state=seed)
    if folds > 1:
        return list(splitter.split(x, y))
    n = len(x)
    order = np.random.default_rng(seed).permutation(n)
    cut = max(int(n * 0.9), n - 5000)
    return [(np.sort(order[:cut]), np.sort(order[cut:]))]


def _out_of_fold(
    cand: Candidate,
    x: pd.DataFrame,
    y: np.ndarray,
    kind: str,
    splits: list[tuple[np.ndarray, np.ndarray]],
    until: float,
    n_jobs: int,
) -> np.ndarray | None:
    n_classes = int(y.max()) + 1 if kind != "regression" else 0
    parts = []
    for train, test in splits:
        left = until - time.monotonic()
        if left <= 0:
            return None
        # A fold fit stopped far short of its trial's time would judge a weaker model.
        budget = min(left, cand.fit_seconds * 3 + 0.5)
        refit = fit_config(cand.name, cand.config, kind, x.iloc[train], y[train], budget, n_jobs)
        parts.append(_predict(refit.estimator, x.iloc[test], n_classes))
    return np.concatenate(parts)


def _predict(model: Any, x: pd.DataFrame, n_classes: int) -> np.ndarray:
    if not n_classes:
        return np.asarray(model.predict(x), dtype=float)
    proba = np.zeros((len(x), n_classes))
    proba[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(x)
    return proba


def _loss(metric: str, kind: str, y: np.ndarray, pred: np.ndarray) -> float:
    """FLAML's loss of ``metric``: lower is better whatever the metric."""
    from flaml.automl.ml import sklearn_metric_loss_score

    if kind == "regression":
        return float(sklearn_metric_loss_score(metric, pred, y))
    labels = np.arange(pred.shape[1])
    if metric in PROBA_METRICS:
        y_pred = pred[:, 1] if pred.shape[1] == 2 and metric != "log_loss" else pred
    else:
        y_pred = pred.argmax(axis=1)
    return float(sklearn_metric_loss_score(metric, y_pred, y, labels=labels))


def _blend(preds: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    stacked = np.stack(preds)
    return np.tensordot(weights / weights.sum(), stacked, axes=1)


def _greedy(preds: list[np.ndarray], y: np.ndarray, metric: str, kind: str) -> np.ndarray:
    weights = np.zeros(len(preds))
    best = float("inf")
    for _ in range(ROUNDS):
        trials = []
        for i in range(len(preds)):
            w = weights.copy()
            w[i] += 1
            trials.append(_loss(metric, kind, y, _blend(preds, w)))
        pick = int(np.argmin(trials))
        if trials[pick] >= best and weights.sum() > 0:
            break
        best = trials[pick]
        weights[pick] += 1
    return weights


def _voting(
    members: list[Candidate], weights: list[int], fitted: list[Any], y: np.ndarray, kind: str
) -> Any:
    """scikit-learn's voting estimator around members that are already fitted.

    ``VotingClassifier.fit`` would refit clones without FLAML's learners (losing, e.g.,
    CatBoost's early stopping), so the fitted attributes are set the way ``fit`` sets them.
    """
    named = [(f"{i}_{m.name}", est) for i, (m, est) in enumerate(zip(members, fitted, strict=True))]
    if kind == "regression":
        model: Any = VotingRegressor(named, weights=weights)
    else:
        model = VotingClassifier(named, voting="soft", weights=weights)
        model.le_ = LabelEncoder().fit(y)
        model.classes_ = model.le_.classes_
    model.estimators_ = fitted
    model.named_estimators_ = Bunch(**dict(named))
    return model
