"""Fitting one configuration FLAML found, on chosen rows, within a time limit.

The refits go through FLAML's own learner classes, so a configuration is trained exactly
as it was during the search: LightGBM's ``log_max_bin`` becomes ``max_bin``, CatBoost
keeps its early-stopping split, and boosting stops at the deadline the way a trial did
(the same callbacks). What comes out is the plain estimator inside the learner, made
servable on its own: FLAML hands scikit-learn's models a bare array, so they are given
the training column names (serving and the explainers pass DataFrames); linear models and
neighbours get the median imputer FLAML used in the search in front of them, and SGD,
which FLAML feeds row-normalised features, the same ``Normalizer`` as well.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer

__all__ = ["NAN_NATIVE", "Refit", "fit_config", "learner_class", "servable"]

NAN_NATIVE = frozenset({"lgbm", "xgboost", "xgb_limitdepth", "catboost", "rf", "extra_tree"})


@dataclass
class Refit:
    estimator: Any
    seconds: float
    rows: int
    truncated: bool  # the deadline stopped boosting before the configured rounds


def learner_class(name: str, flaml_task: str) -> Any:
    from flaml.automl.task.factory import task_factory

    return task_factory(flaml_task).estimator_class_from_str(name)


def fit_config(
    name: str,
    config: dict[str, Any],
    flaml_task: str,
    x: pd.DataFrame,
    y: np.ndarray,
    budget_s: float | None,
    n_jobs: int = -1,
) -> Refit:
    """``config`` of learner ``name`` fitted on ``x``/``y``; boosting stops at ``budget_s``."""
    cls = learner_class(name, flaml_task)
    learner = cls(task=flaml_task, n_jobs=n_jobs, **config)
    wanted = learner.params.get(getattr(cls, "ITER_HP", "n_estimators"))
    imputer = _imputer(name, x)
    fit_on = x if imputer is None else imputer.transform(x)
    started = time.monotonic()
    # FLAML stops a learner with ``limit_resource`` (L2 logistic regression) by SIGALRM at
    # the budget rounded down to whole seconds and silently serves a DummyClassifier in its
    # place; a refit of a configuration that won must not be swapped for the prior, so
    # such a fit gets no budget (it has no rounds to cut short anyway).
    budget = None if getattr(cls, "limit_resource", False) else budget_s
    learner.fit(fit_on, y, budget=budget)
    seconds = time.monotonic() - started
    model = _wrap(learner, x, imputer)
    return Refit(model, seconds, len(x), _truncated(learner.model, wanted))


def servable(name: str, learner: Any, x: pd.DataFrame) -> Any:
    """The model of a learner FLAML fitted on ``x`` (its own median imputation applied), made
    to predict from ``x``'s columns with missing values, as served rows may have."""
    return _wrap(learner, x, _imputer(name, x))


def _imputer(name: str, x: pd.DataFrame) -> SimpleImputer | None:
    """FLAML imputes medians before every trial; the models that cannot take a missing value
    keep that imputer in front of them, so serving a row with a gap works too. Boosting and
    scikit-learn's forests split on missing values themselves."""
    if name in NAN_NATIVE:
        return None
    imputer = SimpleImputer(strategy="median", keep_empty_features=True)
    return imputer.set_output(transform="pandas").fit(x)  # the model keeps column names


def _wrap(learner: Any, x: pd.DataFrame, imputer: SimpleImputer | None) -> Any:
    from flaml.automl.model import SGDEstimator

    model = learner.model
    if imputer is None:
        if type(model).__module__.startswith("sklearn.") and not hasattr(
            model, "feature_names_in_"
        ):
            model.feature_names_in_ = np.asarray(x.columns, dtype=object)
        return model
    steps: list[tuple[str, Any]] = [("impute", imputer)]
    if isinstance(learner, SGDEstimator):  # FLAML feeds SGD row-normalised features
        steps.append(("normalize", Normalizer().fit(imputer.transform(x.iloc[:1]))))
    return Pipeline([*steps, ("model", model)])


def _truncated(model: Any, wanted: Any) -> bool:
    """Fewer boosting rounds than configured: the deadline, not early stopping, cut it."""
    if not isinstance(wanted, int | float):
        return False
    fitted = getattr(model, "n_estimators", None)
    if type(model).__module__.startswith("catboost"):
        return False  # CatBoost stops on its own validation split by design
    return isinstance(fitted, int | float) and fitted < wanted
