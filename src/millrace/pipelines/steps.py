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

from millrace.atomic import replacing_dir, write_text
from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.data import (
    TRANSFORMS,
    PreprocessConfig,
    future_times,
    load_panel,
    prepare_series,
)
from millrace.ml.forecasting.models import (
    MODELS,
    Ensemble,
    Forecaster,
    SeriesArrays,
    model_files,
    save_model,
    season_length,
)
from millrace.pipelines.artifacts import Evaluation, Prepared, SeriesSplit, Trained
from millrace.pipelines.promotion import promote, rollback
from millrace.pipelines.scoring import (
    Preds,
    Windows,
    backtest,
    ensemble_members,
    fold_splits,
    mean_forecast,
    selection_scores,
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
    if not 1 <= cfg.folds <= 10:
        raise InvalidInputError(f"folds must be between 1 and 10, not {cfg.folds}")
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
    model = _model(prepared, name)
    s = series(prepared)
    started = time.monotonic()
    model.fit(s, seed=seed, budget_s=budget_s)
    folds = _folds(prepared, s)
    backtests = backtest(
        partial(_model, prepared, name),
        folds,
        prepared.config["horizon"],
        prepared.config["max_eval_windows"],
        seed=seed,
        budget_s=budget_s,
    )
    elapsed = time.monotonic() - started
    out = work / "models" / prepared.config_hash / name
    with replacing_dir(out) as tmp:
        save_model(model, tmp)
        if backtests:
            np.savez(tmp / _BACKTEST, **backtests)
        (tmp / "training_log.json").write_text(json.dumps(model.log))
    summary = {k: v for k, v in model.log.items() if k != "epochs"}
    summary["epochs"] = len(model.log.get("epochs", []))
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


def _folds(prepared: Prepared, units: list[SeriesArrays]) -> list[list[SeriesArrays]]:
    cfg = prepared.config
    need = 2 * (cfg["input_seq_len"] + cfg["horizon"])
    return fold_splits(units, int(cfg.get("folds", 1)), need)


def _backtests(trained: Trained) -> dict[str, np.ndarray]:
    path = Path(trained.uri) / _BACKTEST
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as arrays:
        return {k: arrays[k] for k in arrays.files}


def load_model(
    prepared: Prepared, trained: Trained, units: list[SeriesArrays] | None = None
) -> Forecaster:
    model = _model(prepared, trained.name)
    model.load_state(model_files(Path(trained.uri)), units or series(prepared))
    return model


def evaluate(
    prepared: Prepared,
    candidates: list[Trained],
    work: Path,
    tracking_uri: str | None = None,
) -> Evaluation:
    """Score every candidate on the same windows; choose on validation, report test.

    The mean of the best two to four candidates (by validation) competes too, as
    ``ensemble``; it is saved beside the evaluation and, if it wins, logged to MLflow.
    """
    units = series(prepared)
    cfg = prepared.config
    windows = Windows(units, cfg["horizon"], cfg["max_eval_windows"], _folds(prepared, units))
    results: dict[str, dict[str, Any]] = {}
    models: dict[str, Forecaster] = {}
    preds: dict[str, Preds] = {}
    for trained in candidates:
        model = models[trained.name] = load_model(prepared, trained, units)
        preds[trained.name] = windows.forecasts(model, _backtests(trained))
        results[trained.name] = {
            **windows.scored(preds[trained.name], trained.uri),
            "train_seconds": trained.train_seconds,
            "mlflow_run_id": trained.summary.get("mlflow_run_id"),
        }
    out = work / "evaluations" / prepared.config_hash
    out.mkdir(parents=True, exist_ok=True)
    members = ensemble_members(windows, preds)
    ensemble = None
    if members:
        ensemble = _save_ensemble(prepared, {m: models[m] for m in members}, out)
        preds[ensemble.name] = mean_forecast(preds, members)
        results[ensemble.name] = {
            **windows.scored(preds[ensemble.name], ensemble.uri),
            "train_seconds": 0.0,
            "members": members,
        }
    scores = selection_scores({n: windows.validation(p) for n, p in preds.items()})
    for name, score in scores.items():
        results[name]["score"] = round(score, 6)
    champion = min(scores, key=scores.__getitem__)
    if ensemble is not None and champion == ensemble.name and tracking_uri:
        results[champion]["mlflow_run_id"] = _log_model(
            prepared, ensemble.name, ensemble.params, Path(ensemble.uri), tracking_uri
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
        ensemble=ensemble,
    )
    write_text(out / "evaluation.json", evaluation.model_dump_json(indent=2))
    return evaluation


def _save_ensemble(prepared: Prepared, members: dict[str, Forecaster], out: Path) -> Trained:
    cfg = prepared.config
    model = Ensemble.of(members, horizon=cfg["horizon"], input_seq_len=cfg["input_seq_len"])
    folder = out / model.name
    save_model(model, folder)  # replaced whole: an earlier evaluation's members go
    return Trained(uri=str(folder), name=model.name, params=model.params, train_seconds=0.0)


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


def infer(prepared: Prepared, trained: Trained, log_path: Path, next_horizon: bool = False) -> int:
    """Forecast the test window (or the horizon after the data) into a JSON-lines log, a
    line per point of every target of every series.

    The log is opened for append and written once per batch: never downloaded and
    re-uploaded whole.
    """
    units = series(prepared)
    model = load_model(prepared, trained, units)
    h = prepared.config["horizon"]
    lines: list[str] = []
    for s in units:
        tag = {"target": s.target, **({"series": s.key} if s.key else {}), "model": trained.name}
        if next_horizon:
            future = future_times(s.times, prepared.step_seconds, h)
            s.times = s.times.append(future)
            pred = model.forecast(s, len(s.y), h)
            lines += [
                json.dumps({"ts": t.isoformat(), "prediction": float(p), **tag})
                for t, p in zip(future, pred, strict=True)
            ]
            continue
        for origin in range(s.val_end, len(s.y) - h + 1, h):
            pred = model.forecast(s, origin, h)
            for i, p in enumerate(pred):
                actual = float(s.y[origin + i])
                point = {"ts": s.times[origin + i].isoformat(), "prediction": float(p)}
                lines.append(
                    json.dumps({**point, "actual": actual, "error": float(p) - actual, **tag})
                )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        log.write("\n".join(lines) + "\n")
    return len(lines)
