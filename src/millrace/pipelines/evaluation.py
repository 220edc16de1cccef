"""The evaluate step: every candidate scored on the same windows, the fixed and chosen
combinations built beside them, the champion chosen on the CV windows and refitted on
every row for serving.

Kept apart from ``steps`` (which re-exports ``evaluate``) because choosing is a concept of
its own: what competes, on which windows, and what is refitted afterwards.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from millrace.atomic import replacing_dir, write_text
from millrace.ml.forecasting import intervals as intervals_file
from millrace.ml.forecasting.intervals import Intervals
from millrace.ml.forecasting.models import (
    MODELS,
    Ensemble,
    Forecaster,
    SeriesArrays,
    StatsMean,
    TrioMean,
    save_model,
)
from millrace.pipelines.artifacts import Evaluation, Prepared, Trained
from millrace.pipelines.scoring import (
    Preds,
    Windows,
    cv_series_scores,
    honest_selection,
    mean_forecast,
    nested_ensemble,
    pick,
)
from millrace.pipelines.steps import (
    _backtests,
    _folds,
    _log_model,
    _model,
    all_rows,
    load_model,
    refit_rows,
    series,
)

__all__ = ["COMBINATIONS", "evaluate"]


# Fixed combinations built from trained candidates when all their members trained: nothing
# about them is chosen, so their CV scores are as honest as a single model's. The plain
# mean of ETS, ARIMA and Theta is the standard hard-to-beat benchmark (M3, M4); adding
# dynamic Theta beat it on M3 (see models.StatsMean).
COMBINATIONS: dict[str, tuple[str, ...]] = {m.name: m.fixed_members for m in (TrioMean, StatsMean)}


def evaluate(
    prepared: Prepared,
    candidates: list[Trained],
    work: Path,
    tracking_uri: str | None = None,
) -> Evaluation:
    """Score every candidate on the same windows; choose on the CV windows, report test.

    Beside the trained candidates compete the fixed combinations (``COMBINATIONS``) and
    the top-k mean (``ensemble``, members chosen out of fold: ``nested_ensemble``); they
    are saved beside the evaluation. The champion is the best on the CV windows, or a
    fixed combination within one standard error of it (``scoring.pick``). It is then
    refitted on every row, test included (``final``): the model that is registered and
    served forecasts from the latest data. Its prediction intervals come from its CV
    errors (``intervals.json``).
    """
    units = series(prepared)
    cfg = prepared.config
    windows = Windows(
        units,
        cfg["horizon"],
        cfg["max_eval_windows"],
        _folds(prepared, units)[1:],
        metric=cfg.get("select_on") or ("mase" if prepared.series else "weighted"),
    )
    fit_units = refit_rows(units)
    results: dict[str, dict[str, Any]] = {}
    models: dict[str, Forecaster] = {}
    preds: dict[str, Preds] = {}
    for trained in candidates:
        model = models[trained.name] = load_model(prepared, trained, fit_units)
        preds[trained.name] = windows.forecasts(model, _backtests(trained))
        results[trained.name] = {
            **windows.scored(preds[trained.name], trained.uri),
            "train_seconds": trained.train_seconds,
            "mlflow_run_id": trained.summary.get("mlflow_run_id"),
        }
    out = work / "evaluations" / prepared.config_hash
    out.mkdir(parents=True, exist_ok=True)
    trained_preds = dict(preds)
    built: dict[str, tuple[Trained, list[str]]] = {}
    for combo, members in COMBINATIONS.items():
        if all(m in models for m in members):
            preds[combo] = mean_forecast(preds, list(members))
            errors = Intervals.from_residuals(windows.scaled_errors(preds[combo]), prepared.season)
            record = _save_combination(prepared, combo, models, list(members), out, errors)
            built[combo] = (record, [])
    nested = nested_ensemble(windows, trained_preds)
    if nested is not None:
        members, preds[Ensemble.name] = nested
        errors = Intervals.from_residuals(
            windows.scaled_errors(preds[Ensemble.name]), prepared.season
        )
        record = _save_combination(prepared, Ensemble.name, models, members, out, errors)
        built[Ensemble.name] = (record, members)
    for name, (record, _) in built.items():
        members = list(record.params["members"])
        results[name] = {
            **windows.scored(preds[name], record.uri),
            "train_seconds": round(sum(results[m]["train_seconds"] for m in members), 3),
            "members": members,
        }
    per_series = cv_series_scores(windows, preds)  # scored once: the scores and the pick
    scores = {name: float(np.mean(v)) for name, v in per_series.items()}
    for name, score in scores.items():
        results[name]["score"] = round(score, 6)
    best = min(scores, key=scores.__getitem__)
    champion = pick(per_series, prefer=list(COMBINATIONS))
    records = {**{t.name: t for t in candidates}, **{n: r for n, (r, _) in built.items()}}
    intervals = Intervals.from_residuals(windows.scaled_errors(preds[champion]), prepared.season)
    final = _refit_all_rows(prepared, records[champion], units, out / "final", intervals)
    if tracking_uri:
        results[champion]["mlflow_run_id"] = _log_model(
            prepared, champion, final.params, Path(final.uri), tracking_uri
        )
    evaluation = Evaluation(
        uri=str(out),
        champion=champion,
        candidates=results,
        windows={
            "validation": len(windows.origins[0][0]),
            "test": len(windows.origins[0][1]),
            "horizon": windows.h,
            "series": len(units),
            "folds": 1 + len(windows.folds),
        },
        ensemble=built[Ensemble.name][0] if Ensemble.name in built else None,
        combinations=[r for n, (r, _) in built.items() if n != Ensemble.name],
        selection={
            "on": windows.metric,
            "best_cv": best,
            **(honest_selection(windows, preds, list(COMBINATIONS)) or {}),
        },
        final=final,
    )
    write_text(out / "evaluation.json", evaluation.model_dump_json(indent=2))
    return evaluation


def _save_combination(
    prepared: Prepared,
    name: str,
    models: dict[str, Forecaster],
    members: list[str],
    out: Path,
    intervals: Intervals,
) -> Trained:
    cfg = prepared.config
    model = MODELS[name].of(  # type: ignore[attr-defined]
        {m: models[m] for m in members}, horizon=cfg["horizon"], input_seq_len=cfg["input_seq_len"]
    )
    folder = out / name
    with replacing_dir(folder) as tmp:  # replaced whole: an earlier evaluation's members go
        save_model(model, tmp)
        (tmp / intervals_file.FILE).write_bytes(intervals.to_json())
    return Trained(uri=str(folder), name=name, params=model.params, train_seconds=0.0)


def _refit_all_rows(
    prepared: Prepared,
    champion: Trained,
    units: list[SeriesArrays],
    folder: Path,
    intervals: Intervals,
) -> Trained:
    """The champion fitted on every row: what is registered and served.

    Models that restore by refitting (the statistical baselines) are saved as they are:
    whoever loads them fits them on the series at hand, every row of it. The others are
    fitted again here; an ensemble's members each in their way."""
    started = time.monotonic()
    everything = all_rows(units)
    names = champion.params.get("members") or [champion.name]
    fitted: dict[str, Forecaster] = {}
    for name in names:
        model = _model(prepared, name)
        if model.restores_by_refit:
            model.params = dict(_member_params(champion, name))
        else:
            model.fit(everything)
        fitted[name] = model
    if champion.params.get("members"):
        cfg = prepared.config
        model = MODELS[champion.name].of(  # type: ignore[attr-defined]
            fitted, horizon=cfg["horizon"], input_seq_len=cfg["input_seq_len"]
        )
    else:
        model = fitted[champion.name]
    with replacing_dir(folder) as tmp:
        save_model(model, tmp)
        (tmp / intervals_file.FILE).write_bytes(intervals.to_json())
    return Trained(
        uri=str(folder),
        name=champion.name,
        params=model.params,
        train_seconds=round(time.monotonic() - started, 3),
        summary={"rows": "all", "refit_of": champion.uri},
    )


def _member_params(champion: Trained, name: str) -> dict[str, Any]:
    """A model's saved parameters: the champion's own, or its member's."""
    folder = Path(champion.uri)
    spec = folder / name / "spec.json" if champion.params.get("members") else folder / "spec.json"
    return dict(json.loads(spec.read_text()).get("params") or {})
