"""Fetching a champion version from MLflow and building it, without unpickling anything.

Tabular champions are MLflow sklearn models saved with skops. MLflow's own loader trusts
the type list written in the model's ``MLmodel`` file (so a crafted model could allow
anything, which is why MLflow gates it behind ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION``);
here the skops file is read directly and every type it would build is checked against
Millrace's explicit list of type names (``ml.tabular.persist.TRUSTED_TYPES``). The
feature encoder is the run's ``encoder.json``.

Forecasting champions are a run's ``model/`` folder (state dicts loaded with
``weights_only=True``, Prophet's JSON, or a JSON spec), with the run's scaler and
preprocess config; its ``intervals.json``, when it has one, gives prediction intervals.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting import intervals
from millrace.ml.forecasting.models import MODELS, SeriesArrays, model_files
from millrace.ml.forecasting.online import ForecastSpec
from millrace.ml.registry import Champion, mlflow_client
from millrace.ml.tabular.encoding import FeatureEncoder
from millrace.ml.tabular.persist import load_estimator
from millrace.serving.models import ForecastModel, ServedModel, TabularModel

__all__ = ["load_champion"]

log = logging.getLogger("millrace.serving")


def load_champion(tracking_uri: str, champion: Champion) -> ServedModel:
    """Download and build one champion version; raises ``InvalidInputError`` for a model
    that is not in a safe, servable form."""
    started = time.monotonic()
    client = mlflow_client(tracking_uri)
    if not champion.run_id:
        raise InvalidInputError(f"{champion.name} v{champion.version} has no training run")
    with tempfile.TemporaryDirectory(prefix="millrace-serve-") as tmp:
        if champion.kind == "forecasting":
            return _forecaster(client, champion, Path(tmp), started)
        return _tabular(client, tracking_uri, champion, Path(tmp), started)


def _tabular(
    client: Any, tracking_uri: str, champion: Champion, tmp: Path, started: float
) -> TabularModel:
    import yaml
    from mlflow.artifacts import download_artifacts

    uri = client.get_model_version_download_uri(champion.name, champion.version)
    local = Path(
        download_artifacts(artifact_uri=uri, dst_path=str(tmp / "model"), tracking_uri=tracking_uri)
    )
    meta = yaml.safe_load((local / "MLmodel").read_text())
    flavor = (meta or {}).get("flavors", {}).get("sklearn") or {}
    if flavor.get("serialization_format") != "skops":
        raise InvalidInputError(
            f"{champion.name} v{champion.version} is not a skops sklearn model; "
            "only safe formats are served"
        )
    blob_path = (local / str(flavor.get("pickled_model", "model.skops"))).resolve()
    if not blob_path.is_relative_to(local.resolve()):
        raise InvalidInputError(f"{champion.name} v{champion.version}: bad model path")
    blob = blob_path.read_bytes()
    estimator = load_estimator(blob)
    encoder_file = client.download_artifacts(champion.run_id, "encoder.json", str(tmp))
    encoder = FeatureEncoder.from_json(Path(encoder_file).read_text())
    if "n_jobs" in estimator.get_params():
        # Requests run side by side; a thread pool per predict call only fights them.
        estimator.set_params(n_jobs=1)
    return TabularModel(
        champion=champion,
        load_seconds=time.monotonic() - started,
        estimator=estimator,
        encoder=encoder,
    )


def _forecaster(client: Any, champion: Champion, tmp: Path, started: float) -> ForecastModel:
    run = str(champion.run_id)
    folder = Path(client.download_artifacts(run, "model", str(tmp)))
    prepared = json.loads(
        Path(client.download_artifacts(run, "config/prepared.json", str(tmp))).read_text()
    )
    scaler = json.loads(
        Path(client.download_artifacts(run, "preprocess/scaler.json", str(tmp))).read_text()
    )
    cfg = prepared["config"]
    if cfg.get("extra_targets") or cfg.get("id_col"):
        # A request carries one series' history and gets one forecast back; panels and
        # multi-target forecasters are forecast in batch by ``millrace pipeline``.
        raise InvalidInputError(
            f"{champion.name} v{champion.version} forecasts "
            + ("a panel of series" if cfg.get("id_col") else "several targets")
            + "; the inference server serves single-series, single-target forecasters"
        )
    files = model_files(folder)
    if "spec.json" not in files:
        raise InvalidInputError(f"{champion.name} v{champion.version} has no model/spec.json")
    saved = json.loads(files["spec.json"])
    name, params = saved["name"], dict(saved.get("params") or {})
    if name not in MODELS:
        raise InvalidInputError(f"{champion.name} v{champion.version}: unknown model {name!r}")
    model = MODELS[name](**params)
    refit = False
    if model.restores_by_refit:
        # Baselines (alone or in an ensemble) restore by refitting on the training series;
        # it is only at hand when the pipeline's work folder is (the one-machine case).
        training = _training_series(prepared)
        if training is None:
            refit = True
        else:
            model.load_state(files, training)
    else:
        model.load_state(files, _EMPTY)
    return ForecastModel(
        champion=champion,
        load_seconds=time.monotonic() - started,
        forecaster=None if refit else model,
        spec=ForecastSpec.from_run(name, prepared, scaler, params.get("members", ())),
        params=params,
        files=files if refit else {},
        refit_per_request=refit,
        intervals=_intervals(champion, files),
    )


def _intervals(champion: Champion, files: dict[str, bytes]) -> intervals.Intervals | None:
    """The saved prediction intervals; none for a model saved before they existed, or
    (with a warning) for a file that does not parse: the forecasts are served either way."""
    raw = files.get(intervals.FILE)
    if raw is None:
        return None
    try:
        return intervals.Intervals.from_json(raw)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning(
            "%s v%s: %s unreadable, served without intervals: %s",
            champion.name,
            champion.version,
            intervals.FILE,
            exc,
        )
        return None


def _training_series(prepared: dict[str, Any]) -> list[SeriesArrays] | None:
    """The run's series with every row to fit on, test included: how the pipeline's
    served (``final``) model was fitted, and how its ``infer`` restores it."""
    from millrace.pipelines.artifacts import Prepared
    from millrace.pipelines.steps import all_rows, series

    if not (Path(prepared["uri"]) / "series.npz").is_file():
        return None
    return all_rows(series(Prepared.model_validate(prepared)))


_EMPTY = SeriesArrays(
    y=np.empty(0),
    y_scaled=np.empty(0),
    x=np.empty((0, 0)),
    times=pd.DatetimeIndex([]),
    train_end=0,
    val_end=0,
    season=1,
    target_mean=0.0,
    target_std=1.0,
)
