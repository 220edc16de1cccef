"""The automl agent: FLAML under the journey's time budget, registered as the champion.

Forecasting journeys take the forecasting pipeline instead (``agents/forecast.py``).

The model goes to the warehouse as a version of ``<dataset_id>-automl`` (skops, never
pickle) with its leaderboard and test scores, to MLflow as a registered model with the
``champion`` alias, and ``model.uploaded`` follows from the warehouse.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from millrace.agents.forecast import forecast_model_id, train_forecaster
from millrace.events.bus import Message
from millrace.events.runner import HandlerContext, Reject
from millrace.events.topics import Topic
from millrace.ml.fairness.metrics import fairness_report
from millrace.ml.tabular.automl import train_tabular
from millrace.ml.tabular.data import check_spec, load_frame
from millrace.ml.tabular.persist import package_files, trusted_types
from millrace.ml.tracking import log_tabular_model
from millrace.warehouse.ai_models import ModelFields, upload_model
from millrace.warehouse.assets import AssetMeta, get_asset
from millrace.warehouse.db import session_scope
from millrace.warehouse.ids import parse_version
from millrace.warehouse.models import AssetKind

__all__ = ["GROUP", "TOPICS", "handle", "model_id_for"]

GROUP = "automl"
TOPICS = [Topic.AUTOML_TRIGGER.value]
log = logging.getLogger("millrace.agents.automl")


def model_id_for(dataset_id: str) -> str:
    return f"{dataset_id}-automl"[:128]


def _already_trained(ctx: HandlerContext, owner: str, model_id: str) -> bool:
    """A redelivered trigger whose model was uploaded before a crash: nothing to redo."""
    from millrace.exceptions import NotFoundError

    with session_scope(ctx.warehouse.sessions) as session:
        try:
            asset = get_asset(session, AssetKind.MODEL, owner, model_id)
        except NotFoundError:
            return False
        return any(
            v.attributes.get("trigger_event_id") == ctx.message.event_id for v in asset.versions
        )


def handle(message: Message, ctx: HandlerContext) -> None:
    started = time.monotonic()
    p = message.payload
    owner, dataset_id, version = p["user_id"], p["dataset_id"], parse_version(p["version"])
    target, task = p.get("target_column_name"), p.get("task_type")
    budget = float(p.get("time_budget_s") or 60)
    model_id = forecast_model_id(dataset_id) if task == "forecasting" else model_id_for(dataset_id)
    if _already_trained(ctx, owner, model_id):
        return
    frame = load_frame(ctx.warehouse, owner, dataset_id, version)
    problem = check_spec(frame, target, task, [])
    if problem is not None:
        raise Reject(problem.message)
    assert target is not None
    assert task is not None
    if task == "forecasting":
        train_forecaster(message, ctx, frame)
        return
    trained = train_tabular(frame, target, task, budget)
    x = trained.encoder.transform(frame.iloc[trained.test_index])
    sensitive = [c for c in p.get("sensitive_columns") or [] if c in frame.columns]
    model_fairness = None
    if sensitive and task == "classification":
        test = frame.iloc[trained.test_index].reset_index(drop=True)
        pred = trained.encoder.decode_target(trained.estimator.predict(x))
        model_fairness = fairness_report(test, target, task, sensitive, y_pred=pred)
    metrics: dict[str, Any] = {
        "metric": trained.metric,
        "validation_score": trained.validation_score,
        "test_scores": trained.test_scores,
    }
    files = package_files(
        trained.estimator,
        trained.encoder,
        {
            "leaderboard.json": trained.leaderboard,
            "metrics.json": metrics,
            "model_fairness.json": model_fairness,
        },
    )
    headline = trained.headline
    is_cls = task == "classification"
    uploaded = upload_model(
        ctx.warehouse,
        owner_id=owner,
        actor_id=owner,
        model_id=model_id,
        files=files,
        meta=AssetMeta(
            name=f"AutoML model for {dataset_id}",
            description=f"FLAML {trained.algorithm}, {trained.metric} "
            f"{trained.validation_score} (validation)",
        ),
        fields=ModelFields(
            framework=trained.algorithm,
            model_type=task,
            algorithm=trained.algorithm,
            training_dataset=dataset_id,
            training_dataset_version=version,
            validation_accuracy=trained.validation_score if is_cls else None,
            test_accuracy=headline if is_cls else None,
        ),
        attributes={
            "trigger_event_id": message.event_id,
            "journey_id": p.get("journey_id"),
            "leaderboard_size": len(trained.leaderboard),
            **metrics,
            "best_config": trained.best_config,
            "model_fairness": model_fairness,
            "budget_s": budget,
            "train_and_upload_s": round(time.monotonic() - started, 3),
        },
        event_extra={"journey_id": p.get("journey_id")},
    )
    try:
        blob = next(f for n, f in files if n == "model.skops").getvalue()
        log_tabular_model(
            ctx.warehouse.settings,
            owner_id=owner,
            model_id=model_id,
            estimator=trained.estimator,
            trusted_types=trusted_types(blob),
            params={"algorithm": trained.algorithm, "budget_s": budget, **trained.best_config},
            metrics={
                "validation_score": trained.validation_score,
                **{f"test_{k}": v for k, v in trained.test_scores.items()},
            },
            artifacts={
                "leaderboard.json": json.dumps(trained.leaderboard, default=str),
                "encoder.json": trained.encoder.to_json(),
            },
            tags={
                "dataset_id": dataset_id,
                "dataset_version": str(version),
                "warehouse_model_version": str(uploaded.version),
            },
        )
    except Exception:
        # The model is stored and announced; tracking is best effort and logged loudly.
        log.exception("MLflow logging failed for %s v%s", model_id, uploaded.version)
