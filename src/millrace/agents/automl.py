"""The automl agent: FLAML under the journey's time budget, registered as the champion.

Forecasting journeys take the forecasting pipeline instead (``agents/forecast.py``).

The model goes to the warehouse as a version of ``<dataset_id>-automl`` (skops, never
pickle) with its leaderboard and test scores, then to MLflow as a registered model with the
``champion`` alias, and only then is ``model.uploaded`` announced.

The two stores cannot share a transaction, so the step is resumable instead: the warehouse
version records the trigger's event id, and the MLflow version records the warehouse
version (``log_tabular_model``'s key). A redelivered trigger (after a crash, or a retry
after an MLflow error) finds what is already there and finishes the rest from the stored
model; an MLflow error that outlasts the retries dead-letters the trigger, which fails the
journey step with the reason. ``model.uploaded`` goes out with the trigger's processed
mark, in one transaction, so the journey moves on only once both stores hold the model.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sqlalchemy import select

from millrace.agents.forecast import forecast_model_id, train_forecaster
from millrace.events.bus import Message
from millrace.events.runner import HandlerContext, Reject
from millrace.events.topics import Topic
from millrace.exceptions import InvalidInputError, NotFoundError
from millrace.faults import crash_point
from millrace.ml.fairness.metrics import fairness_report
from millrace.ml.gate import METRIC_TAG, TEST_SET_TAG, held_out_fingerprint
from millrace.ml.tabular.automl import train_tabular
from millrace.ml.tabular.data import check_spec, load_frame
from millrace.ml.tabular.persist import MODEL_FILE, load_package, package_files, trusted_types
from millrace.ml.tracking import log_tabular_model
from millrace.warehouse.ai_models import ModelFields, model_uploaded, upload_model
from millrace.warehouse.assets import AssetMeta, get_asset
from millrace.warehouse.db import read_scope, session_scope
from millrace.warehouse.ids import parse_version
from millrace.warehouse.models import AssetKind, OutboxEvent

__all__ = ["GROUP", "TOPICS", "handle", "model_id_for"]

GROUP = "automl"
TOPICS = [Topic.AUTOML_TRIGGER.value]


def model_id_for(dataset_id: str) -> str:
    return f"{dataset_id}-automl"[:128]


def _stored_version(ctx: HandlerContext, owner: str, model_id: str) -> int | None:
    """The model version this trigger already stored before a crash or a retry, if any."""
    with session_scope(ctx.warehouse.sessions) as session:
        try:
            asset = get_asset(session, AssetKind.MODEL, owner, model_id)
        except NotFoundError:
            return None
        mine = [
            v.version
            for v in asset.versions
            if v.attributes.get("trigger_event_id") == ctx.message.event_id
        ]
        return min(mine) if mine else None


def handle(message: Message, ctx: HandlerContext) -> None:
    started = time.monotonic()  # the budget runs from here to the model being stored
    p = message.payload
    owner, dataset_id, version = p["user_id"], p["dataset_id"], parse_version(p["version"])
    task = p.get("task_type")
    model_id = forecast_model_id(dataset_id) if task == "forecasting" else model_id_for(dataset_id)
    stored = _stored_version(ctx, owner, model_id)
    if stored is None:
        frame = load_frame(ctx.warehouse, owner, dataset_id, version)
        problem = check_spec(frame, p.get("target_column_name"), task, [])
        if problem is not None:
            raise Reject(problem.message)
        if task == "forecasting":
            train_forecaster(message, ctx, frame)
            return
        stored = _train_and_store(message, ctx, frame, started)
        crash_point("automl.after_upload")
    elif task == "forecasting":
        return  # the forecaster registers itself in MLflow before it is stored
    _register_and_announce(ctx, owner, model_id, stored)


def _train_and_store(message: Message, ctx: HandlerContext, frame: Any, started: float) -> int:
    """Train under the budget and store the model in the warehouse, unannounced.

    Reading the dataset already spent part of the budget (``started`` is the handler's
    start), so training gets what is left of it.
    """
    p = message.payload
    owner, dataset_id, version = p["user_id"], p["dataset_id"], parse_version(p["version"])
    target, task = str(p["target_column_name"]), str(p["task_type"])
    budget = float(p.get("time_budget_s") or 60)
    try:
        left = max(budget - (time.monotonic() - started), 1.0)
        trained = train_tabular(frame, target, task, left, metric=p.get("metric") or None)
    except InvalidInputError as exc:  # e.g. a metric that does not fit the task
        raise Reject(exc.detail) from exc
    sensitive = [c for c in p.get("sensitive_columns") or [] if c in frame.columns]
    model_fairness = None
    if sensitive and task == "classification":
        test = frame.iloc[trained.test_index].reset_index(drop=True)
        # What the scored model (fitted on the other 80%) predicted for these rows: the
        # served model has been refitted on them too, so its predictions here flatter it.
        pred = trained.encoder.decode_target(np.asarray(trained.test_predictions))
        try:
            model_fairness = fairness_report(
                test,
                target,
                task,
                sensitive,
                y_pred=pred,
                favorable_label=p.get("favorable_label"),
                privileged_groups=p.get("privileged_groups"),
                min_group_size=ctx.warehouse.settings.fairness_min_group_size,
            )
        except InvalidInputError as exc:  # e.g. the reference group is not in the test rows
            model_fairness = {"error": exc.detail}
    metrics: dict[str, Any] = {
        "metric": trained.metric,
        "validation_score": trained.validation_score,
        "test_scores": trained.test_scores,
        "scoring": trained.scoring_note,  # scored on the 20%, served refitted on all rows
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
        model_id=model_id_for(dataset_id),
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
            validation_accuracy=trained.validation_score if trained.metric == "accuracy" else None,
            test_accuracy=headline if is_cls else None,
        ),
        attributes={
            "trigger_event_id": message.event_id,
            "journey_id": p.get("journey_id"),
            "leaderboard_size": len(trained.leaderboard),
            **metrics,
            "best_config": trained.best_config,
            "model_fairness": model_fairness,
            "test_set": held_out_fingerprint(frame.iloc[trained.test_index]),  # for the gate
            "budget_s": budget,
            "train_and_upload_s": round(time.monotonic() - started, 3),
        },
        announce=False,
    )
    return uploaded.version


def _register_and_announce(ctx: HandlerContext, owner: str, model_id: str, version: int) -> None:
    """Register the stored version in MLflow (once) and announce it with the processed mark.

    Works from what the warehouse holds, so the first try and a resumed one do the same.
    An MLflow error propagates: the runner retries, then dead-letters (the journey fails).
    """
    wh = ctx.warehouse
    with session_scope(wh.sessions) as session:
        asset = get_asset(session, AssetKind.MODEL, owner, model_id)
        row = next(v for v in asset.versions if v.version == version)
        attrs, size = dict(row.attributes), row.size_bytes
        keys = {f.path: f.storage_key for f in row.files}
    files = {path: wh.storage.read_bytes(key) for path, key in keys.items()}
    estimator, encoder = load_package(files)
    fields = ModelFields.model_validate({k: attrs.get(k) for k in ModelFields.model_fields})
    test_scores: dict[str, float] = attrs.get("test_scores") or {}
    tracked = log_tabular_model(
        wh.settings,
        owner_id=owner,
        model_id=model_id,
        key=f"warehouse:{owner}/{model_id}/v{version}",
        estimator=estimator,
        trusted_types=trusted_types(files[MODEL_FILE]),
        params={
            "algorithm": attrs.get("algorithm"),
            "budget_s": attrs.get("budget_s"),
            **(attrs.get("best_config") or {}),
        },
        metrics={
            "validation_score": float(attrs.get("validation_score") or 0.0),
            **{f"test_{k}": float(v) for k, v in test_scores.items()},
        },
        artifacts={
            "leaderboard.json": files.get("leaderboard.json", b"[]").decode(),
            "encoder.json": encoder.to_json(),
        },
        tags={
            "dataset_id": str(fields.training_dataset),
            "dataset_version": str(fields.training_dataset_version),
            "warehouse_model_version": str(version),
            METRIC_TAG: str(attrs.get("metric") or ""),  # the gate compares on these
            TEST_SET_TAG: str(attrs.get("test_set") or ""),
        },
    )
    verdict = tracked.verdict.as_dict() if tracked.verdict else None
    payload, subject = model_uploaded(
        owner,
        model_id,
        version,
        size,
        fields,
        {"journey_id": attrs.get("journey_id"), "promotion": verdict},
        file_count=len(keys),  # a package of several files: the seed's model folder
    )
    if not _announced(ctx, subject):
        ctx.emit(payload, subject=subject)


def _announced(ctx: HandlerContext, subject: str) -> bool:
    """Announced already: the event commits with the processed mark, so it is in the outbox
    exactly when an earlier delivery finished (under this consumer group or another)."""
    with read_scope(ctx.warehouse.sessions) as session:
        found = session.scalar(
            select(OutboxEvent.offset)
            .where(OutboxEvent.topic == Topic.AUTOML.value, OutboxEvent.ce_subject == subject)
            .limit(1)
        )
    return found is not None
