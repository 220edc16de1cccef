"""Tabular AutoML with FLAML (LightGBM and XGBoost) under a hard wall-time budget.

The held-out test split (20%) is carved off before FLAML sees anything and is used once,
for the final score. FLAML gets a share of the budget for its search; the rest pays for
the final fit, scoring and packaging, so the whole step stays within budget + 10%.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split

from millrace.ml.tabular.encoding import FeatureEncoder

__all__ = ["SEARCH_SHARE", "TrainedModel", "train_tabular"]

SEARCH_SHARE = 0.6  # of the budget; the rest is for the final fit, scoring and upload
ESTIMATORS = ["lgbm", "xgboost"]


@dataclass
class TrainedModel:
    estimator: Any
    encoder: FeatureEncoder
    algorithm: str
    metric: str
    leaderboard: list[dict[str, Any]]
    validation_score: float
    test_scores: dict[str, float]
    best_config: dict[str, Any]
    train_seconds: float
    test_index: list[int]

    @property
    def headline(self) -> float:
        return self.test_scores["accuracy" if self.encoder.task == "classification" else "r2"]


def _leaderboard(log_file: Path, metric: str) -> list[dict[str, Any]]:
    rows = []
    for line in log_file.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "validation_loss" not in rec or "learner" not in rec:
            continue
        loss = float(rec["validation_loss"])
        rows.append(
            {
                "trial": rec.get("record_id"),
                "estimator": rec["learner"],
                "validation_" + metric: round(1 - loss, 6),
                "trial_seconds": round(float(rec.get("trial_time", 0.0)), 3),
                "config": rec.get("config", {}),
            }
        )
    rows.sort(key=lambda r: -r["validation_" + metric])
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def _test_scores(task: str, model: Any, x: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    pred = model.predict(x)
    if task == "classification":
        scores = {
            "accuracy": skm.accuracy_score(y, pred),
            "f1_macro": skm.f1_score(y, pred, average="macro"),
            "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        }
        if len(np.unique(y)) == 2 and hasattr(model, "predict_proba"):
            scores["roc_auc"] = skm.roc_auc_score(y, model.predict_proba(x)[:, 1])
    else:
        scores = {
            "r2": skm.r2_score(y, pred),
            "mae": skm.mean_absolute_error(y, pred),
            "rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
        }
    return {k: round(float(v), 6) for k, v in scores.items()}


def train_tabular(
    frame: pd.DataFrame, target: str, task: str, budget_s: float, seed: int = 0
) -> TrainedModel:
    from flaml import AutoML

    started = time.monotonic()
    data = frame[frame[target].notna()].reset_index(drop=True)
    encoder = FeatureEncoder.fit(data, target, task)
    x = encoder.transform(data)
    y = encoder.encode_target(data[target])
    stratify = y if task == "classification" and np.bincount(y).min() >= 2 else None
    idx_train, idx_test = train_test_split(
        np.arange(len(data)), test_size=0.2, random_state=seed, stratify=stratify
    )
    metric = "accuracy" if task == "classification" else "r2"
    search = max(budget_s * SEARCH_SHARE - (time.monotonic() - started), 1.0)
    with tempfile.TemporaryDirectory() as tmp:
        log_file = Path(tmp) / "flaml.log"
        automl = AutoML()
        automl.fit(
            x.iloc[idx_train].reset_index(drop=True),
            y[idx_train],
            task=task,
            metric=metric,
            time_budget=search,
            estimator_list=ESTIMATORS,
            eval_method="holdout",
            split_ratio=0.2,
            seed=seed,
            log_file_name=str(log_file),
            log_type="all",
            verbose=0,
            retrain_full=True,
            n_jobs=-1,
        )
        board = _leaderboard(log_file, metric)
    best = automl.model.estimator
    return TrainedModel(
        estimator=best,
        encoder=encoder,
        algorithm=str(automl.best_estimator),
        metric=metric,
        leaderboard=board,
        validation_score=round(1 - float(automl.best_loss), 6),
        test_scores=_test_scores(task, best, x.iloc[idx_test], y[idx_test]),
        best_config=dict(automl.best_config),
        train_seconds=round(time.monotonic() - started, 3),
        test_index=idx_test.tolist(),
    )
