"""The automl agent's forecasting branch: the pipeline within the journey's budget.

The dataset version is written once to the pipeline's work folder, the runner the
settings choose (local, KFP, Kafka chain) trains and evaluates every candidate, the
champion is promoted in MLflow as ``millrace.<owner>.<dataset>-forecast``, and the
warehouse gets a model version holding everything needed to use it elsewhere: the
champion's files, the prepared series and scaler, the evaluation, and each candidate's
forecasts over the test window (for the UI's chart and the XAI report).
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from millrace.events.bus import Message
from millrace.events.runner import HandlerContext, Reject
from millrace.exceptions import ConfigError, InvalidInputError
from millrace.ml.forecasting.models import model_files
from millrace.ml.forecasting.spec import find_time_column, journey_config
from millrace.pipelines import steps
from millrace.pipelines.artifacts import Prepared, Trained
from millrace.pipelines.runners import run_pipeline
from millrace.pipelines.runners.local import PipelineRun
from millrace.warehouse.ai_models import ModelFields, upload_model
from millrace.warehouse.assets import AssetMeta
from millrace.warehouse.ids import parse_version

__all__ = ["FORECASTS_FILE", "forecast_model_id", "package", "train_forecaster"]

FORECASTS_FILE = "forecasts.jsonl"
MAX_CHART_POINTS = 2000  # per candidate: enough for a chart, small enough to store


def forecast_model_id(dataset_id: str) -> str:
    return f"{dataset_id}-forecast"[:128]


def _test_forecasts(prepared: Prepared, trained: list[Trained]) -> str:
    """Every candidate's forecasts over the test window, as the inference log's lines."""
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for candidate in trained:
            path = Path(tmp) / f"{candidate.name}.jsonl"
            steps.infer(prepared, candidate, path)
            lines.extend(path.read_text().splitlines()[-MAX_CHART_POINTS:])
    return "\n".join(lines) + "\n"


def package(run: PipelineRun) -> list[tuple[str, io.BytesIO]]:
    """The files a forecasting model version holds; paths are relative to the version."""
    assert run.evaluation is not None
    prepared = run.prepared
    champion = run.evaluation.champion_of(run.trained)
    charted = [*run.trained, *run.evaluation.built]
    files: dict[str, bytes] = {
        "prepared.json": prepared.model_dump_json(exclude={"skipped"}).encode(),
        "series.npz": (Path(prepared.uri) / "series.npz").read_bytes(),
        "scaler.json": (Path(prepared.uri) / "scaler.json").read_bytes(),
        "trained.json": champion.model_dump_json().encode(),
        "evaluation.json": run.evaluation.model_dump_json(indent=2).encode(),
        FORECASTS_FILE: _test_forecasts(prepared, charted).encode(),
    }
    for name, data in model_files(Path(champion.uri)).items():
        files[f"model/{name}"] = data
    return [(name, io.BytesIO(data)) for name, data in files.items()]


def train_forecaster(message: Message, ctx: HandlerContext, frame: pd.DataFrame) -> None:
    started = time.monotonic()
    p = message.payload
    owner, dataset_id, version = p["user_id"], p["dataset_id"], parse_version(p["version"])
    target = str(p["target_column_name"])
    budget = float(p.get("time_budget_s") or 60)
    time_col = find_time_column(frame, target)
    if time_col is None:
        raise Reject(f"no time column to forecast {target!r} along")
    cfg = journey_config(frame, target, time_col)
    settings = ctx.warehouse.settings
    data = (
        settings.home.resolve()
        / "pipelines"
        / "inputs"
        / f"{owner}"
        / f"{dataset_id}.v{version}.csv"
    )
    data.parent.mkdir(parents=True, exist_ok=True)
    frame[[time_col, target]].to_csv(data, index=False)
    model_id = forecast_model_id(dataset_id)
    try:
        runner, run = run_pipeline(settings, data, cfg, name=model_id, owner=owner, budget_s=budget)
    except (InvalidInputError, ConfigError) as exc:  # a clear reason, not a retry
        raise Reject(exc.detail) from exc
    assert run.evaluation is not None
    assert run.promotion is not None
    evaluation = run.evaluation
    best = evaluation.candidates[evaluation.champion]
    files = package(run)
    summary: dict[str, Any] = {
        "trigger_event_id": message.event_id,
        "journey_id": p.get("journey_id"),
        "runner": runner,
        "champion": evaluation.champion,
        "config": run.prepared.config,
        "windows": evaluation.windows,
        "leaderboard": [
            {
                "model": name,
                "score": c["score"],
                **{f"val_{k}": v for k, v in c["validation"].items()},
                **{f"test_{k}": v for k, v in c["test"].items()},
                "train_seconds": c["train_seconds"],
            }
            for name, c in sorted(evaluation.candidates.items(), key=lambda kv: kv[1]["score"])
        ],
        "failed_candidates": run.failed,
        "test_scores": best["test"],
        "mlflow_registered_name": run.promotion.latest.get("registered_name"),
        "mlflow_version": run.promotion.latest.get("mlflow_version"),
        "promotion": run.promotion.latest.get("verdict"),  # champion or challenger, and why
        "budget_s": budget,
        "train_and_upload_s": round(time.monotonic() - started, 3),
    }
    upload_model(
        ctx.warehouse,
        owner_id=owner,
        actor_id=owner,
        model_id=model_id,
        files=files,
        meta=AssetMeta(
            name=f"Forecaster for {dataset_id}",
            description=f"{evaluation.champion} forecasts {target} {cfg.horizon} steps ahead "
            f"(test MASE {best['test'].get('mase', float('nan')):.3f})",
        ),
        fields=ModelFields(
            framework=evaluation.champion,
            model_type="forecasting",
            algorithm=evaluation.champion,
            training_dataset=dataset_id,
            training_dataset_version=version,
        ),
        attributes=json.loads(json.dumps(summary, default=str)),
        event_extra={"journey_id": p.get("journey_id"), "promotion": summary["promotion"]},
    )
