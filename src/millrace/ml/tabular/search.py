"""The FLAML search itself: which estimators, which validation, what it found.

Millrace lets FLAML do what it is good at (a cost-aware search over its whole default
estimator list, cross-validating small data) and takes back the two things FLAML does
not bound: its closing refit, and estimators whose models Millrace could not store.
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from millrace.ml.tabular.ensemble import Candidate
from millrace.ml.tabular.leaderboard import leaderboard
from millrace.ml.tabular.persist import TRUSTED_TYPES

__all__ = [
    "CV_FOLDS",
    "candidates",
    "eval_method",
    "flaml_task",
    "load_flaml",
    "run_search",
    "searched",
    "threads",
]

CV_FOLDS = 5  # FLAML's default
# Below this many cells (rows x columns) a second thread does not pay for itself.
PARALLEL_CELLS = 200_000
# Estimators whose fitted models need type names that only some installs trust. Each is
# searched only when ``persist.TRUSTED_TYPES`` holds all of them, so the model that wins
# can always be stored.
_NEEDS_TRUST = {
    "catboost": frozenset({"catboost.core.CatBoostClassifier", "catboost.core.CatBoostRegressor"})
}


def load_flaml() -> None:
    """Import FLAML now, outside any ``warnings.catch_warnings`` block: filters that its
    imports register (MLflow's among them) must outlive the block."""
    _search_only()


def threads(shape: tuple[int, int]) -> int:
    """Threads for every fit of one run: 1 unless the data is large and the machine idle.

    LightGBM and XGBoost parallelise with OpenMP, whose threads spin while they wait for
    each other; when other processes hold the cores, a two-thread fit of 178 rows took
    20 s here where one thread took 0.05 s (XGBoost, and the 1 797-row digits, alike), so
    a loaded machine would eat the budget in a handful of trials. One thread costs at most
    the parallel speed-up on large data, and only when the 1-minute load leaves a core free.
    """
    cpus = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # not on every platform
        load = float(cpus)
    if cpus < 2 or shape[0] * shape[1] < PARALLEL_CELLS or load > cpus - 1:
        return 1
    return -1


def flaml_task(task: str, y: np.ndarray) -> str:
    if task != "classification":
        return "regression"
    return "binary" if len(np.unique(y)) <= 2 else "multiclass"


def searched(kind: str) -> list[str]:
    """FLAML's own default list for the task, less those Millrace could not store."""
    from flaml.automl.task.factory import task_factory

    names = task_factory(kind).default_estimator_list("auto")
    return [n for n in names if _NEEDS_TRUST.get(n, frozenset()) <= TRUSTED_TYPES]


def eval_method(shape: tuple[int, int], search_s: float) -> str:
    """FLAML's own rule (``eval_method="auto"``), decided here so the refits know it:
    cross-validate when the search can afford it, i.e. fewer than 100 000 rows and
    rows x columns / 0.9 under 10 million cells per hour of budget; a holdout otherwise."""
    rows, cols = shape
    cv = rows * cols / 0.9 < 10_000_000 * search_s / 3600 and rows < 100_000
    return "cv" if cv else "holdout"


@cache
def _search_only() -> type:
    """FLAML's ``AutoML`` without its closing refit (FLAML is imported on first use: it
    pulls in MLflow, which is slow to import and registers warning filters of its own).

    After a cross-validated search FLAML always refits the winner on all the rows it was
    given, with no time limit (a CatBoost that never early-stopped ran 8192 rounds, minutes
    past a 10 s budget); ``retrain_full`` cannot turn that off. Millrace refits under its own
    deadline instead, so it clears FLAML's flag as the search starts. FLAML then keeps the
    winning trial's model, which the test rows can judge if no time is left to refit.
    """
    from flaml import AutoML

    class SearchOnly(AutoML):  # type: ignore[misc]
        def _search(self) -> None:
            self._state.retrain_final = False
            super()._search()

    return SearchOnly


def run_search(
    x: pd.DataFrame,
    y: np.ndarray,
    *,
    kind: str,
    metric: str,
    estimators: list[str],
    search_s: float,
    evaluation: str,
    trial_limit_s: float,
    seed: int,
    n_jobs: int = 1,
) -> tuple[Any, list[dict[str, Any]]]:
    """FLAML for ``search_s`` seconds, and every trial it ran, best first.

    The search starts from FLAML's data-dependent defaults (``starting_points="data"``,
    its zero-shot configurations learned offline, shipped in ``flaml.default``): on small
    budgets a few trials from good configurations beat many from FLAML's tiny initial ones.
    """
    automl = _search_only()()
    with tempfile.TemporaryDirectory() as tmp:
        log_file = Path(tmp) / "flaml.log"
        automl.fit(
            x,
            y,
            task=kind,
            metric=metric,
            time_budget=search_s,
            train_time_limit=trial_limit_s,
            estimator_list=estimators,
            eval_method=evaluation,
            n_splits=CV_FOLDS,
            retrain_full=False,
            seed=seed,
            log_file_name=str(log_file),
            log_type="all",
            verbose=0,
            n_jobs=n_jobs,
            starting_points="data",
        )
        board = leaderboard(log_file, metric)
    return automl, board


def candidates(automl: Any, board: list[dict[str, Any]], rows: int, folds: int) -> list[Candidate]:
    """Each estimator's best configuration, best first, with how long one fit of it on
    ``rows`` should take: its trial's time per fold, scaled from the rows that fold was
    fitted on (FLAML may also have tried it on a sample)."""
    out = []
    losses = automl.best_loss_per_estimator
    for name, config in automl.best_config_per_estimator.items():
        loss = losses.get(name)
        if loss is None or not np.isfinite(loss):
            continue
        # FLAML reports an empty best configuration (a zero-shot default that is the
        # learner's own) as None; a finite loss means the estimator did train.
        config = config or {}
        trial = next((r for r in board if r["estimator"] == name), None)
        seconds = float(trial["trial_seconds"]) / folds if trial else 1.0
        sample = int((trial or {}).get("sample_size") or rows)
        fitted_rows = sample * (folds - 1) / folds if folds > 1 else sample
        fit_s = seconds * rows / max(fitted_rows, 1.0)
        out.append(Candidate(name, dict(config), float(loss), fit_s))
    return sorted(out, key=lambda c: c.loss)
