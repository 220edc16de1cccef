"""Tabular AutoML: what it searches, what it scores on, what it serves, and how long.

Every test trains for real on data scikit-learn ships (breast cancer, wine, diabetes),
with budgets of a few seconds.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from flaml.automl.task.factory import task_factory
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import VotingClassifier

from millrace.exceptions import InvalidInputError
from millrace.ml.tabular.automl import TrainedModel, train_tabular
from millrace.ml.tabular.ensemble import Candidate, Ensemble
from millrace.ml.tabular.persist import TRUSTED_TYPES, load_package, package_files
from millrace.ml.tabular.refit import fit_config
from millrace.ml.tabular.search import searched

BUDGET = 4.0
# FLAML's last trial may end a little past its share; tiny budgets get this on top of 10%.
SLACK_S = 1.5


def _cancer() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "malignant", 1: "benign"})
    return frame


def _diabetes() -> pd.DataFrame:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["sex"] = frame["sex"].map({1.0: "F", 2.0: "M"})
    return frame


def _timed(*args: Any, **kwargs: Any) -> tuple[TrainedModel, float]:
    started = time.monotonic()
    trained = train_tabular(*args, **kwargs)
    return trained, time.monotonic() - started


def _round_trip(trained: TrainedModel) -> Any:
    files = package_files(trained.estimator, trained.encoder, {"metrics.json": {}})
    loaded, encoder = load_package({name: data.getvalue() for name, data in files})
    assert encoder == trained.encoder
    return loaded


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_the_search_covers_flaml_defaults(kind: str) -> None:
    defaults = task_factory(kind).default_estimator_list("auto")
    storable = [
        n
        for n in defaults
        if n != "catboost" or "catboost.core.CatBoostClassifier" in TRUSTED_TYPES
    ]
    assert searched(kind) == storable
    assert {"lgbm", "rf", "xgboost", "extra_tree", "xgb_limitdepth", "sgd"} <= set(storable)


def test_a_default_run_searches_every_default_estimator_within_budget() -> None:
    frame = _cancer()
    trained, wall = _timed(frame, "target", "classification", BUDGET)
    assert trained.searched == searched("binary")
    tried = {row["estimator"] for row in trained.leaderboard}
    assert len(tried) >= 3, tried  # the cost-aware search reaches past LightGBM
    assert trained.metric == "log_loss"
    assert wall <= BUDGET * 1.1 + SLACK_S, (wall, trained.timings)
    assert trained.train_seconds <= wall
    json.dumps(trained.best_config)  # plain JSON for the registry and MLflow's params
    # The test predictions are the scored model's, and the accuracy is theirs.
    codes = trained.encoder.encode_target(frame["target"].iloc[trained.test_index])
    accuracy = np.mean(np.asarray(trained.test_predictions) == codes)
    assert trained.test_scores["accuracy"] == pytest.approx(accuracy)
    # The model that is served predicts from the encoded columns and round-trips.
    x = trained.encoder.transform(frame)
    loaded = _round_trip(trained)
    np.testing.assert_array_equal(loaded.predict(x), trained.estimator.predict(x))
    np.testing.assert_allclose(loaded.predict_proba(x), trained.estimator.predict_proba(x))


def test_the_served_model_is_fitted_on_all_rows() -> None:
    frame = _diabetes()
    trained = train_tabular(
        frame, "target", "regression", BUDGET, estimators=["extra_tree"], ensemble=False
    )
    assert trained.refit_on_all_rows and trained.best_config["refit_on_all_rows"] is True
    assert trained.training_rows == len(frame)
    note = trained.scoring_note  # the model's report says what was scored and what is served
    assert f"held-out 20% ({len(trained.test_index)} rows)" in note
    assert "fitted on the other 80%" in note and f"refitted on all {len(frame)} rows" in note
    roots = {int(tree.tree_.n_node_samples[0]) for tree in trained.estimator.estimators_}
    assert roots == {len(frame)}  # extra trees do not bootstrap: every row reaches each root


def test_the_test_scores_come_from_the_held_out_fifth() -> None:
    frame = _diabetes()
    trained = train_tabular(
        frame, "target", "regression", BUDGET, seed=3, estimators=["extra_tree"], ensemble=False
    )
    test = np.asarray(trained.test_index)
    assert len(test) == math.ceil(len(frame) * 0.2)  # scikit-learn rounds the test share up
    train = np.setdiff1d(np.arange(len(frame)), test)
    # The same configuration fitted on the other 80% gives exactly the reported score,
    # and the served model (which saw the test rows) scores better on them.
    enc = trained.encoder
    x, y = enc.transform(frame), enc.encode_target(frame["target"])
    config = {
        k: v
        for k, v in trained.best_config.items()
        if k in {"n_estimators", "max_features", "max_leaves", "criterion"}
    }
    refit = fit_config(
        "extra_tree", config, "regression", x.iloc[train].reset_index(drop=True), y[train], None
    )
    pred = refit.estimator.predict(x.iloc[test].reset_index(drop=True))
    r2 = 1 - ((y[test] - pred) ** 2).sum() / ((y[test] - y[test].mean()) ** 2).sum()
    assert trained.test_scores["r2"] == pytest.approx(r2, abs=1e-9)
    served = trained.estimator.predict(x.iloc[test])
    assert ((y[test] - served) ** 2).sum() < ((y[test] - pred) ** 2).sum()


def test_the_split_is_stratified() -> None:
    frame = load_wine(as_frame=True).frame
    trained = train_tabular(frame, "target", "classification", BUDGET, ensemble=False)
    test = frame.iloc[trained.test_index]["target"].value_counts(normalize=True).sort_index()
    whole = frame["target"].value_counts(normalize=True).sort_index()
    np.testing.assert_allclose(test.to_numpy(), whole.to_numpy(), atol=0.03)
    assert "roc_auc_ovr" in trained.test_scores and "log_loss" in trained.test_scores


def test_a_user_metric_is_optimised_and_reported() -> None:
    trained = train_tabular(_cancer(), "target", "classification", BUDGET, metric="accuracy")
    assert trained.metric == "accuracy"
    assert all("validation_accuracy" in row for row in trained.leaderboard)
    assert 0.5 < trained.validation_score <= 1.0
    # No ensemble: its score is out of fold on its own splits, not the leaderboard's.
    regression = train_tabular(
        _diabetes(), "target", "regression", BUDGET, metric="RMSE", ensemble=False
    )
    assert regression.metric == "rmse"
    errors = [row["validation_rmse"] for row in regression.leaderboard]
    assert errors == sorted(errors)  # lower is better, so best first is smallest
    assert regression.validation_score == pytest.approx(errors[0], rel=1e-5)
    assert regression.test_scores["rmse"] > 10  # on the target's own scale, not 1 - loss


@pytest.mark.parametrize(
    ("task", "metric"),
    [("classification", "r2"), ("regression", "log_loss"), ("classification", "nope")],
)
def test_a_metric_that_does_not_fit_the_task_is_refused(task: str, metric: str) -> None:
    target = "target"
    frame = _cancer() if task == "classification" else _diabetes()
    with pytest.raises(InvalidInputError, match="choose one of"):
        train_tabular(frame, target, task, BUDGET, metric=metric)


def test_an_ensemble_of_fitted_members_round_trips() -> None:
    frame = _cancer()
    trained = train_tabular(frame, "target", "classification", 2.0, ensemble=False)
    x, y = trained.encoder.transform(frame), trained.encoder.encode_target(frame["target"])
    members = [
        Candidate("lgbm", {"n_estimators": 20, "num_leaves": 8}, 0.1, 0.1),
        Candidate("extra_tree", {"n_estimators": 20, "max_leaves": 16}, 0.12, 0.1),
    ]
    blend = Ensemble(members, [2, 1], "log_loss", 0.1, 0.11)
    fitted = blend.fit(x, y, "binary", 5.0)
    assert isinstance(fitted.estimator, VotingClassifier) and fitted.rows == len(frame)
    loaded = _round_trip(TrainedModel(**{**trained.__dict__, "estimator": fitted.estimator}))
    np.testing.assert_allclose(loaded.predict_proba(x), fitted.estimator.predict_proba(x))
    alone = [m.predict_proba(x) for m in fitted.estimator.estimators_]
    np.testing.assert_allclose(fitted.estimator.predict_proba(x), (2 * alone[0] + alone[1]) / 3)


@pytest.mark.parametrize(
    ("kind", "name"),
    [(kind, name) for kind in ("binary", "multiclass", "regression") for name in searched(kind)],
)
def test_every_searched_estimator_is_served_from_column_names_and_round_trips(
    kind: str, name: str
) -> None:
    """Whatever the search may pick is fitted the way ``train_tabular`` fits it, stored
    with only names ``persist`` trusts, and predicts the same from a DataFrame after."""
    frame = _diabetes() if kind == "regression" else load_wine(as_frame=True).frame
    if kind == "binary":
        frame = _cancer()
    task = "regression" if kind == "regression" else "classification"
    gappy = frame.columns[1]
    frame.loc[::7, gappy] = np.nan  # served rows may have gaps too
    trained = train_tabular(frame, "target", task, 2.0, estimators=[name], ensemble=False)
    assert trained.algorithm == name
    x = trained.encoder.transform(frame)
    assert x[gappy].isna().any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "X has feature names, but ... fitted without"
        expected = trained.estimator.predict(x)
    assert set(sio.get_untrusted_types(data=sio.dumps(trained.estimator))) <= TRUSTED_TYPES
    loaded = _round_trip(trained)
    # A forest sums its trees in threads, so a regression differs in the last bits.
    np.testing.assert_allclose(loaded.predict(x), expected, rtol=1e-9)
