"""The bias report's figures against AIF360 and Fairlearn, on real data shipped in packages.

For each case, Millrace's fairness report is computed, then every figure it gives is
recomputed with AIF360 (each group against the reference: disparate impact, statistical
parity, equal opportunity, average odds, per-group rates) and with Fairlearn (per-group
rates, worst-case min/max). Prints the largest disagreement, how many rates Fairlearn gives
as 0.0 where they are undefined, and the wall time of each against Millrace's.

    .venv/bin/python benchmarks/fairness.py
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import statsmodels
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from plotly import data as plotly_data
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LogisticRegression

from millrace.ml.fairness.metrics import fairness_report

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from aif360.datasets import BinaryLabelDataset
    from aif360.metrics import BinaryLabelDatasetMetric, ClassificationMetric

_SM = Path(statsmodels.__file__).parent
Case = tuple[str, pd.DataFrame, str, str, int, dict[str, Any], np.ndarray | None]


def _cases() -> list[Case]:
    births = pd.read_csv(_SM / "treatment/tests/results/cataneo2.csv")
    births = births[["mrace", "mmarried", "mbsmoke", "mage", "medu", "nprenatal", "lbweight"]]
    x = pd.get_dummies(births.drop(columns="lbweight"), drop_first=True).astype(float)
    lr = LogisticRegression(max_iter=2000).fit(x, births["lbweight"])
    births_pred = (lr.predict_proba(x)[:, 1] > 0.1).astype(int)
    tips = plotly_data.tips()
    tips["big_party"] = (tips["size"] >= 5).astype(int)
    affairs = pd.read_csv(_SM / "datasets/fair/fair_pt.csv")
    affairs["affair"] = (affairs["naffairs"] > 0).astype(int)
    diabetes = load_diabetes(as_frame=True, scaled=False).frame
    diabetes["high_risk"] = (diabetes.pop("target") > 140).astype(int)
    births_hints = {"favorable_label": "0", "privileged_groups": {"mrace": "1"}}
    return [
        ("births labels, mrace", births, "lbweight", "mrace", 0, births_hints, None),
        ("births model, mrace", births, "lbweight", "mrace", 0, births_hints, births_pred),
        (
            "births model, mmarried",
            births,
            "lbweight",
            "mmarried",
            0,
            {"favorable_label": "0"},
            births_pred,
        ),
        (
            "tips rule, day",
            tips,
            "big_party",
            "day",
            1,
            {"min_group_size": 10},
            (tips["total_bill"] > 30).astype(int).to_numpy(),
        ),
        ("affairs labels, sex", affairs, "affair", "sex", 0, {"favorable_label": "0"}, None),
        ("diabetes labels, sex", diabetes, "high_risk", "sex", 0, {"favorable_label": "0"}, None),
    ]


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _aif360(frame: pd.DataFrame, case: Case, entry: dict[str, Any]) -> list[tuple[Any, float]]:
    _, _, target, column, fav, _, pred = case
    groups = pd.Series(_group_names(frame[column]), index=frame.index)
    codes = {g: i for i, g in enumerate(sorted(groups.unique()))}
    df = pd.DataFrame({"y": frame[target].to_numpy(), "g": groups.map(codes).to_numpy()})
    truth = BinaryLabelDataset(
        df=df,
        label_names=["y"],
        protected_attribute_names=["g"],
        favorable_label=fav,
        unfavorable_label=1 - fav,
    )
    ref = entry["reference_group"]
    pairs: list[tuple[Any, float]] = []
    for g, row in entry["vs_reference"].items():
        kw = {"unprivileged_groups": [{"g": codes[g]}], "privileged_groups": [{"g": codes[ref]}]}
        if pred is None:
            m = BinaryLabelDatasetMetric(truth, **kw)
            pairs += [
                (row["disparate_impact"], m.disparate_impact()),
                (row["statistical_parity_difference"], m.statistical_parity_difference()),
            ]
            continue
        predicted = truth.copy(deepcopy=True)
        predicted.labels = pred.reshape(-1, 1).astype(float)
        m = ClassificationMetric(truth, predicted, **kw)
        s = entry["groups"][g]
        pairs += [
            (row["disparate_impact"], m.disparate_impact()),
            (row["statistical_parity_difference"], m.statistical_parity_difference()),
            (row["equal_opportunity_difference"], m.equal_opportunity_difference()),
            (row["average_odds_difference"], m.average_odds_difference()),
            (row["average_abs_odds_difference"], m.average_abs_odds_difference()),
            (s["true_positive_rate"], m.true_positive_rate(privileged=False)),
            (s["false_positive_rate"], m.false_positive_rate(privileged=False)),
        ]
    return pairs


def _fairlearn(frame: pd.DataFrame, case: Case, entry: dict[str, Any]) -> tuple[list, int]:
    _, _, target, column, fav, _, pred = case
    groups = pd.Series(_group_names(frame[column]), index=frame.index)
    y = (frame[target] == fav).astype(int)
    basis = y if pred is None else pd.Series((pred == fav).astype(int), index=frame.index)
    mf = MetricFrame(
        metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=basis,
        sensitive_features=groups,
    )
    pairs, zero_for_undefined = [], 0
    for g, r in mf.by_group.iterrows():
        s = entry["groups"][str(g)]
        pairs.append((s["selection_rate"], r["sr"]))
        if pred is not None:
            for rate, col in (("true_positive_rate", "tpr"), ("false_positive_rate", "fpr")):
                if s[rate] is None:
                    zero_for_undefined += int(r[col] == 0.0)
                else:
                    pairs.append((s[rate], r[col]))
    keep = groups.isin(entry["worst_case"]["groups"])
    w = entry["worst_case"]
    yk, bk, gk = y[keep], basis[keep], groups[keep]
    pairs += [
        (
            w["disparate_impact_min_over_max"],
            demographic_parity_ratio(yk, bk, sensitive_features=gk),
        ),
        (
            w["statistical_parity_max_minus_min"],
            demographic_parity_difference(yk, bk, sensitive_features=gk),
        ),
    ]
    if pred is not None:
        pairs.append(
            (
                w["equalized_odds_max_difference"],
                equalized_odds_difference(yk, bk, sensitive_features=gk),
            )
        )
    return pairs, zero_for_undefined


def _group_names(s: pd.Series) -> list[str]:
    if pd.api.types.is_float_dtype(s) and (s.dropna() % 1 == 0).all():
        s = s.astype("Int64")
    return s.astype(str).tolist()


def _max_diff(pairs: list[tuple[Any, float]]) -> tuple[float, int]:
    diffs = []
    for ours, theirs in pairs:
        if theirs is None or np.isnan(theirs):
            assert ours is None, (ours, theirs)
            continue
        diffs.append(abs(float(ours) - float(theirs)))
    return max(diffs, default=0.0), len(diffs)


def main() -> None:
    rows, worst_aif, worst_fl, figures, zeros = [], 0.0, 0.0, 0, 0
    t_ours = t_aif = t_fl = 0.0
    for case in _cases():
        name, frame, target, column, _fav, hints, pred = case
        report, dt = _timed(
            lambda f=frame, t=target, c=column, h=hints, p=pred: fairness_report(
                f, t, "classification", [c], y_pred=p, **h
            )
        )
        entry = report["attributes"][column]
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")
            aif, da = _timed(lambda f=frame, c=case, e=entry: _aif360(f, c, e))
            (fl, zero), df = _timed(lambda f=frame, c=case, e=entry: _fairlearn(f, c, e))
        d_aif, n_aif = _max_diff(aif)
        d_fl, n_fl = _max_diff(fl)
        worst_aif, worst_fl = max(worst_aif, d_aif), max(worst_fl, d_fl)
        figures += n_aif + n_fl
        zeros += zero
        t_ours, t_aif, t_fl = t_ours + dt, t_aif + da, t_fl + df
        rows.append((name, len(frame), n_aif, d_aif, n_fl, d_fl, zero, len(entry["flags"])))
    head = f"{'case':26} {'rows':>5} {'aif360 n':>8} {'max |d|':>9} {'fairlearn n':>11} "
    print(head + f"{'max |d|':>9} {'0.0 for undef':>13} {'flags':>5}")
    for name, n, na, da_, nf, df_, z, fl_ in rows:
        print(f"{name:26} {n:5d} {na:8d} {da_:9.1e} {nf:11d} {df_:9.1e} {z:13d} {fl_:5d}")
    print(
        f"\nwall time: Millrace {t_ours:.3f} s, AIF360 {t_aif:.3f} s "
        f"({t_aif / t_ours:.2f}x), Fairlearn {t_fl:.3f} s ({t_fl / t_ours:.2f}x)"
    )
    print(
        json.dumps(
            {
                "cases": len(rows),
                "figures_compared": figures,
                "max_abs_diff_aif360": worst_aif,
                "max_abs_diff_fairlearn": worst_fl,
                "fairlearn_zero_for_undefined_rates": zeros,
                "aif360_time_ratio": round(t_aif / t_ours, 3),
                "fairlearn_time_ratio": round(t_fl / t_ours, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
