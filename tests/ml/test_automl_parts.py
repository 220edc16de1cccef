"""The AutoML's parts on their own: metric hints, refits, threads, the ensemble's choice.

Real fits on data scikit-learn ships; nothing is mocked.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from millrace.exceptions import InvalidInputError
from millrace.ml.tabular.encoding import FeatureEncoder
from millrace.ml.tabular.ensemble import Candidate, select
from millrace.ml.tabular.refit import fit_config
from millrace.ml.tabular.scoring import check_metric, choose_metric
from millrace.ml.tabular.search import threads


def _cancer(times: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    frame = load_breast_cancer(as_frame=True).frame
    frame = pd.concat([frame] * times, ignore_index=True)
    enc = FeatureEncoder.fit(frame, "target", "classification")
    return enc.transform(frame), enc.encode_target(frame["target"])


@pytest.mark.parametrize(
    ("hint", "task", "expected"),
    [
        ("ROC_AUC", "classification", "roc_auc"),
        (" log_loss ", None, "log_loss"),
        ("rmse", "regression", "rmse"),
        ("mae", None, "mae"),
        ("", "classification", None),
        (None, "regression", None),
    ],
)
def test_a_metric_hint_is_checked_and_spelled_as_flaml_does(
    hint: str | None, task: str | None, expected: str | None
) -> None:
    assert check_metric(hint, task) == expected


@pytest.mark.parametrize(
    ("hint", "task"), [("r2", "classification"), ("accuracy", "regression"), ("auc", None)]
)
def test_an_unknown_or_unfitting_metric_hint_names_the_choices(hint: str, task: str | None) -> None:
    with pytest.raises(InvalidInputError, match="choose one of") as refused:
        check_metric(hint, task)
    choices = refused.value.detail.split("choose one of: ")[1].split(", ")
    assert hint not in choices
    assert ("rmse" in choices) == (task != "classification")
    assert ("log_loss" in choices) == (task != "regression")


def test_multiclass_takes_the_binary_names_of_the_averaged_metrics() -> None:
    assert choose_metric("multiclass", "roc_auc") == "roc_auc_ovr"
    assert choose_metric("multiclass", "f1") == "macro_f1"
    with pytest.raises(InvalidInputError, match="multiclass"):
        choose_metric("multiclass", "ap")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_logistic_refit_with_a_short_budget_is_not_swapped_for_the_prior() -> None:
    """FLAML stops L2 logistic regression with SIGALRM at the budget (rounded down to
    whole seconds, at least 1) and returns a DummyClassifier in its place; a refit of the
    configuration that won must be the configuration, however long lbfgs takes."""
    x, y = _cancer(times=4)  # unscaled features: lbfgs runs to its iteration cap
    started = time.monotonic()
    refit = fit_config("lrl2", {"C": 1.0}, "binary", x, y, 0.05)
    assert isinstance(refit.estimator.named_steps["model"], LogisticRegression)
    assert refit.estimator.score(x, y) > 0.8  # the prior scores 0.63
    assert refit.seconds <= time.monotonic() - started


def test_small_data_trains_on_one_thread() -> None:
    assert threads((178, 13)) == 1
    assert threads((1797, 64)) == 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_an_ensemble_is_kept_only_when_it_validates_better_than_the_best_member() -> None:
    x, y = _cancer()
    trees = Candidate("extra_tree", {"n_estimators": 50, "max_leaves": 64}, 0.1, 0.2)
    linear = Candidate("lrl2", {"C": 1.0}, 0.12, 0.5)
    blend = select([trees, linear], x, y, "binary", "log_loss", 5, time.monotonic() + 120, 0)
    assert blend is not None and {m.name for m in blend.members} == {"extra_tree", "lrl2"}
    assert blend.validation_score < blend.single_best_score  # log-loss: lower is better
    # A member that knows nothing (almost no weight on any feature) never improves the
    # average, so the single best is served.
    prior = Candidate("lrl1", {"C": 1e-6}, 0.6, 0.2)
    assert select([trees, prior], x, y, "binary", "log_loss", 5, time.monotonic() + 120, 0) is None
