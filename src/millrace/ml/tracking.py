"""MLflow: every trained model is a run, registered, and the winner carries ``champion``.

MLflow is imported lazily (it is slow to import) and pointed at the tracking URI from the
settings; the embedded default is a SQLite store in the data dir.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from millrace.settings import Settings

__all__ = ["CHAMPION", "Tracked", "log_tabular_model", "warm_up"]

CHAMPION = "champion"
PIP_REQUIREMENTS = ["scikit-learn", "lightgbm", "xgboost", "skops", "pandas", "numpy"]


@dataclass(frozen=True)
class Tracked:
    run_id: str
    registered_name: str
    registered_version: str


def _mlflow(settings: Settings) -> Any:
    import mlflow

    mlflow.set_tracking_uri(settings.resolved_mlflow_uri)
    return mlflow


def warm_up(settings: Settings) -> None:
    """Create or migrate the tracking store now, not inside a time-boxed training step."""
    _mlflow(settings).search_experiments(max_results=1)


def registered_name(owner_id: str, model_id: str) -> str:
    return f"millrace.{owner_id}.{model_id}"


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
    mlflow = _mlflow(settings)
    from mlflow.tracking import MlflowClient

    mlflow.set_experiment(f"millrace/{owner_id}/{model_id}")
    name = registered_name(owner_id, model_id)
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
    MlflowClient().set_registered_model_alias(name, CHAMPION, version)
    return Tracked(run.info.run_id, name, version)
