"""The pipeline's steps: preprocess -> train (per model) -> evaluate -> promote -> infer.

Each is a plain function from artifacts to an artifact; runners (local, KFP, Kafka) own
parallelism and transport and call these same functions.

The held-out test window is never seen by fitting, scaling or selection: the scaler and
clipping bounds come from the training rows, early stopping uses validation, and the
champion is chosen on validation windows. Test metrics are computed and reported only.

Every output folder and record is written through ``millrace.atomic``: a step killed
halfway leaves the previous output or none, so a rerun (or preprocess's skip when its
output exists) never picks up a partial one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from millrace.atomic import replacing_dir
from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting import intervals as intervals_file
from millrace.ml.forecasting.data import (
    TRANSFORMS,
    PreprocessConfig,
    future_times,
    load_panel,
    prepare_series,
)
from millrace.ml.forecasting.intervals import Intervals
from millrace.ml.forecasting.models import (
    MODELS,
    Forecaster,
    SeriesArrays,
    model_files,
    save_model,
    season_length,
)
from millrace.pipelines.artifacts import Evaluation, Prepared, SeriesSplit, Trained
from millrace.pipelines.promotion import promote, rollback
from millrace.pipelines.scoring import (
    SELECT_ON,
    Windows,
    backtest,
    fold_splits,
)

__all__ = [
    "evaluate",
    "infer",
    "load_model",
    "preprocess",
    "promote",
    "rollback",
    "series",
    "train",
]

log = logging.getLogger("millrace.pipelines")


def _hash(cfg: PreprocessConfig, data: Path, test: Path | None) -> str:
    h = hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True).encode())
    for path in (data, test):
        if path is not None:
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
    return h.hexdigest()


def preprocess(data: Path, cfg: PreprocessConfig, work: Path, test: Path | None = None) -> Prepared:
    if cfg.transform not in TRANSFORMS:
        raise InvalidInputError(f"unknown transform {cfg.transform!r}: use log1p or none")
    if cfg.select_on not in (None, *SELECT_ON):
        raise InvalidInputError(
            f"select_on must be one of {', '.join(SELECT_ON)}, not {cfg.select_on!r}"
        )
    if not 0 <= cfg.folds <= 10:
        raise InvalidInputError(
            f"folds must be between 1 and 10 (or 0: as the series' length allows), not {cfg.folds}"
        )
    for path in (data, test):
        if path is not None and not path.is_file():
            raise InvalidInputError(f"cannot read {path.name}: no such file ({path})")
    key = _hash(cfg, data, test)
    out = work / "prepared" / key
    done = _prepared_before(out / "prepared.json")
    if done is not None:
        return done
    panel, step = load_panel(data, cfg, parts=2 if test is not None else 3)
    tails: dict[str, pd.DataFrame] = {}
    if test is not None:
        tails, test_step = load_panel(test, cfg, parts=0)
        if set(tails) != set(panel):
            raise InvalidInputError(
                f"the test file holds series {sorted(tails)[:5]}, the data {sorted(panel)[:5]}"
            )
        if test_step != step:
            raise InvalidInputError(f"the test file steps by {test_step}, the data by {step}")
    parts = [prepare_series(k, frame, tails.get(k), cfg) for k, frame in panel.items()]
    first = parts[0]
    prepared = Prepared(
        uri=str(out),
        config_hash=key,
        config=asdict(cfg),
        columns=[*cfg.targets, *cfg.exog],
        n=first.n,
        train_end=first.train_end,
        val_end=first.val_end,
        step_seconds=step.total_seconds(),
        season=season_length(step),
        series=[
            SeriesSplit(key=p.key, n=p.n, train_end=p.train_end, val_end=p.val_end) for p in parts
        ]
        if cfg.id_col is not None
        else [],
    )
    scalers = {p.key: asdict(p.scaler) for p in parts}
    with replacing_dir(out) as tmp:
        # NumPy's own format (no pickle): pyarrow's thread pool can abort a short-lived KFP
        # component process at exit ("terminate called without an active exception").
        np.savez(
            tmp / "series.npz",
            y=np.concatenate([p.y for p in parts]),
            x=np.concatenate([p.x for p in parts]),
            times=np.concatenate([p.times.asi8 for p in parts]),
        )
        # One series keeps the plain scaler format the inference server reads.
        (tmp / "scaler.json").write_text(
            json.dumps(scalers[""] if cfg.id_col is None else {"series": scalers})
        )
        (tmp / "prepared.json").write_text(prepared.model_dump_json(exclude={"skipped"}))
    return prepared


def _prepared_before(meta_file: Path) -> Prepared | None:
    """The record of an earlier identical preprocess, if one finished.

    The folder appears whole (``replacing_dir``), so a record means complete output. One
    that does not parse was left by a version that wrote in place: redo it, say so.
    """
    if not meta_file.is_file():
        return None
    try:
        return Prepared.model_validate({**json.loads(meta_file.read_text()), "skipped": True})
    except ValueError as exc:  # JSONDecodeError and ValidationError are ValueErrors
        log.warning("preprocess: ignoring unreadable %s (%s); redoing it", meta_file, exc)
        return None


def series(prepared: Prepared) -> list[SeriesArrays]:
    """Every target of every series, as the models see them."""
    with np.load(Path(prepared.uri) / "series.npz", allow_pickle=False) as arrays:
        table = {k: arrays[k] for k in arrays.files}
    saved = json.loads((Path(prepared.uri) / "scaler.json").read_text())
    scalers = saved.get("series", {"": saved})
    targets = PreprocessConfig.from_dict(prepared.config).targets
    splits = prepared.series or [
        SeriesSplit(key="", n=prepared.n, train_end=prepared.train_end, val_end=prepared.val_end)
    ]
    times = pd.DatetimeIndex(pd.to_datetime(table["times"]))
    units, start = [], 0
    for split in splits:
        rows = slice(start, start + split.n)
        start += split.n
        scaler, x = scalers[split.key], table["x"][rows]
        for j, target in enumerate(targets):
            units.append(
                SeriesArrays(
                    y=table["y"][rows, j],
                    y_scaled=x[:, j],
                    x=x,
                    times=times[rows],
                    train_end=split.train_end,
                    val_end=split.val_end,
                    season=prepared.season,
                    target_mean=scaler["mean"][target],
                    target_std=scaler["std"][target],
                    target_log=target in scaler.get("log", []),
                    key=split.key,
                    target=target,
                    target_index=j,
                    n_targets=len(targets),
                )
            )
    return units


def _model(prepared: Prepared, name: str) -> Forecaster:
    if name not in MODELS:
        raise InvalidInputError(f"unknown model {name!r}: choose from {', '.join(MODELS)}")
    cfg = prepared.config
    return MODELS[name](horizon=cfg["horizon"], input_seq_len=cfg["input_seq_len"])


def train(
    prepared: Prepared,
    name: str,
    work: Path,
    seed: int = 0,
    budget_s: float | None = None,
    tracking_uri: str | None = None,
) -> Trained:
    """Rolling-origin cross-validation, then the refit that forecasts the test window.

    The candidate is fitted afresh before each fold (on the rows before it only) and
    forecasts that fold; then once more on every row before the test window, the model
    that is saved, scored on test, registered and served. The budget is shared by the fits.
    """
    why = unsuited(prepared, name) if prepared.config.get("only_suited", True) else None
    if why:
        raise InvalidInputError(f"{name} sits out: {why} (only_suited=False trains it anyway)")
    s = series(prepared)
    folds = _folds(prepared, s)
    per_fit = budget_s / (len(folds) + 1) if budget_s else None
    started = time.monotonic()
    backtests, fold_models = backtest(
        partial(_model, prepared, name),
        folds,
        prepared.config["horizon"],
        prepared.config["max_eval_windows"],
        seed=seed,
        budget_s=per_fit,
    )
    model = _model(prepared, name)
    if "specs" in fold_models[0].params and not getattr(model, "searches_at_refit", False):
        # What the validation fold's search chose (statistical models): the refit
        # re-estimates it on every row before the test window instead of searching again
        # (ETS, whose search is cheap, searches again: ``searches_at_refit``).
        model.params["specs"] = fold_models[0].params["specs"]
    model.fit(refit_rows(s), seed=seed, budget_s=per_fit)
    elapsed = time.monotonic() - started
    out = work / "models" / prepared.config_hash / name
    cfg = prepared.config
    windows = Windows(s, cfg["horizon"], cfg["max_eval_windows"], folds[1:])
    intervals = Intervals.from_residuals(windows.backtest_errors(backtests), prepared.season)
    with replacing_dir(out) as tmp:
        save_model(model, tmp)
        np.savez(tmp / _BACKTEST, **backtests)
        (tmp / intervals_file.FILE).write_bytes(intervals.to_json())
        (tmp / "training_log.json").write_text(json.dumps(model.log))
    summary = {k: v for k, v in model.log.items() if k != "epochs"}
    summary["epochs"] = len(model.log.get("epochs", []))
    summary["folds"] = len(folds)
    if tracking_uri:
        summary["mlflow_run_id"] = _log_model(
            prepared, name, model.params, out, tracking_uri, model.log.get("epochs", [])
        )
    return Trained(
        uri=str(out),
        name=name,
        params=model.params,
        train_seconds=round(elapsed, 3),
        summary=summary,
    )


_BACKTEST = "backtest.npz"
_AUTO_FOLDS = 3  # folds when the config leaves it to the series' length (folds=0)


_DAY = 86_400.0


def unsuited(prepared: Prepared, name: str) -> str | None:
    """Why a candidate cannot win on this data, or None: the documented skip rule.

    Prophet models calendar seasonality (weekly, yearly, holidays) from dates; on monthly,
    quarterly and yearly series it was the worst fitted model of every benchmark here
    (test MASE 1.47 against AutoARIMA's 0.92 on the real series of forecast_series.py,
    refitted) while costing the most per series. GRU, LSTM and LightGBM, learning across
    the panel with local scaling, never ranked above the statistical models on any M3
    frequency (yearly, quarterly, monthly, other), on validation or test, at several times
    their cost (benchmarks/forecast_m3.py). On daily and finer data all are kept.
    """
    if prepared.step_seconds <= _DAY:
        return None
    if name == "prophet":
        return "Prophet is for daily and finer data; on coarser series it never won here"
    if MODELS.get(name) is not None and MODELS[name].windowed:
        return f"{name} is for daily and finer data; on coarser series it never won here (M3)"
    return None


def refit_rows(units: list[SeriesArrays]) -> list[SeriesArrays]:
    """The series as a refit sees them: every row before the test window is fitted on."""
    return [dataclasses.replace(u, train_end=u.val_end) for u in units]


def _folds(prepared: Prepared, units: list[SeriesArrays]) -> list[list[SeriesArrays]]:
    """The validation window's fold, then as many earlier ones as asked for (``folds``),
    or as the shortest series allows up to three (``folds`` 0, the default). An earlier
    fold must leave its fit a window plus three horizons: the windowed models' training
    labels and the stretch they stop early on."""
    cfg = prepared.config
    need = cfg["input_seq_len"] + 3 * cfg["horizon"]
    asked = int(cfg.get("folds", 0)) or _AUTO_FOLDS
    return [units, *fold_splits(units, asked, need)]


def _backtests(trained: Trained) -> dict[str, np.ndarray]:
    path = Path(trained.uri) / _BACKTEST
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as arrays:
        return {k: arrays[k] for k in arrays.files}


def load_model(
    prepared: Prepared, trained: Trained, units: list[SeriesArrays] | None = None
) -> Forecaster:
    """A saved candidate, ready to forecast. Models that restore by refitting (the
    statistical baselines) are fitted on ``units`` as given: pass ``refit_rows`` for the
    model that forecasts the test window, ``all_rows`` for the served one."""
    model = _model(prepared, trained.name)
    model.load_state(model_files(Path(trained.uri)), units or refit_rows(series(prepared)))
    return model


def all_rows(units: list[SeriesArrays]) -> list[SeriesArrays]:
    """The series as the served model is fitted on them: every row, test included."""
    return [dataclasses.replace(u, train_end=len(u.y), val_end=len(u.y)) for u in units]


def evaluate(
    prepared: Prepared,
    candidates: list[Trained],
    work: Path,
    tracking_uri: str | None = None,
) -> Evaluation:
    """Score, choose and refit the champion: ``millrace.pipelines.evaluation``."""
    from millrace.pipelines.evaluation import evaluate as run

    return run(prepared, candidates, work, tracking_uri)


def _log_model(
    prepared: Prepared,
    name: str,
    params: dict[str, Any],
    folder: Path,
    tracking_uri: str,
    epochs: list[dict[str, Any]] | None = None,
) -> str:
    """One MLflow run per model: its files, the scaler and the preprocess config."""
    from millrace.ml.tracking import log_forecaster

    return log_forecaster(
        tracking_uri,
        experiment=f"millrace/forecasting/{prepared.config['target']}",
        name=name,
        params={**params, "config_hash": prepared.config_hash},
        epochs=epochs or [],
        files={
            "model": folder,
            "preprocess": Path(prepared.uri) / "scaler.json",
            "config": Path(prepared.uri) / "prepared.json",
        },
    )


def _intervals(trained: Trained) -> Intervals | None:
    path = Path(trained.uri) / intervals_file.FILE
    return Intervals.from_json(path.read_bytes()) if path.is_file() else None


def _bounds(
    bands: Intervals | None, pred: np.ndarray, history: np.ndarray
) -> list[dict[str, float]]:
    """Per point, ``lower_<level>`` and ``upper_<level>`` (none without intervals)."""
    out: list[dict[str, float]] = [{} for _ in pred]
    if bands is None:
        return out
    for level, (low, high) in bands.bounds(np.asarray(pred, dtype=float), history).items():
        for i, point in enumerate(out):
            point[f"lower_{level}"], point[f"upper_{level}"] = float(low[i]), float(high[i])
    return out


def infer(prepared: Prepared, trained: Trained, log_path: Path, next_horizon: bool = False) -> int:
    """Forecast the test window (or the horizon after the data) into a JSON-lines log, a
    line per point of every target of every series.

    The log is opened for append and written once per batch: never downloaded and
    re-uploaded whole.
    """
    units = series(prepared)
    units = all_rows(units) if next_horizon else refit_rows(units)
    model = load_model(prepared, trained, units)
    bands = _intervals(trained)
    h = prepared.config["horizon"]
    lines: list[str] = []
    for s in units:
        tag = {"target": s.target, **({"series": s.key} if s.key else {}), "model": trained.name}
        if next_horizon:
            future = future_times(s.times, prepared.step_seconds, h)
            s.times = s.times.append(future)
            pred = model.forecast(s, len(s.y), h)
            extra = _bounds(bands, pred, s.y)
            lines += [
                json.dumps({"ts": t.isoformat(), "prediction": float(p), **extra[i], **tag})
                for i, (t, p) in enumerate(zip(future, pred, strict=True))
            ]
            continue
        for origin in range(s.val_end, len(s.y) - h + 1, h):
            pred = model.forecast(s, origin, h)
            extra = _bounds(bands, pred, s.y[:origin])
            for i, p in enumerate(pred):
                actual = float(s.y[origin + i])
                point = {"ts": s.times[origin + i].isoformat(), "prediction": float(p)}
                lines.append(
                    json.dumps(
                        {**point, "actual": actual, "error": float(p) - actual, **extra[i], **tag}
                    )
                )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        log.write("\n".join(lines) + "\n")
    return len(lines)
