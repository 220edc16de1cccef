"""MLflow: every trained model is a run, registered, and the winner carries ``champion``.

MLflow is imported lazily (it is slow to import) and pointed at the tracking URI from the
settings; the embedded default is a SQLite store in the data dir.

Runs name their experiment by id (``start_run(experiment_id=...)``) rather than through
``mlflow.set_experiment``, which is process-global: candidates of different pipeline runs
train side by side in one pool and would log into each other's experiments.

A tabular model's registration is idempotent by a key (its warehouse version): the MLflow
version carries the key as a tag set when the version is created, so a redelivered automl
trigger that finds it only makes sure the champion alias is set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from millrace.faults import crash_point
from millrace.ml.gate import METRIC_TAG, TEST_SET_TAG, Verdict
from millrace.ml.registry import (
    CHAMPION,
    KIND_TAG,
    mlflow_client,
    register_model,
    registered_name,
    settle,
)
from millrace.ml.tracking_store import ensure_store, sqlite_path
from millrace.settings import Settings

__all__ = [
    "CHAMPION",
    "Tracked",
    "log_forecaster",
    "log_tabular_model",
    "register_champion",
    "registered_name",
    "warm_up",
]
PIP_REQUIREMENTS = ["scikit-learn", "lightgbm", "xgboost", "skops", "pandas", "numpy"]
KEY_TAG = "millrace.key"  # what makes a registration idempotent (e.g. the warehouse version)


@dataclass(frozen=True)
class Tracked:
    run_id: str
    registered_name: str
    registered_version: str
    verdict: Verdict | None = None  # the gate's: champion or challenger, and why


def _mlflow(tracking_uri: str) -> Any:
    import mlflow

    ensure_store(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    return mlflow


def artifact_root(tracking_uri: str) -> str | None:
    """Where a file-backed store keeps artifacts: beside its database, not in the CWD.

    MLflow's own default for a SQLite store is ``./mlruns`` relative to wherever the
    process happens to run, which scattered artifacts into source checkouts.
    A tracking server chooses its own artifact root, so None there.
    """
    db = sqlite_path(tracking_uri)
    if db is None:
        return None
    return (db.parent / "mlartifacts").resolve().as_uri()


def use_experiment(mlflow: Any, tracking_uri: str, name: str) -> str:
    """The experiment's id, created if needed (never made the process-global default)."""
    from mlflow.exceptions import MlflowException

    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(mlflow.create_experiment(name, artifact_location=_child(tracking_uri, name)))
    except MlflowException:
        # Candidates training in parallel race to create it; the loser uses the winner's.
        found = mlflow.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def _child(tracking_uri: str, experiment: str) -> str | None:
    root = artifact_root(tracking_uri)
    if root is None:
        return None
    import hashlib

    return f"{root}/{hashlib.sha256(experiment.encode()).hexdigest()[:16]}"


def warm_up(settings: Settings) -> None:
    """Create or migrate the tracking store now, not inside a time-boxed training step."""
    _mlflow(settings.resolved_mlflow_uri).search_experiments(max_results=1)


def log_tabular_model(
    settings: Settings,
    *,
    owner_id: str,
    model_id: str,
    key: str,
    estimator: Any,
    trusted_types: list[str],
    params: dict[str, Any],
    metrics: dict[str, float],
    artifacts: dict[str, str],
    tags: dict[str, str],
) -> Tracked:
    """Log and register one trained model, once per ``key``; it becomes the champion if
    it passes the champion/challenger gate (``ml.gate``), else the challenger.

    Called again with the same key (a redelivery after a crash), it finds the version made
    the first time and only finishes what is missing: the gate's recorded decision.
    """
    uri = settings.resolved_mlflow_uri
    name = register_model(uri, owner=owner_id, model_id=model_id, kind="tabular")
    client = mlflow_client(uri)
    done = client.search_model_versions(f"name = '{name}' AND tags.`{KEY_TAG}` = '{key}'")
    if done:
        version = min(done, key=lambda v: int(v.version))
        run_id = str(version.run_id)
    else:
        mlflow = _mlflow(uri)
        experiment = use_experiment(mlflow, uri, f"millrace/{owner_id}/{model_id}")
        with mlflow.start_run(experiment_id=experiment, tags={**tags, KEY_TAG: key}) as run:
            mlflow.log_params(
                {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in params.items()}
            )
            mlflow.log_metrics(metrics)
            for file_name, text in artifacts.items():
                mlflow.log_text(text, file_name)
            info = mlflow.sklearn.log_model(
                estimator,
                name="model",
                serialization_format="skops",
                skops_trusted_types=trusted_types,
                pip_requirements=PIP_REQUIREMENTS,
            )
        run_id = str(run.info.run_id)
        # The key is set with the version, in one call: a crash leaves no untagged version.
        version = client.create_model_version(
            name,
            source=info.model_uri,
            run_id=run_id,
            tags={**tags, KEY_TAG: key},
            model_id=info.model_id,
        )
        crash_point("automl.after_mlflow_version")
    verdict = settle(uri, name, str(version.version), reason="automl", gate=settings.champion_gate)
    return Tracked(run_id, name, str(version.version), verdict)


def log_forecaster(
    tracking_uri: str,
    *,
    experiment: str,
    name: str,
    params: dict[str, Any],
    epochs: list[dict[str, Any]],
    files: dict[str, Path],
) -> str:
    """One MLflow run per trained candidate: params, per-epoch losses, model files (safe
    formats: state dicts, JSON), scaler and preprocess config. Returns the run id."""
    mlflow = _mlflow(tracking_uri)
    experiment_id = use_experiment(mlflow, tracking_uri, experiment)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=name, tags={"candidate": name}
    ) as run:
        mlflow.log_params(
            {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in params.items()}
        )
        for row in epochs:
            step = int(row["epoch"])
            mlflow.log_metrics({k: float(v) for k, v in row.items() if k != "epoch"}, step=step)
        for artifact_path, path in files.items():
            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path=artifact_path)
            else:
                mlflow.log_artifact(str(path), artifact_path=artifact_path)
    return str(run.info.run_id)


def register_champion(
    tracking_uri: str,
    *,
    owner: str,
    model_id: str,
    run_id: str,
    metrics: dict[str, float],
    gate: bool = True,
) -> tuple[str, str, Verdict]:
    """Register a forecasting run's ``model`` folder as a new version and put it through
    the champion/challenger gate (compared on test MASE, over the same test window when
    the run's ``config_hash`` param matches the champion's); returns the registered name,
    the version and the gate's verdict."""
    client = mlflow_client(tracking_uri)
    registered = register_model(tracking_uri, owner=owner, model_id=model_id, kind="forecasting")
    run = client.get_run(run_id)
    for key, value in metrics.items():
        client.log_metric(run_id, key, float(value))
    client.set_tag(run_id, METRIC_TAG, "mase")  # scale-free, so comparable across refits
    # The same data and preprocessing config (its hash) means the same test window.
    if held_out := run.data.params.get("config_hash"):
        client.set_tag(run_id, TEST_SET_TAG, held_out)
    version = client.create_model_version(
        registered,
        source=f"{run.info.artifact_uri}/model",
        run_id=run_id,
        tags={KIND_TAG: "forecasting"},
    )
    verdict = settle(tracking_uri, registered, str(version.version), reason="pipeline", gate=gate)
    return registered, str(version.version), verdict
