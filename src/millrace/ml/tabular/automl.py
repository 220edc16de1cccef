"""Tabular AutoML with FLAML under a wall-time budget, scored honestly, served refit.

The order of work, and why:

1. A stratified 20% test split is carved off first and used once, for the reported scores.
2. FLAML searches its full default estimator list on the other 80%, optimising log-loss
   or R2 (or the user's metric), cross-validating when the data is small (FLAML's rule).
   It gets the budget less a reserve for what follows; no trial may train longer than
   that reserve allows, so whatever wins can be fitted on all rows in time.
3. When time is left, the best configuration of each estimator predicts the rows it was
   not fitted on, and a weighted average of them is kept if it beats the single best on
   those same rows (``ensemble.py``).
4. The choice is fitted on the 80% and scored on the 20%.
5. It is fitted again on all rows, train and test: that is the model that is returned,
   registered and served, and ``best_config["refit_on_all_rows"]`` says so.

Every step after the search knows its expected cost (from the search's own trial times)
and falls back rather than overrun: no time to fit on the 80% and again on all rows means
the test rows judge the winning trial's model; no time even for the last fit means that
trial's model is served, and ``refit_on_all_rows`` is false. The call aims to return 3%
before the budget (the caller still stores the model); the 10% the platform allows on top
is headroom for a loaded machine.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from millrace.exceptions import InvalidInputError
from millrace.ml.tabular.encoding import FeatureEncoder
from millrace.ml.tabular.ensemble import Candidate, Ensemble, select
from millrace.ml.tabular.refit import Refit, fit_config, servable
from millrace.ml.tabular.scoring import choose_metric, from_loss, test_scores
from millrace.ml.tabular.search import (
    CV_FOLDS,
    candidates,
    eval_method,
    flaml_task,
    load_flaml,
    run_search,
    searched,
    threads,
)

__all__ = ["REFIT_SHARE", "TrainedModel", "searched_estimators", "train_tabular"]

log = logging.getLogger("millrace.ml.tabular.automl")

REFIT_SHARE = 0.2  # of the budget, kept back for the refits and scoring (half after CV)
ENSEMBLE_SHARE = 0.05  # of the budget, kept back for the ensemble's out-of-fold fits
MIN_RESERVE_S = 1.0
MIN_SEARCH_S = 1.0
MAX_MEMBERS = 6  # ensemble candidates: the best configuration of each estimator
ALL_ROWS = 1.25  # a fit on all rows costs this many fits on the 80%
SCORING_S = 0.3  # predicting the test rows and building the result
# The call returns this much of the budget early: the caller still packages, scores
# fairness on and stores the model, and the platform's 10% on top is for a loaded machine.
HANDOFF_SHARE = 0.03

searched_estimators = searched


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
    refit_on_all_rows: bool = True
    training_rows: int = 0
    searched: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    library_warnings: dict[str, int] = field(default_factory=dict)
    # What the scored model (never fitted on them) predicted for the test rows, encoded:
    # the served model has seen those rows, so judgements of the test split use these.
    test_predictions: list[Any] = field(default_factory=list)

    @property
    def headline(self) -> float:
        return self.test_scores["accuracy" if self.encoder.task == "classification" else "r2"]

    @property
    def scoring_note(self) -> str:
        """What the test scores judge and what is served, for the model's report: the two
        are different models, and a reader comparing them must know it."""
        tested = len(self.test_index)
        scored = (
            "fitted on the other 80% of the rows"
            if self.best_config.get("scored_model_fitted_on_80pct", True)
            else "the search's own trial model, fitted on part of the other 80%"
        )
        served = (
            f"then refitted on all {self.training_rows} rows (test rows included): "
            "that refit is the model registered and served"
            if self.refit_on_all_rows
            else "not refitted: no time was left, so the served model is the search's "
            f"trial model ({self.training_rows} rows)"
        )
        return (
            f"Test scores are on a held-out 20% ({tested} rows) never used in the search; "
            f"the {self.algorithm} scored there was {scored}. The configuration was {served}."
        )


def train_tabular(
    frame: pd.DataFrame,
    target: str,
    task: str,
    budget_s: float,
    seed: int = 0,
    metric: str | None = None,
    ensemble: bool = True,
    estimators: list[str] | None = None,
) -> TrainedModel:
    """Search, score on a held-out 20%, refit on all rows, within ``budget_s``.

    ``metric`` is a FLAML metric name (the journey's hint); None optimises log-loss for
    labels and R2 for numbers. ``estimators`` narrows FLAML's default list (tests, or a
    user who wants one model family); an ensemble can be switched off for the same reasons.

    The libraries warn a lot while a search tries bad configurations (convergence,
    probabilities of a diverging SGD). Those warnings are recorded, counted and returned
    in ``library_warnings`` rather than printed or, under a strict filter, raised out of
    a trial. The filter is process-wide while this runs, as ``warnings`` has no other kind.
    """
    started = time.monotonic()  # FLAML's first import (with MLflow's) takes seconds too
    load_flaml()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        trained = _train(
            frame, target, task, (started, budget_s), seed, metric, ensemble, estimators
        )
    counts = Counter(f"{w.category.__name__}: {str(w.message)[:160]}" for w in caught)
    trained.library_warnings = dict(counts.most_common(20))
    if counts:
        log.debug("%d library warnings while training: %s", len(caught), counts.most_common(3))
    return trained


def _train(
    frame: pd.DataFrame,
    target: str,
    task: str,
    budget: tuple[float, float],
    seed: int,
    metric: str | None,
    ensemble: bool,
    estimators: list[str] | None,
) -> TrainedModel:
    started, budget_s = budget
    deadline = started + budget_s * (1 - HANDOFF_SHARE)
    data = frame[frame[target].notna()].reset_index(drop=True)
    encoder = FeatureEncoder.fit(data, target, task)
    x = encoder.transform(data)
    y = encoder.encode_target(data[target])
    kind = flaml_task(task, y)
    chosen = choose_metric(kind, metric)
    stratify = y if task == "classification" and np.bincount(y).min() >= 2 else None
    idx_train, idx_test = train_test_split(
        np.arange(len(data)), test_size=0.2, random_state=seed, stratify=stratify
    )
    x_train, y_train = x.iloc[idx_train].reset_index(drop=True), y[idx_train]
    x_test, y_test = x.iloc[idx_test].reset_index(drop=True), y[idx_test]
    estimators = list(estimators) if estimators else searched(kind)
    clock = _Clock(started)
    jobs = threads(x_train.shape)

    # Cross-validated winners refit in a fraction of their trial; holdout ones do not.
    evaluation = eval_method(x_train.shape, budget_s * (1 - REFIT_SHARE - ENSEMBLE_SHARE))
    folds = CV_FOLDS if evaluation == "cv" else 1
    share = REFIT_SHARE if folds == 1 else REFIT_SHARE / 2
    reserve = max(MIN_RESERVE_S, share * budget_s)
    held = reserve + (ENSEMBLE_SHARE * budget_s if ensemble else 0.0)
    search_s = max(MIN_SEARCH_S, deadline - held - time.monotonic())
    # The winner's fit on all rows must fit in the reserve (a cross-validated trial is
    # CV_FOLDS smaller fits); when the fit on the 80% does not fit as well, the test rows
    # judge the trial's own model instead.
    trial_limit = reserve / ALL_ROWS * (CV_FOLDS if folds > 1 else 1)
    automl, board = run_search(
        x_train,
        y_train,
        kind=kind,
        metric=chosen,
        estimators=estimators,
        search_s=search_s,
        evaluation=evaluation,
        trial_limit_s=trial_limit,
        seed=seed,
        n_jobs=jobs,
    )
    clock.lap("search")

    pool = candidates(automl, board, len(x_train), folds)
    if not pool:
        raise InvalidInputError(
            f"no model could be fitted in {budget_s:g} s ({len(board)} trials all failed); "
            "give the journey a larger time budget"
        )
    best, blend = pool[0], None
    if ensemble and len(pool) > 1:
        members = pool[:MAX_MEMBERS]
        refits = (1 + ALL_ROWS) * sum(c.fit_seconds for c in members)
        until = deadline - max(reserve, refits)
        blend = select(members, x_train, y_train, kind, chosen, folds, until, seed, jobs)
    clock.lap("ensemble")

    cost = (1 + ALL_ROWS) * sum(m.fit_seconds for m in blend.members) if blend else 0.0
    if blend is not None and cost > deadline - time.monotonic():
        log.info("ensemble dropped: its refits need ~%.1fs", cost)
        blend = None
    scored, fitted_80 = _fit_for_test(automl, best, blend, (x_train, y_train), kind, deadline, jobs)
    pred, proba = _predict(scored, x_test, task)
    scores = test_scores(task, y_test, pred, proba, chosen)
    clock.lap("fit_and_score_80pct")

    sample = int(board[0].get("sample_size") or len(x_train)) if board else len(x_train)
    trial_rows = sample * (folds - 1) // folds if folds > 1 else sample
    final = _fit_all_rows(automl, best, blend, (x, y), (x_train, trial_rows), kind, deadline, jobs)
    clock.lap("refit_all_rows")
    algorithm = blend.name if blend else best.name
    refit_all = final.rows == len(x)
    return TrainedModel(
        estimator=final.estimator,
        encoder=encoder,
        algorithm=algorithm,
        metric=chosen,
        leaderboard=board,
        validation_score=blend.validation_score if blend else from_loss(chosen, best.loss),
        test_scores=scores,
        best_config=_plain(
            {
                **({"ensemble": blend.describe()} if blend else best.config),
                "estimator": algorithm,
                "eval_method": evaluation,
                "refit_on_all_rows": refit_all,
                "scored_model_fitted_on_80pct": fitted_80,
                "training_rows": final.rows,
                "refit_truncated": final.truncated,
            }
        ),
        train_seconds=round(time.monotonic() - started, 3),
        test_index=idx_test.tolist(),
        test_predictions=pred.tolist(),
        refit_on_all_rows=refit_all,
        training_rows=final.rows,
        searched=estimators,
        timings=clock.laps,
    )


def _fit_for_test(
    automl: Any,
    best: Candidate,
    blend: Ensemble | None,
    data: tuple[pd.DataFrame, np.ndarray],
    kind: str,
    refit_by: float,
    jobs: int,
) -> tuple[Any, bool]:
    """The model the test rows judge, and whether it was fitted on all of the 80%.

    Never fitted on test rows. If fitting it here and again on all rows would not both
    fit, the winning trial's model (fitted on part of the 80%) is judged instead.
    """
    x, y = data
    left = refit_by - time.monotonic()
    if blend is not None:
        share = 1 / (1 + ALL_ROWS)
        return blend.fit(x, y, kind, left * share, jobs).estimator, True
    if best.fit_seconds * (1 + ALL_ROWS) > left - SCORING_S:
        log.info("scoring the trial model: %.1fs left, a fit needs ~%.1fs", left, best.fit_seconds)
        return automl, False
    budget = left - best.fit_seconds * ALL_ROWS - SCORING_S
    return fit_config(best.name, best.config, kind, x, y, budget, jobs).estimator, True


def _fit_all_rows(
    automl: Any,
    best: Candidate,
    blend: Ensemble | None,
    data: tuple[pd.DataFrame, np.ndarray],
    trial: tuple[pd.DataFrame, int],
    kind: str,
    refit_by: float,
    jobs: int,
) -> Refit:
    """The model to serve: fitted on every row, or the trial's model if that cannot be
    done in time (a fit cut short would serve a weaker model than the one scored)."""
    x, y = data
    left = refit_by - time.monotonic() - SCORING_S
    if blend is not None:
        return blend.fit(x, y, kind, max(left, 0.1), jobs)
    if best.fit_seconds * ALL_ROWS > left:
        log.info("serving the trial model: %.1fs left, a fit needs ~%.1fs", left, best.fit_seconds)
        x_train, rows = trial
        return Refit(servable(best.name, automl.model, x_train), 0.0, rows, False)
    return fit_config(best.name, best.config, kind, x, y, max(left, 0.1), jobs)


def _predict(model: Any, x: pd.DataFrame, task: str) -> tuple[np.ndarray, np.ndarray | None]:
    pred = np.asarray(model.predict(x))
    if task == "classification" and hasattr(model, "predict_proba"):
        return pred.astype(int), np.asarray(model.predict_proba(x), dtype=float)
    return pred, None


def _plain(value: Any) -> Any:
    """Python scalars for numpy ones (FLAML's configs hold ``np.float64``, ``np.str_``), so
    the metadata goes through ``json.dumps`` as the registry and MLflow need."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


class _Clock:
    """Seconds per step since the last lap, for the model's metadata and the benchmark."""

    def __init__(self, started: float) -> None:
        self.laps = {"prepare": round(time.monotonic() - started, 3)}
        self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[name] = round(now - self._last, 3)
        self._last = now
