"""Which metric the search optimises, and the held-out scores Millrace reports.

FLAML names its metrics (``roc_auc``, ``log_loss``, ``r2``...) and turns each into a loss
to minimise: ``1 - score`` for the ones where higher is better, the value itself for the
others. Millrace keeps FLAML's names, so a metric a user picks in the journey hints is
passed to the search unchanged, and reports every figure on its own scale.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from millrace.exceptions import InvalidInputError

__all__ = [
    "CLASSIFICATION_METRICS",
    "LOWER_IS_BETTER",
    "PROBA_METRICS",
    "REGRESSION_METRICS",
    "check_metric",
    "choose_metric",
    "from_loss",
    "score",
    "test_scores",
]

# What the search optimises when the user does not say: log-loss rewards calibrated
# probabilities, which is what an accuracy at the 0.5 cut and a ROC AUC both read.
DEFAULT_METRIC = {"binary": "log_loss", "multiclass": "log_loss", "regression": "r2"}

LOWER_IS_BETTER = frozenset({"log_loss", "mae", "mse", "rmse", "mape"})
PROBA_METRICS = frozenset({"log_loss", "roc_auc", "roc_auc_ovr", "roc_auc_ovo", "ap"})
CLASSIFICATION_METRICS = frozenset(
    {"accuracy", "log_loss", "roc_auc", "roc_auc_ovr", "roc_auc_ovo", "f1", "macro_f1"}
    | {"micro_f1", "ap"}
)
REGRESSION_METRICS = frozenset({"r2", "rmse", "mae", "mse", "mape"})
# The names that mean one thing for two classes and another for more.
_MULTICLASS_ALIAS = {"roc_auc": "roc_auc_ovr", "f1": "macro_f1"}
_BINARY_ONLY = frozenset({"ap"})


def choose_metric(flaml_task: str, requested: str | None) -> str:
    """The user's metric if it fits the task, FLAML's spelling of it; the default if None.

    A metric that cannot judge this task (``r2`` for labels, ``ap`` for three classes) is
    an input error naming the ones that can, rather than a search optimising nonsense.
    """
    if requested is None:
        return DEFAULT_METRIC[flaml_task]
    name = requested.strip().lower()
    allowed = REGRESSION_METRICS if flaml_task == "regression" else CLASSIFICATION_METRICS
    if flaml_task == "multiclass":
        name = _MULTICLASS_ALIAS.get(name, name)
        allowed = allowed - _BINARY_ONLY
    if name not in allowed:
        raise InvalidInputError(
            f"metric {requested!r} does not fit a {flaml_task} task; "
            f"choose one of: {', '.join(sorted(allowed))}"
        )
    return name


def check_metric(requested: str | None, task: str | None) -> str | None:
    """The hint's metric in FLAML's spelling, checked when a journey is set up.

    Whether labels are binary is known only at training, so this accepts a metric that
    fits some classification (``ap`` still fails then for three classes); with no task
    yet, a name either task knows. Unknown names are an input error listing the choices.
    """
    if requested is None or not requested.strip():
        return None
    name = requested.strip().lower()
    if task == "regression":
        allowed = REGRESSION_METRICS
    elif task == "classification":
        allowed = CLASSIFICATION_METRICS
    else:
        allowed = CLASSIFICATION_METRICS | REGRESSION_METRICS
    if name not in allowed:
        what = f"a {task} task" if task in {"classification", "regression"} else "any task"
        raise InvalidInputError(
            f"metric {requested!r} does not fit {what}; choose one of: {', '.join(sorted(allowed))}"
        )
    return name


def from_loss(metric: str, loss: float) -> float:
    """FLAML's loss back on the metric's own scale (an AUC of 0.97, a log-loss of 0.21)."""
    return float(loss) if metric in LOWER_IS_BETTER else 1.0 - float(loss)


def score(metric: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None) -> float:
    """One metric on held-out rows, with FLAML's definition of it."""
    from flaml.automl.ml import sklearn_metric_loss_score

    if metric in PROBA_METRICS:
        if proba is None:
            raise InvalidInputError(f"metric {metric} needs class probabilities")
        y_pred = proba[:, 1] if proba.shape[1] == 2 and metric != "log_loss" else proba
        labels = np.arange(proba.shape[1])
    else:
        y_pred, labels = pred, None
    return from_loss(metric, sklearn_metric_loss_score(metric, y_pred, y, labels=labels))


def test_scores(
    task: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, metric: str
) -> dict[str, float]:
    """The usual figures for the task, plus the optimised metric, at full precision."""
    if task == "classification":
        out = {
            "accuracy": skm.accuracy_score(y, pred),
            "f1_macro": skm.f1_score(y, pred, average="macro"),
            "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        }
        if proba is not None:
            labels = np.arange(proba.shape[1])
            out["log_loss"] = skm.log_loss(y, proba, labels=labels)
            if proba.shape[1] == 2:
                out["roc_auc"] = skm.roc_auc_score(y, proba[:, 1])
            elif len(np.unique(y)) == proba.shape[1]:  # every class is in the test rows
                out["roc_auc_ovr"] = skm.roc_auc_score(y, proba, multi_class="ovr")
    else:
        out = {
            "r2": skm.r2_score(y, pred),
            "mae": skm.mean_absolute_error(y, pred),
            "rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
        }
    if metric not in out:
        out[metric] = score(metric, y, pred, proba)
    return {k: float(v) for k, v in out.items()}
