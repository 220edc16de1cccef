"""MLflow: every trained model is a run, registered, and the winner carries ``champion``.

MLflow is imported lazily (it is slow to import) and pointed at the tracking URI from the
settings; the embedded default is a SQLite store in the data dir.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from millrace.ml.registry import (
    CHAMPION,
    KIND_TAG,
    mlflow_client,
    promote,
    register_model,
    registered_name,
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


@dataclass(frozen=True)
class Tracked:
    run_id: str
    registered_name: str
    registered_version: str


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


def use_experiment(mlflow: Any, tracking_uri: str, name: str) -> None:
    from mlflow.exceptions import MlflowException

    if mlflow.get_experiment_by_name(name) is None:
        try:
            mlflow.create_experiment(name, artifact_location=_child(tracking_uri, name))
        except MlflowException:
            # Candidates training in parallel race to create it; the loser uses the winner's.
            if mlflow.get_experiment_by_name(name) is None:
                raise
    mlflow.set_experiment(name)


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
    estimator: Any,
    trusted_types: list[str],
    params: dict[str, Any],
    metrics: dict[str, float],
    artifacts: dict[str, str],
    tags: dict[str, str],
) -> Tracked:
    mlflow = _mlflow(settings.resolved_mlflow_uri)
    uri = settings.resolved_mlflow_uri
    use_experiment(mlflow, uri, f"millrace/{owner_id}/{model_id}")
    name = register_model(uri, owner=owner_id, model_id=model_id, kind="tabular")
    with mlflow.start_run(tags=tags) as run:
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
            registered_model_name=name,
        )
    version = str(info.registered_model_version)
    promote(uri, name, version, reason="automl")
    return Tracked(run.info.run_id, name, version)


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
    use_experiment(mlflow, tracking_uri, experiment)
    with mlflow.start_run(run_name=name, tags={"candidate": name}) as run:
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
    registered: str,
    run_id: str,
    metrics: dict[str, float],
    owner: str = "forecast",
    model_id: str | None = None,
) -> str:
    """Register a forecasting run's ``model`` folder as a new version and promote it."""
    client = mlflow_client(tracking_uri)
    register_model(
        tracking_uri,
        owner=owner,
        model_id=model_id or registered.removeprefix("millrace.forecast."),
        kind="forecasting",
        name=registered,
    )
    run = client.get_run(run_id)
    for key, value in metrics.items():
        client.log_metric(run_id, key, float(value))
    version = client.create_model_version(
        registered,
        source=f"{run.info.artifact_uri}/model",
        run_id=run_id,
        tags={KIND_TAG: "forecasting"},
    )
    promote(tracking_uri, registered, str(version.version), reason="pipeline")
    return str(version.version)
