"""The bias report's figures against AIF360 and Fairlearn, to 1e-9, on real packaged data.

Data shipped in installed packages, nothing downloaded: Cattaneo's 4 642 births (statsmodels;
low birth weight is the unfavourable label, the mother's race and marriage the groups), the
tips of a restaurant (plotly; a 19-row day), Fair's affairs (statsmodels) and the diabetes
study (scikit-learn). The model's predictions come from a logistic regression fitted here.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from plotly import data as plotly_data
from sklearn.linear_model import LogisticRegression

from millrace.exceptions import InvalidInputError
from millrace.ml.fairness.metrics import check_fairness_hints, fairness_report
from millrace.ml.fairness.report import build_bias_report, render_bias_html
from tests.agents.world import diabetes_frame

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from aif360.datasets import BinaryLabelDataset
    from aif360.metrics import BinaryLabelDatasetMetric, ClassificationMetric

TOL = 1e-9
_SM = Path(statsmodels.__file__).parent


def births() -> pd.DataFrame:
    """Cattaneo (2010): birth weight and the mother's traits; 1 in lbweight is bad news."""
    frame = pd.read_csv(_SM / "treatment/tests/results/cataneo2.csv")
    return frame[["mrace", "mmarried", "mbsmoke", "mage", "medu", "nprenatal", "lbweight"]]


def births_predictions(frame: pd.DataFrame) -> np.ndarray:
    """A real model's 0/1 predictions of lbweight (cut at 0.1: the base rate is 6%)."""
    x = pd.get_dummies(frame.drop(columns="lbweight"), drop_first=True).astype(float)
    model = LogisticRegression(max_iter=2000).fit(x, frame["lbweight"])
    return (model.predict_proba(x)[:, 1] > 0.1).astype(int)


def tips() -> pd.DataFrame:
    frame = plotly_data.tips()
    frame["big_party"] = (frame["size"] >= 5).astype(int)
    return frame


def _aif(
    labels: pd.Series, groups: pd.Series, favourable: Any, unfavourable: Any
) -> tuple[BinaryLabelDataset, dict[str, int]]:
    codes = {g: i for i, g in enumerate(sorted(groups.unique()))}
    frame = pd.DataFrame({"y": labels.to_numpy(), "g": groups.map(codes).to_numpy()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = BinaryLabelDataset(
            df=frame,
            label_names=["y"],
            protected_attribute_names=["g"],
            favorable_label=favourable,
            unfavorable_label=unfavourable,
        )
    return ds, codes


def _close(ours: float | None, theirs: float) -> None:
    if np.isnan(theirs):
        assert ours is None
    else:
        assert ours is not None and abs(ours - theirs) <= TOL, (ours, theirs)


def _check_against_aif360(
    entry: dict[str, Any],
    labels: pd.Series,
    groups: pd.Series,
    favourable: int,
    pred: np.ndarray | None = None,
) -> int:
    """Every group against the reference, figure by figure; returns how many compared."""
    truth, codes = _aif(labels, groups, favourable, 1 - favourable)
    ref = entry["reference_group"]
    checked = 0
    for g, row in entry["vs_reference"].items():
        kw = {"unprivileged_groups": [{"g": codes[g]}], "privileged_groups": [{"g": codes[ref]}]}
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")
            if pred is None:
                m = BinaryLabelDatasetMetric(truth, **kw)
                _close(row["disparate_impact"], m.disparate_impact())
                _close(row["statistical_parity_difference"], m.statistical_parity_difference())
                _close(entry["groups"][g]["selection_rate"], m.base_rate(privileged=False))
                checked += 3
                continue
            predicted = truth.copy(deepcopy=True)
            predicted.labels = pred.reshape(-1, 1).astype(float)
            m = ClassificationMetric(truth, predicted, **kw)
            stats, ref_stats = entry["groups"][g], entry["groups"][ref]
            pairs = [
                (row["disparate_impact"], m.disparate_impact()),
                (row["statistical_parity_difference"], m.statistical_parity_difference()),
                (row["equal_opportunity_difference"], m.equal_opportunity_difference()),
                (row["average_odds_difference"], m.average_odds_difference()),
                (row["average_abs_odds_difference"], m.average_abs_odds_difference()),
                (row["false_positive_rate_difference"], m.false_positive_rate_difference()),
                (stats["selection_rate"], m.selection_rate(privileged=False)),
                (stats["true_positive_rate"], m.true_positive_rate(privileged=False)),
                (stats["false_positive_rate"], m.false_positive_rate(privileged=False)),
                (stats["base_rate"], m.base_rate(privileged=False)),
                (ref_stats["true_positive_rate"], m.true_positive_rate(privileged=True)),
                (ref_stats["false_positive_rate"], m.false_positive_rate(privileged=True)),
            ]
        for ours, theirs in pairs:
            _close(ours, theirs)
        checked += len(pairs)
    return checked


def _check_against_fairlearn(
    entry: dict[str, Any], y01: pd.Series, groups: pd.Series, pred01: pd.Series | None
) -> None:
    """Per-group rates over all groups; worst cases over the groups large enough to judge."""
    basis = y01 if pred01 is None else pred01
    frame = MetricFrame(
        metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y01,
        y_pred=basis,
        sensitive_features=groups,
    )
    for g, r in frame.by_group.iterrows():
        stats = entry["groups"][str(g)]
        _close(stats["selection_rate"], r["sr"])
        if pred01 is not None:
            for rate, col in (("true_positive_rate", "tpr"), ("false_positive_rate", "fpr")):
                if stats[rate] is not None:  # Fairlearn says 0.0 where the rate is undefined
                    _close(stats[rate], r[col])
    worst = entry["worst_case"]
    keep = groups.isin(worst["groups"]).to_numpy()
    y, b, sf = y01[keep], basis[keep], groups[keep]
    _close(
        worst["disparate_impact_min_over_max"],
        demographic_parity_ratio(y, b, sensitive_features=sf),
    )
    _close(
        worst["statistical_parity_max_minus_min"],
        demographic_parity_difference(y, b, sensitive_features=sf),
    )
    if pred01 is not None:
        _close(
            worst["equal_opportunity_max_minus_min"],
            equal_opportunity_difference(y, b, sensitive_features=sf),
        )
        _close(
            worst["equalized_odds_max_difference"],
            equalized_odds_difference(y, b, sensitive_features=sf),
        )


def test_births_labels_and_model_match_aif360_and_fairlearn() -> None:
    frame = births()
    pred = births_predictions(frame)
    common = {"favorable_label": "0", "privileged_groups": {"mrace": "1", "mmarried": "married"}}
    data_only = fairness_report(
        frame, "lbweight", "classification", ["mrace", "mmarried"], **common
    )
    model = fairness_report(
        frame, "lbweight", "classification", ["mrace", "mmarried"], y_pred=pred, **common
    )
    assert data_only["favourable_label"] == "0" and not data_only["favourable_assumed"]
    y01 = (frame["lbweight"] == 0).astype(int)
    pred01 = pd.Series((pred == 0).astype(int))
    checked = 0
    for column in ("mrace", "mmarried"):
        groups = frame[column].astype(str)
        for report in (data_only, model):
            assert (
                report["attributes"][column]["reference_group"]
                == common["privileged_groups"][column]
            )
        checked += _check_against_aif360(
            data_only["attributes"][column], frame["lbweight"], groups, 0
        )
        checked += _check_against_aif360(
            model["attributes"][column], frame["lbweight"], groups, 0, pred
        )
        _check_against_fairlearn(data_only["attributes"][column], y01, groups, None)
        _check_against_fairlearn(model["attributes"][column], y01, groups, pred01)
    assert checked == 2 * (3 + 12)
    # Full precision survives the JSON a report is stored as.
    again = json.loads(json.dumps(model))
    di = model["attributes"]["mrace"]["vs_reference"]["0"]["disparate_impact"]
    assert again["attributes"]["mrace"]["vs_reference"]["0"]["disparate_impact"] == di
    assert di != round(di, 6)


def test_the_favourable_label_decides_the_verdict() -> None:
    """lbweight 1 is a low birth weight: counted as favourable (the 0/1 default, said to be
    assumed), Black mothers (mrace 0) look favoured; with favorable_label 0 they are not."""
    frame = births()
    assumed = fairness_report(frame, "lbweight", "classification", ["mrace"])
    given = fairness_report(
        frame,
        "lbweight",
        "classification",
        ["mrace"],
        favorable_label="0",
        privileged_groups={"mrace": "1"},
    )
    assert assumed["favourable_assumed"] and "favorable_label" in assumed["favourable_why"]
    assert assumed["attributes"]["mrace"]["reference_assumed"]
    assert "largest group" in assumed["attributes"]["mrace"]["reference_why"]
    di_assumed = assumed["attributes"]["mrace"]["vs_reference"]["0"]["disparate_impact"]
    di_given = given["attributes"]["mrace"]["vs_reference"]["0"]["disparate_impact"]
    assert di_assumed > 1.25 and 0.8 < di_given < 1  # 13.5% vs 4.6% low weight; 86.5% vs 95.4%
    assert any("disparate impact" in f for f in assumed["attributes"]["mrace"]["flags"])
    assert not any("disparate impact" in f for f in given["attributes"]["mrace"]["flags"])
    # Signed: the group is worse off than the reference, so the difference is negative.
    assert given["attributes"]["mrace"]["vs_reference"]["0"]["statistical_parity_difference"] < 0


def test_undefined_rates_are_null_with_a_reason_and_never_flagged() -> None:
    """No party of five or more came on a Friday: its true positive rate does not exist.
    Fairlearn reports 0.0 for it; the report says null, why, and draws no verdict from it."""
    frame = tips()
    pred = (frame["total_bill"] > 30).astype(int).to_numpy()  # a real, crude rule
    report = fairness_report(
        frame,
        "big_party",
        "classification",
        ["day"],
        y_pred=pred,
        privileged_groups={"day": "Sun"},
        min_group_size=10,
    )
    day = report["attributes"]["day"]
    fri = day["groups"]["Fri"]
    assert fri["true_positive_rate"] is None
    assert fri["undefined"]["true_positive_rate"] == "no favourable labels in this group"
    versus = day["vs_reference"]["Fri"]
    assert versus["equal_opportunity_difference"] is None
    assert versus["average_odds_difference"] is None
    assert "Fri: no favourable labels" in versus["undefined"]["equal_opportunity_difference"]
    assert not any("Fri" in f and "opportunity" in f for f in day["flags"])
    checked = _check_against_aif360(day, frame["big_party"], frame["day"], 1, pred)
    assert checked == 3 * 12
    y01 = frame["big_party"]
    mf = MetricFrame(
        metrics=true_positive_rate, y_true=y01, y_pred=pred, sensitive_features=frame["day"]
    )
    assert mf.by_group["Fri"] == 0.0  # what the old report showed, and flagged on
    _check_against_fairlearn(day, y01, frame["day"], pd.Series(pred))


def test_small_groups_are_reported_but_not_flagged() -> None:
    frame = tips()
    frame["generous"] = (frame["tip"] / frame["total_bill"] > 0.18).map({True: "yes", False: "no"})
    report = fairness_report(
        frame,
        "generous",
        "classification",
        ["day"],
        favorable_label="yes",
        privileged_groups={"day": "Sat"},
    )
    day = report["attributes"]["day"]
    assert day["groups"]["Fri"]["count"] == 19 and day["groups"]["Fri"]["small"]
    assert day["small_groups"] == ["Fri"]
    assert "Fri" in day["notes"][0] and "30 rows" in day["notes"][0]
    fri = day["vs_reference"]["Fri"]
    assert abs(fri["statistical_parity_difference"]) > 0.1  # over the threshold, yet:
    assert not any("day=Fri" in f for f in day["flags"])
    assert "Fri" not in day["worst_case"]["groups"]
    # The same figures with the limit lowered: now Fri is judged.
    low = fairness_report(
        frame,
        "generous",
        "classification",
        ["day"],
        favorable_label="yes",
        privileged_groups={"day": "Sat"},
        min_group_size=10,
    )
    assert any("day=Fri" in f for f in low["attributes"]["day"]["flags"])
    assert low["attributes"]["day"]["vs_reference"]["Fri"] == fri
    y = (frame["generous"] == "yes").astype(int)
    _check_against_aif360(day, y, frame["day"], 1)
    _check_against_fairlearn(day, y, frame["day"], None)


@pytest.mark.parametrize("which", ["affairs", "diabetes"])
def test_other_real_sets_match(which: str) -> None:
    if which == "affairs":
        frame = pd.read_csv(_SM / "datasets/fair/fair_pt.csv")
        frame["affair"] = (frame["naffairs"] > 0).astype(int)
        target, column = "affair", "sex"
    else:
        frame, target, column = diabetes_frame(), "high_risk", "sex"
    report = fairness_report(frame, target, "classification", [column], favorable_label="0")
    entry = report["attributes"][column]
    groups = frame[column].astype(int).astype(str)
    assert _check_against_aif360(entry, frame[target], groups, 0) == 3
    _check_against_fairlearn(entry, (frame[target] == 0).astype(int), groups, None)


def test_hints_the_data_lacks_are_clear_errors() -> None:
    frame = births()
    cases = [
        ({"favorable_label": "healthy"}, "'healthy' is not a value of 'lbweight'"),
        ({"privileged_groups": {"medu": "12"}}, "'medu', which is not among"),
        ({"privileged_groups": {"mrace": "white"}}, "'white' is not a group of 'mrace'"),
    ]
    for hints, message in cases:
        kw = {"favorable_label": None, "privileged_groups": None, **hints}
        problem = check_fairness_hints(frame, "lbweight", "classification", ["mrace"], **kw)
        assert problem is not None and message in problem
        with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")):
            fairness_report(frame, "lbweight", "classification", ["mrace"], **hints)
    regression = check_fairness_hints(frame, "mage", "regression", ["mrace"], "1", None)
    assert regression is not None and "classification target" in regression
    assert check_fairness_hints(frame, "lbweight", "classification", ["mrace"], "1", None) is None


def test_html_rounds_but_json_keeps_precision() -> None:
    frame = births()
    report = build_bias_report(
        frame,
        "lbweight",
        "classification",
        ["mrace"],
        favorable_label="0",
        privileged_groups={"mrace": "1"},
    )
    di = report["fairness"]["attributes"]["mrace"]["vs_reference"]["0"]["disparate_impact"]
    page = render_bias_html(report, "births")
    assert f"{di:.4g}" in page and repr(di) not in page
    assert "Reference group: 1 (given in privileged_groups)" in page
    assert "Selection rate by mrace" in page
