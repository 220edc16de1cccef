"""SHAP explanations for each kind of model, checked against SHAP itself."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import shap
from lightgbm import LGBMClassifier
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from xgboost import XGBClassifier, XGBRegressor

from millrace.ml.explain.explain import AGNOSTIC_ROWS, explain_model


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    y = (frame.pop("target") > 140).astype(int).to_numpy()
    return frame, y


@pytest.mark.parametrize(
    "model",
    [LGBMClassifier(n_estimators=20, verbose=-1), XGBClassifier(n_estimators=20)],
    ids=["lightgbm", "xgboost"],
)
def test_tree_models_explain_the_positive_class(
    model: object, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    x, y = data
    model.fit(x, y)  # type: ignore[attr-defined]
    exp = explain_model(model, x, y, "classification")
    assert exp.explainer == "TreeExplainer"
    assert exp.shap_values.shape == (len(x), x.shape[1])
    with warnings.catch_warnings():  # SHAP's notice about LightGBM's list output
        warnings.simplefilter("ignore", UserWarning)
        direct = shap.TreeExplainer(model).shap_values(exp.sample)
    direct = direct[-1] if isinstance(direct, list) else direct
    direct = direct[:, :, -1] if np.ndim(direct) == 3 else direct
    np.testing.assert_allclose(exp.shap_values, direct, rtol=1e-5, atol=1e-6)
    top = max(exp.mean_abs_shap, key=exp.mean_abs_shap.__getitem__)
    assert top in {"s5", "bmi"}  # the study's strongest predictors
    assert set(exp.permutation) == set(x.columns)


def test_regression_and_linear_and_agnostic(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    x, y = data
    reg = XGBRegressor(n_estimators=20).fit(x, x["bmi"] * 2 + y)
    assert explain_model(reg, x, (x["bmi"] * 2 + y).to_numpy(), "regression").scoring == "r2"
    lin = LogisticRegression(max_iter=5000).fit(x, y)
    assert explain_model(lin, x, y, "classification").explainer == "LinearExplainer"
    knn = KNeighborsClassifier().fit(x, y)
    exp = explain_model(knn, x, y, "classification")
    assert exp.explainer == "PermutationExplainer"
    assert len(exp.sample) == AGNOSTIC_ROWS  # bounded, so it stays fast
