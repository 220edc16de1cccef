"""How candidates are scored: the same validation and test windows for every candidate,
metrics on the original scale per series, and the choice made on validation alone.

With several series (targets, or a panel's ids) each is scored on its own and the
selection score is the mean of the per-series weighted scores, so a candidate must do well
on all of them rather than on the one with the largest values.

With ``folds`` > 1 the choice also rests on backtest folds: earlier windows of the
validation window's length, each scored on a fresh fit of the candidate on the rows before
it. One validation window can be an unusual stretch (on an LTE station, six steps of one
traffic burst decided it); several make the choice sturdier. The test window is never one.

A series' windows are combined by their median, not their mean: the earliest fold's fit
sees the fewest rows, and on an LTE station it met a burst of spikes twice as tall as any
before it, where the windowed models scored 1.7x persistence's RMSE while ranking first on
the other windows. With three windows the median is the typical one, so that single
window cannot decide; with one or two it is the mean.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.base import Forecaster, SeriesArrays
from millrace.ml.forecasting.intervals import scale_of as mase_scale
from millrace.ml.forecasting.metrics import forecast_metrics, weighted_scores

__all__ = [
    "SELECT_ON",
    "Preds",
    "Windows",
    "backtest",
    "choose",
    "cv_scores",
    "cv_series_scores",
    "ensemble_members",
    "fold_splits",
    "honest_selection",
    "mase_scale",
    "mean_forecast",
    "nested_ensemble",
    "pick",
    "selection_scores",
    "series_scores",
]


def _origins(start: int, end: int, h: int, most: int) -> np.ndarray:
    last = end - h
    if last < start:
        raise InvalidInputError("the evaluation window is shorter than the horizon")
    return np.unique(np.linspace(start, last, num=min(most, last - start + 1)).astype(int))


# Per series: forecasts for the validation window, the test window, then each earlier
# backtest fold's validation window (made by the candidate refitted on what precedes it).
Preds = list[tuple[np.ndarray, ...]]


def _label(s: SeriesArrays) -> str:
    return f"{s.key}/{s.target}" if s.key else s.target


def fold_splits(units: list[SeriesArrays], folds: int, need: int) -> list[list[SeriesArrays]]:
    """Backtest folds before the validation window: fold ``f`` holds out the validation
    window's length ending where fold ``f - 1`` starts, and trains on what precedes it.
    Folds stop when a series would keep fewer than ``need`` training rows."""
    out: list[list[SeriesArrays]] = []
    for f in range(1, folds):
        fold = []
        for u in units:
            length = u.val_end - u.train_end
            end = u.train_end - (f - 1) * length
            if end - length < max(need, length):
                return out
            fold.append(dataclasses.replace(u, train_end=end - length, val_end=end))
        out.append(fold)
    return out


def backtest(
    make: Callable[[], Forecaster],
    folds: list[list[SeriesArrays]],
    h: int,
    most: int,
    seed: int = 0,
    budget_s: float | None = None,
) -> tuple[dict[str, np.ndarray], list[Forecaster]]:
    """A fresh model fitted on each fold's training rows and its forecasts over that fold's
    window, keyed ``fold<f>_<series index>``: what ``Windows`` scores for the fold; and the
    fitted models. Fold 0 is the validation window; 1, 2, ... the earlier ones
    ``fold_splits`` makes."""
    out, models = {}, []
    for f, fold in enumerate(folds):
        model = make()
        model.fit(fold, seed=seed, budget_s=budget_s)
        models.append(model)
        for i, u in enumerate(fold):
            origins = _origins(u.train_end, u.val_end, h, most)
            out[f"fold{f}_{i}"] = np.concatenate([model.forecast(u, int(o), h) for o in origins])
    return out, models


class Windows:
    """The validation, test and backtest windows of every series, their actuals and MASE
    scales: every candidate is scored on exactly these."""

    def __init__(
        self,
        units: list[SeriesArrays],
        h: int,
        most: int,
        folds: list[list[SeriesArrays]] | None = None,
        metric: str = "weighted",
    ) -> None:
        self.units, self.h, self.folds, self.metric = units, h, folds or [], metric
        # Per series, per window (validation, test, then each fold): where it starts and
        # ends, and where the rows its forecaster was fitted on end (MASE's scale).
        spans = [
            [(u.train_end, u.val_end, u.train_end), (u.val_end, len(u.y), u.val_end)]
            + [(f[i].train_end, f[i].val_end, f[i].train_end) for f in self.folds]
            for i, u in enumerate(units)
        ]
        self.origins = [[_origins(a, b, h, most) for a, b, _ in windows] for windows in spans]
        self.actual = [
            [np.concatenate([u.y[o : o + h] for o in part]) for part in origins]
            for u, origins in zip(units, self.origins, strict=True)
        ]
        self.scale = [
            [mase_scale(u.y[:fitted], u.season) for _, _, fitted in windows]
            for u, windows in zip(units, spans, strict=True)
        ]

    @property
    def parts(self) -> tuple[str, ...]:
        return ("validation", "test", *(f"fold{f}" for f in range(1, len(self.folds) + 1)))

    def forecasts(self, model: Forecaster, backtests: dict[str, np.ndarray] | None = None) -> Preds:
        """Forecasts over every window. The test window's come from ``model``, fitted on
        every row before it; the validation window's and the earlier folds' from
        ``backtests``, which ``backtest`` made when the candidate was trained, each by a
        model fitted only on the rows before that window."""
        backtests = backtests or {}
        keys = [
            [f"fold{f}_{i}" for f in range(len(self.folds) + 1)] for i in range(len(self.units))
        ]
        if any(k not in backtests for row in keys for k in row):
            raise InvalidInputError(
                f"{model.name} was trained without the {len(self.folds) + 1} fold(s) "
                "this evaluation scores; train it again with the same config"
            )
        return [
            (
                backtests[row[0]],
                np.concatenate([model.forecast(u, int(o), self.h) for o in origins[1]]),
                *(backtests[k] for k in row[1:]),
            )
            for u, origins, row in zip(self.units, self.origins, keys, strict=True)
        ]

    def metrics(self, preds: Preds) -> list[dict[str, dict[str, float]]]:
        """Per series: metrics on the original scale for each window."""
        return [
            {
                part: forecast_metrics(actual[i], pred[i], scale[i])
                for i, part in enumerate(self.parts)
            }
            for actual, pred, scale in zip(self.actual, preds, self.scale, strict=True)
        ]

    @property
    def cv_parts(self) -> list[str]:
        """The cross-validation windows, latest first: validation, fold1, fold2, ..."""
        return [p for p in self.parts if p != "test"]

    def validation(
        self, preds: Preds, parts: Sequence[int] | None = None
    ) -> list[list[dict[str, float]]]:
        """What selection may look at: per series, the metrics of the CV windows (all, or
        those at ``parts`` in ``cv_parts``). Never the test window's."""
        names = self.cv_parts if parts is None else [self.cv_parts[j] for j in parts]
        return [[m[p] for p in names] for m in self.metrics(preds)]

    def scaled_errors(self, preds: Preds) -> np.ndarray:
        """|actual - forecast| / MASE scale over every CV window's origins, (origins, h):
        what the prediction intervals are calibrated on (``ml.forecasting.intervals``)."""
        rows = []
        for actual, pred, scale in zip(self.actual, preds, self.scale, strict=True):
            for k, part in enumerate(self.parts):
                if part != "test":
                    err = np.abs(actual[k] - pred[k]).reshape(-1, self.h) / scale[k]
                    rows.append(err)
        return np.concatenate(rows) if rows else np.empty((0, self.h))

    def backtest_errors(self, backtests: dict[str, np.ndarray]) -> np.ndarray:
        """``scaled_errors`` of a candidate's own backtests, before any evaluation: what
        the train step calibrates the candidate's intervals on."""
        rows = []
        for i, (actual, scale) in enumerate(zip(self.actual, self.scale, strict=True)):
            for j, part in enumerate(self.cv_parts):
                k = self.parts.index(part)
                err = np.abs(actual[k] - backtests[f"fold{j}_{i}"]) / scale[k]
                rows.append(err.reshape(-1, self.h))
        return np.concatenate(rows) if rows else np.empty((0, self.h))

    def scored(self, preds: Preds, uri: str) -> dict[str, Any]:
        """Metrics averaged over the series (each series' own, when there are several)."""
        per_series = self.metrics(preds)
        out: dict[str, Any] = {
            part: {m: float(np.mean([s[part][m] for s in per_series])) for m in per_series[0][part]}
            for part in self.parts
        }
        if self.folds:
            out["backtest"] = {p: out.pop(p) for p in self.parts[2:]}
        if len(per_series) > 1:
            out["series"] = {_label(u): m for u, m in zip(self.units, per_series, strict=True)}
        return {**out, "model_uri": uri}


SELECT_ON = ("weighted", "mase")


def series_scores(
    validation: dict[str, list[list[dict[str, float]]]], metric: str = "weighted"
) -> dict[str, np.ndarray]:
    """Per candidate, one score per series: per window seed 000's weighted score
    (normalised there, so scales compare) or MASE (scale-free already), and per series the
    median over its windows, so one unusual window cannot decide.

    The weighted score divides each candidate's errors by the best candidate's on that
    window. Over many series that ratio is heavy-tailed (where one candidate happens to hit
    a short series almost exactly, every other one scores tens of times worse, its MSE
    ratio hundreds), so a panel is chosen on MASE (``PreprocessConfig.select_on``)."""
    names = list(validation)
    per_series = []
    for i, windows in enumerate(validation[names[0]]):
        if metric == "mase":
            scored = [{c: validation[c][i][w]["mase"] for c in names} for w in range(len(windows))]
        else:
            scored = [
                weighted_scores({c: validation[c][i][w] for c in names})
                for w in range(len(windows))
            ]
        per_series.append({c: float(np.median([s[c] for s in scored])) for c in names})
    return {c: np.array([s[c] for s in per_series]) for c in names}


def selection_scores(
    validation: dict[str, list[list[dict[str, float]]]], metric: str = "weighted"
) -> dict[str, float]:
    """The mean over the series of ``series_scores``: a candidate must do well on every
    series, not only on the one with the largest values."""
    return {c: float(np.mean(v)) for c, v in series_scores(validation, metric).items()}


def cv_series_scores(
    windows: Windows, preds: dict[str, Preds], parts: Sequence[int] | None = None
) -> dict[str, np.ndarray]:
    """``series_scores`` on the CV windows (all, or those at ``parts``)."""
    validation = {n: windows.validation(p, parts) for n, p in preds.items()}
    return series_scores(validation, windows.metric)


def choose(
    windows: Windows,
    preds: dict[str, Preds],
    prefer: Sequence[str] = (),
    parts: Sequence[int] | None = None,
) -> str:
    """The champion on the CV windows (all, or those at ``parts``): ``pick`` on their
    per-series scores."""
    return pick(cv_series_scores(windows, preds, parts), prefer)


def pick(per_series: dict[str, np.ndarray], prefer: Sequence[str] = ()) -> str:
    """The best mean score, unless the best of ``prefer`` (the fixed combinations) trails
    it by no more than one standard error of their paired per-series differences, and
    then that combination.

    Why: with few CV windows the best single model often wins by noise. On M3's monthly
    panel (one window per series) dynamic Theta beat the mean of ETS, ARIMA, Theta and
    dynamic Theta by 0.05% of MASE, then lost to it on test (0.850 against 0.827). A
    fixed combination's CV score is as honest as a single model's (nothing about it is
    chosen) and its error varies less from window to window, so a tie goes to it: the
    one-standard-error rule of cross-validation, pointed at the combination rather than
    the simplest model.
    With one series there is no spread to judge by, and the best score wins."""
    means = {c: float(np.mean(v)) for c, v in per_series.items()}
    best = min(means, key=means.__getitem__)
    combos = [c for c in prefer if c in per_series]
    if best in combos or not combos or len(per_series[best]) < 2:
        return best
    combo = min(combos, key=means.__getitem__)
    diff = per_series[combo] - per_series[best]
    if not np.all(np.isfinite(diff)):
        return best
    se = float(np.std(diff, ddof=1) / np.sqrt(len(diff)))
    return combo if float(diff.mean()) <= se else best


def mean_forecast(preds: dict[str, Preds], members: list[str]) -> Preds:
    first = preds[members[0]]
    return [
        tuple(np.mean([preds[m][i][part] for m in members], axis=0) for part in range(len(row)))
        for i, row in enumerate(first)
    ]


def cv_scores(
    windows: Windows, preds: dict[str, Preds], parts: Sequence[int] | None = None
) -> dict[str, float]:
    """The mean over the series of ``cv_series_scores``, as ``selection_scores``."""
    return {c: float(np.mean(v)) for c, v in cv_series_scores(windows, preds, parts).items()}


def ensemble_members(
    windows: Windows, preds: dict[str, Preds], most: int = 4, parts: Sequence[int] | None = None
) -> list[str]:
    """The best k candidates (2 <= k <= ``most``) whose mean scores best on the CV
    windows at ``parts`` (all by default)."""
    scores = cv_scores(windows, preds, parts)
    ranked = sorted(scores, key=scores.__getitem__)
    tried = {
        str(k): windows.validation(mean_forecast(preds, ranked[:k]), parts)
        for k in range(2, min(most, len(ranked)) + 1)
    }
    if not tried:
        return []
    by_k = selection_scores(tried, windows.metric)
    return ranked[: int(min(by_k, key=by_k.__getitem__))]


def _part_index(windows: Windows, j: int) -> int:
    """Where CV window ``j`` sits in a series' ``Preds`` tuple (test is index 1)."""
    return windows.parts.index(windows.cv_parts[j])


def nested_ensemble(
    windows: Windows, preds: dict[str, Preds], most: int = 4
) -> tuple[list[str], Preds] | None:
    """The top-k mean, scored honestly: on each CV window, the members are the ones chosen
    on the other windows, so its CV score is out-of-fold like every trained candidate's
    (choosing and scoring on the same windows flattered it: it won validation on 13 of 21
    series and was best on test on one). The test window's forecast comes from the
    members chosen on every CV window. None with a single CV window: there is nothing to
    choose on that the choice is not scored on."""
    k = len(windows.cv_parts)
    members = ensemble_members(windows, preds, most)
    if k < 2 or not members:
        return None
    out = [list(row) for row in mean_forecast(preds, members)]
    for j in range(k):
        chosen = ensemble_members(windows, preds, most, [c for c in range(k) if c != j])
        part = _part_index(windows, j)
        for row, mean in zip(out, mean_forecast(preds, chosen or members), strict=True):
            row[part] = mean[part]
    return members, [tuple(row) for row in out]


def honest_selection(
    windows: Windows, preds: dict[str, Preds], prefer: Sequence[str] = ()
) -> dict[str, Any] | None:
    """What choosing the champion is worth on windows it was not chosen on: for each CV
    window, the candidate the other windows pick, scored there. The mean of those scores is
    what to expect from the procedure (the champion's own CV score is flattered by having
    been picked as the best of several). The same rule picks as for the champion
    (``choose``). None with a single CV window."""
    k = len(windows.cv_parts)
    if k < 2:
        return None
    picks, metrics = [], []
    for j in range(k):
        pick = choose(windows, preds, prefer, [c for c in range(k) if c != j])
        picks.append(pick)
        per_series = windows.validation(preds[pick], [j])
        metrics.append({m: float(np.mean([s[0][m] for s in per_series])) for m in per_series[0][0]})
    return {
        "picks": picks,
        **{m: float(np.mean([x[m] for x in metrics])) for m in ("mase", "smape", "rmse", "mae")},
    }
