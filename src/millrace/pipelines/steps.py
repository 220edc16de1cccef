"""The pipeline's steps: preprocess -> train (per model) -> evaluate -> promote -> infer.

Each is a plain function from artifacts to an artifact; runners (local, KFP, Kafka) own
parallelism and transport and call these same functions.

The held-out test window is never seen by fitting, scaling or selection: the scaler and
clipping bounds come from the training rows, early stopping uses validation, and the
champion is chosen on validation windows. Test metrics are computed and reported only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.data import (
    TRANSFORMS,
    PreprocessConfig,
    Scaler,
    load_series,
    time_features,
)
from millrace.ml.forecasting.metrics import forecast_metrics, weighted_scores
from millrace.ml.forecasting.models import (
    MODELS,
    Ensemble,
    Forecaster,
    SeriesArrays,
    model_files,
    save_model,
    season_length,
)
from millrace.pipelines.artifacts import Evaluation, Prepared, Trained
from millrace.pipelines.promotion import promote, rollback

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
    for path in (data, test):
        if path is not None and not path.is_file():
            raise InvalidInputError(f"cannot read {path.name}: no such file ({path})")
    key = _hash(cfg, data, test)
    out = work / "prepared" / key
    meta_file = out / "prepared.json"
    if meta_file.is_file():
        return Prepared.model_validate({**json.loads(meta_file.read_text()), "skipped": True})
    frame, step = load_series(data, cfg, parts=2 if test is not None else 3)
    if test is not None:
        tail, test_step = load_series(test, cfg, parts=0)
        if tail.index[0] <= frame.index[-1]:
            raise InvalidInputError("the test file must continue after the training file")
        if test_step != step:
            raise InvalidInputError(f"the test file steps by {test_step}, the data by {step}")
        frame = pd.concat([frame, tail])
        val_end = len(frame) - len(tail)
        train_end = int(val_end * (1 - cfg.val_share))
    else:
        val_end = int(len(frame) * (1 - cfg.test_share))
        train_end = int(len(frame) * (1 - cfg.test_share - cfg.val_share))
    columns = [cfg.target, *cfg.exog]
    frame[columns] = frame[columns].interpolate(limit_direction="both")
    for lag in range(1, cfg.lags + 1):
        frame[f"{cfg.target}_lag{lag}"] = frame[cfg.target].shift(lag).bfill()
    features = [c for c in frame.columns if c != cfg.target]
    train = frame.iloc[:train_end]
    logged = [c for c in frame.columns if cfg.transform and (train[c] >= 0).all()]
    # Clipping and log1p shape what the models see; ``y`` stays the original series, which
    # baselines fit and every metric scores (clipped test actuals would flatter them).
    scaler = Scaler.fit(train, log=logged, clip=cfg.clip)
    scaled = scaler.transform(frame)
    table = pd.concat(
        [
            frame[[cfg.target]].rename(columns={cfg.target: "y"}),
            scaled[[cfg.target]].rename(columns={cfg.target: "y_scaled"}),
            scaled[features].add_prefix("x_"),
            time_features(frame.index).add_prefix("x_"),
        ],
        axis=1,
    )
    out.mkdir(parents=True, exist_ok=True)
    # NumPy's own format (no pickle): pyarrow's thread pool can abort a short-lived KFP
    # component process at exit ("terminate called without an active exception").
    np.savez(
        out / "series.npz",
        y=table["y"].to_numpy(float),
        y_scaled=table["y_scaled"].to_numpy(float),
        x=table[[c for c in table.columns if c.startswith("x_")]].to_numpy(float),
        times=table.index.asi8,
    )
    (out / "scaler.json").write_text(json.dumps(asdict(scaler)))
    prepared = Prepared(
        uri=str(out),
        config_hash=key,
        config=asdict(cfg),
        columns=columns,
        n=len(table),
        train_end=train_end,
        val_end=val_end,
        step_seconds=step.total_seconds(),
        season=season_length(step),
    )
    meta_file.write_text(prepared.model_dump_json(exclude={"skipped"}))
    return prepared


def series(prepared: Prepared) -> SeriesArrays:
    with np.load(Path(prepared.uri) / "series.npz", allow_pickle=False) as arrays:
        table = {k: arrays[k] for k in arrays.files}
    scaler = json.loads((Path(prepared.uri) / "scaler.json").read_text())
    target = prepared.config["target"]
    return SeriesArrays(
        y=table["y"],
        y_scaled=table["y_scaled"],
        x=table["x"],
        times=pd.DatetimeIndex(pd.to_datetime(table["times"])),
        train_end=prepared.train_end,
        val_end=prepared.val_end,
        season=prepared.season,
        target_mean=scaler["mean"][target],
        target_std=scaler["std"][target],
        target_log=target in scaler.get("log", []),
    )


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
    elapsed = time.monotonic() - started
    out = work / "models" / prepared.config_hash / name
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out)
    (out / "training_log.json").write_text(json.dumps(model.log))
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


def load_model(prepared: Prepared, trained: Trained, s: SeriesArrays | None = None) -> Forecaster:
    model = _model(prepared, trained.name)
    model.load_state(model_files(Path(trained.uri)), s or series(prepared))
    return model


def _origins(start: int, end: int, h: int, most: int) -> np.ndarray:
    last = end - h
    if last < start:
        raise InvalidInputError("the evaluation window is shorter than the horizon")
    return np.unique(np.linspace(start, last, num=min(most, last - start + 1)).astype(int))


def _forecasts(model: Forecaster, s: SeriesArrays, origins: np.ndarray, h: int) -> np.ndarray:
    return np.concatenate([model.forecast(s, int(o), h) for o in origins])


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
    s = series(prepared)
    h, most = prepared.config["horizon"], prepared.config["max_eval_windows"]
    val_origins = _origins(s.train_end, s.val_end, h, most)
    test_origins = _origins(s.val_end, len(s.y), h, most)
    val_actual, test_actual = (
        np.concatenate([s.y[o : o + h] for o in origins]) for origins in (val_origins, test_origins)
    )
    naive_scale = float(np.mean(np.abs(np.diff(s.y[: s.train_end])))) or 1.0

    def scored(val_pred: np.ndarray, test_pred: np.ndarray, uri: str) -> dict[str, Any]:
        return {
            "validation": forecast_metrics(val_actual, val_pred, naive_scale),
            "test": forecast_metrics(test_actual, test_pred, naive_scale),
            "model_uri": uri,
        }

    results: dict[str, dict[str, Any]] = {}
    models: dict[str, Forecaster] = {}
    preds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for trained in candidates:
        model = models[trained.name] = load_model(prepared, trained, s)
        preds[trained.name] = (
            _forecasts(model, s, val_origins, h),
            _forecasts(model, s, test_origins, h),
        )
        results[trained.name] = {
            **scored(*preds[trained.name], trained.uri),
            "train_seconds": trained.train_seconds,
            "mlflow_run_id": trained.summary.get("mlflow_run_id"),
        }
    out = work / "evaluations" / prepared.config_hash
    out.mkdir(parents=True, exist_ok=True)
    members = _ensemble_members(
        {n: r["validation"] for n, r in results.items()}, preds, val_actual, naive_scale
    )
    ensemble = None
    if members:
        ensemble = _save_ensemble(prepared, {m: models[m] for m in members}, out)
        mean = (np.mean([preds[m][i] for m in members], axis=0) for i in (0, 1))
        results[ensemble.name] = {
            **scored(*mean, ensemble.uri),
            "train_seconds": 0.0,
            "members": members,
        }
    scores = weighted_scores({n: r["validation"] for n, r in results.items()})
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
        windows={"validation": len(val_origins), "test": len(test_origins), "horizon": h},
        ensemble=ensemble,
    )
    (out / "evaluation.json").write_text(evaluation.model_dump_json(indent=2))
    return evaluation


def _ensemble_members(
    validation: dict[str, dict[str, float]],
    preds: dict[str, tuple[np.ndarray, np.ndarray]],
    actual: np.ndarray,
    scale: float,
    most: int = 4,
) -> list[str]:
    """The best k candidates (2 <= k <= ``most``) whose mean scores best on validation."""
    scores = weighted_scores(validation)
    ranked = sorted(scores, key=scores.__getitem__)
    tried = {
        k: forecast_metrics(actual, np.mean([preds[m][0] for m in ranked[:k]], axis=0), scale)
        for k in range(2, min(most, len(ranked)) + 1)
    }
    if not tried:
        return []
    by_k = weighted_scores({str(k): m for k, m in tried.items()})
    return ranked[: int(min(by_k, key=by_k.__getitem__))]


def _save_ensemble(prepared: Prepared, members: dict[str, Forecaster], out: Path) -> Trained:
    cfg = prepared.config
    model = Ensemble.of(members, horizon=cfg["horizon"], input_seq_len=cfg["input_seq_len"])
    folder = out / model.name
    shutil.rmtree(folder, ignore_errors=True)  # an earlier evaluation's members must not linger
    save_model(model, folder)
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
    """Forecast the test window (or the horizon after the data) into a JSON-lines log.

    The log is opened for append and written once per batch: never downloaded and
    re-uploaded whole.
    """
    s = series(prepared)
    model = load_model(prepared, trained, s)
    h = prepared.config["horizon"]
    lines: list[str] = []
    if next_horizon:
        freq = pd.infer_freq(s.times[-min(len(s.times), 50) :]) or pd.Timedelta(
            seconds=prepared.step_seconds
        )
        future = pd.date_range(s.times[-1], periods=h + 1, freq=freq)[1:]
        s.times = s.times.append(future)
        pred = model.forecast(s, len(s.y), h)
        lines = [
            json.dumps({"ts": t.isoformat(), "prediction": float(p), "model": trained.name})
            for t, p in zip(future, pred, strict=True)
        ]
    else:
        for origin in range(s.val_end, len(s.y) - h + 1, h):
            pred = model.forecast(s, origin, h)
            for i, p in enumerate(pred):
                actual = float(s.y[origin + i])
                lines.append(
                    json.dumps(
                        {
                            "ts": s.times[origin + i].isoformat(),
                            "prediction": float(p),
                            "actual": actual,
                            "error": float(p) - actual,
                            "model": trained.name,
                        }
                    )
                )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        log.write("\n".join(lines) + "\n")
    return len(lines)
