"""The champion/challenger rule on its own: which score, which data, and the wording."""

from __future__ import annotations

import pandas as pd

from millrace.ml.gate import Scores, held_out_fingerprint, judge


def _cls(version: str, accuracy: float, roc_auc: float, test_set: str | None = "a") -> Scores:
    return Scores(version, {"accuracy": accuracy, "roc_auc": roc_auc}, "roc_auc", test_set)


def test_the_first_version_is_promoted() -> None:
    verdict = judge(_cls("1", 0.9, 0.95), None)
    assert verdict.promoted and verdict.basis == "no champion"


def test_worse_on_the_chosen_metric_is_the_challenger() -> None:
    # The issue's case: breast-cancer v2 at test accuracy 0.939 against v1's 0.956.
    new, live = (
        Scores("2", {"accuracy": 0.939}, "accuracy", "x"),
        Scores("1", {"accuracy": 0.956}, "accuracy", "y"),
    )
    verdict = judge(new, live)
    assert not verdict.promoted
    assert verdict.reason == (
        "v2 not promoted, kept as challenger: it does not beat the champion (test accuracy "
        "0.939 vs champion v1's 0.956, each on its own test rows (the data or split differ); "
        "higher is better)"
    )
    assert verdict.basis == "own test scores"


def test_the_new_versions_own_metric_decides_and_lower_can_be_better() -> None:
    # Better ROC AUC (what it optimised) but worse accuracy: promoted on ROC AUC.
    assert judge(_cls("2", 0.90, 0.97), _cls("1", 0.93, 0.96)).promoted
    loss = judge(
        Scores("2", {"log_loss": 0.30}, "log_loss", "a"),
        Scores("1", {"log_loss": 0.25}, "log_loss", "a"),
    )
    assert not loss.promoted and loss.basis == "same held-out data"
    assert "lower is better" in loss.reason and "on the same held-out rows" in loss.reason


def test_a_tie_does_not_move_the_champion() -> None:
    assert not judge(_cls("2", 0.9, 0.95), _cls("1", 0.9, 0.95)).promoted


def test_a_metric_the_champion_lacks_falls_back_to_a_shared_one() -> None:
    new = Scores("2", {"mase": 0.8, "smape": 9.0}, "weighted")
    live = Scores("1", {"mase": 0.9}, None)
    verdict = judge(new, live)
    assert verdict.promoted and verdict.metric == "mase"


def test_nothing_in_common_or_the_gate_off_promotes_and_says_so() -> None:
    verdict = judge(Scores("2", {"r2": 0.5}), Scores("1", {"mase": 1.0}))
    assert verdict.promoted and verdict.basis == "not comparable"
    assert "cannot be compared" in verdict.reason
    nan = judge(Scores("2", {"r2": 0.5}), Scores("1", {"r2": float("nan")}))
    assert nan.basis == "not comparable"
    off = judge(_cls("2", 0.1, 0.1), _cls("1", 0.9, 0.9), enabled=False)
    assert off.promoted and off.basis == "gate off"


def test_the_fingerprint_follows_the_rows_values_not_their_index() -> None:
    rows = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    same = rows.set_axis([10, 11, 12])
    assert held_out_fingerprint(rows) == held_out_fingerprint(same)
    assert held_out_fingerprint(rows) != held_out_fingerprint(rows.assign(b=["x", "y", "Z"]))
    assert held_out_fingerprint(rows) != held_out_fingerprint(rows.iloc[::-1])
    assert held_out_fingerprint(rows) != held_out_fingerprint(rows.rename(columns={"b": "c"}))
