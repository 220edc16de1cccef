"""Runners own transport and parallelism; every one calls the same step functions.

``run_pipeline`` picks one from the settings, by seed 000's flags:

- ``USE_KAFKA=1``: the stages chained over Kafka topics (needs a Kafka event bus);
- ``USE_KFP=1`` and ``MILLRACE_KFP_HOST=local``: the compiled KFP pipeline, run here by
  ``kfp.local``;
- otherwise the in-process local runner. ``USE_KFP=1`` (the default) with no KFP host
  configured lands here too, and the run records that it did, because there is no
  cluster to send it to; ``millrace pipeline submit`` sends a compiled pipeline to one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from millrace.exceptions import ConfigError
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines.runners.local import DEFAULT_MODELS, PipelineRun, Progress, run_local
from millrace.settings import Settings

__all__ = ["run_pipeline", "runner_kind"]


def runner_kind(settings: Settings) -> str:
    if settings.use_kafka:
        if settings.kafka_bootstrap is None:
            raise ConfigError(
                "USE_KAFKA=1 chains the pipeline over Kafka: set MILLRACE_EVENT_BUS=kafka://host:port"
            )
        return "kafka"
    if settings.use_kfp and settings.kfp_host == "local":
        return "kfp-local"
    if settings.use_kfp and settings.kfp_host:
        raise ConfigError(
            "journeys cannot wait on a remote KFP cluster yet; use MILLRACE_KFP_HOST=local, "
            "or 'millrace pipeline submit' for a one-off run on the cluster"
        )
    return "local"


def run_pipeline(
    settings: Settings,
    data: Path,
    cfg: PreprocessConfig,
    *,
    name: str,
    owner: str | None = None,
    models: Sequence[str] = DEFAULT_MODELS,
    budget_s: float | None = None,
    progress: Progress = lambda _s, _t: None,
) -> tuple[str, PipelineRun]:
    """Run the pipeline where the settings say; returns (runner name, run)."""
    kind = runner_kind(settings)
    work = settings.home.resolve() / "pipelines"
    tracking = settings.resolved_mlflow_uri
    common = {
        "name": name,
        "models": models,
        "budget_s": budget_s,
        "tracking_uri": tracking,
        "progress": progress,
    }
    if kind == "kafka":
        from millrace.pipelines.runners.kafka import run_kafka_chain

        assert settings.kafka_bootstrap is not None
        return kind, run_kafka_chain(
            data, cfg, work, bootstrap=settings.kafka_bootstrap, owner=owner, **common
        )
    if kind == "kfp-local":
        from millrace.pipelines.runners.kfp_local import run_kfp_local

        return kind, run_kfp_local(data, cfg, work, owner=owner, **common)
    return kind, run_local(data, cfg, work, owner=owner, **common)
