"""Journeys: the state machine a dataset version goes through.

    needs_input -> bias -> automl -> xai -> completed        (or failed, with the reason)

Every transition happens in one transaction with the event that starts the next step (the
outbox), and is guarded by the state it leaves: a redelivered event, or a late one, finds
the journey elsewhere and changes nothing. That is what makes completion happen once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Histogram
from sqlalchemy import select
from sqlalchemy.orm import Session

from millrace.events.outbox import add_event
from millrace.events.topics import AutoMLTrigger, BiasTrigger, XAITrigger
from millrace.exceptions import ConflictError, NotFoundError
from millrace.warehouse.datasets import JourneyHints
from millrace.warehouse.ids import version_label
from millrace.warehouse.models import Journey, JourneyState, utcnow
from millrace.warehouse.seed_triggers import trigger_extras

__all__ = [
    "STEPS",
    "XAI_REPORTS_PER_JOURNEY",
    "advance_after_bias",
    "advance_after_model",
    "fail",
    "find_journey",
    "get_journey",
    "list_journeys",
    "new_journey",
    "record_xai_report",
    "retry",
    "set_spec",
    "start",
]

STEPS = ("bias", "automl", "xai")
XAI_REPORTS_PER_JOURNEY = 4  # model/data explanation x beginner/expert
DEFAULT_BUDGET_S = 60.0
# Observed where a step ends (in the core agent's process), before its transaction
# commits: a rolled-back transition that is later redone can count twice.
STEP_SECONDS = Histogram(
    "millrace_journey_step_duration_seconds",
    "Wall time of a journey step, from its trigger to done or failed",
    ("step", "outcome"),
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)


def _now() -> str:
    return utcnow().isoformat()


def _observe(step: str, record: dict[str, Any], outcome: str) -> None:
    try:
        started = datetime.fromisoformat(str(record["started_at"]))
    except (KeyError, ValueError):  # a step without a readable start: nothing to time
        return
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    elapsed = (utcnow() - started).total_seconds()
    STEP_SECONDS.labels(step, outcome).observe(max(elapsed, 0.0))


def _locked(session: Session, journey_id: str) -> Journey | None:
    stmt = select(Journey).where(Journey.id == journey_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def get_journey(session: Session, owner_id: str | None, journey_id: str) -> Journey:
    journey = _locked(session, journey_id)
    if journey is None or (owner_id is not None and journey.owner_id != owner_id):
        raise NotFoundError(f"journey {journey_id!r} not found")
    return journey


def find_journey(session: Session, owner_id: str, dataset_id: str, version: int) -> Journey | None:
    return session.scalars(
        select(Journey).where(
            Journey.owner_id == owner_id,
            Journey.dataset_id == dataset_id,
            Journey.dataset_version == version,
        )
    ).one_or_none()


def list_journeys(
    session: Session, owner_id: str | None, dataset_id: str | None = None, limit: int = 50
) -> list[Journey]:
    stmt = select(Journey).order_by(Journey.created_at.desc()).limit(limit)
    if owner_id is not None:
        stmt = stmt.where(Journey.owner_id == owner_id)
    if dataset_id is not None:
        stmt = stmt.where(Journey.dataset_id == dataset_id)
    return list(session.scalars(stmt))


def new_journey(
    session: Session, *, owner_id: str, dataset_id: str, version: int, hints: JourneyHints
) -> Journey:
    """Create the journey for a dataset version (or return the one that exists)."""
    existing = find_journey(session, owner_id, dataset_id, version)
    if existing is not None:
        return existing
    journey = Journey(
        id=uuid.uuid4().hex,
        owner_id=owner_id,
        dataset_id=dataset_id,
        dataset_version=version,
        state=JourneyState.NEEDS_INPUT.value,
        target_column=hints.target_column,
        task_type=hints.task_type,
        sensitive_columns=list(hints.sensitive_columns),
        time_budget_s=hints.time_budget_s or DEFAULT_BUDGET_S,
        favorable_label=hints.favorable_label,
        privileged_groups=dict(hints.privileged_groups) or None,
        metric=hints.metric,
        steps={s: {"state": "pending"} for s in STEPS},
    )
    session.add(journey)
    session.flush()
    return journey


def set_spec(journey: Journey, hints: JourneyHints, *, inferred_task: str | None = None) -> None:
    """Apply what the user gave; only while the journey still waits for input."""
    if journey.state != JourneyState.NEEDS_INPUT.value:
        raise ConflictError(f"journey {journey.id} is {journey.state}; its spec is fixed now")
    fields = hints.model_dump(exclude_unset=True)
    if "target_column" in fields:
        journey.target_column = hints.target_column
    if "task_type" in fields and hints.task_type:
        journey.task_type, journey.task_type_inferred = hints.task_type, False
    if "sensitive_columns" in fields:
        journey.sensitive_columns = list(hints.sensitive_columns)
    if "time_budget_s" in fields and hints.time_budget_s:
        journey.time_budget_s = hints.time_budget_s
    if "external_steps" in fields:
        journey.steps = {
            s: {**journey.steps.get(s, {}), "external": s in hints.external_steps} for s in STEPS
        }
    if "favorable_label" in fields:
        journey.favorable_label = hints.favorable_label
    if "privileged_groups" in fields:
        journey.privileged_groups = dict(hints.privileged_groups) or None
    if "metric" in fields:
        journey.metric = hints.metric
    if journey.task_type is None and inferred_task is not None:
        journey.task_type, journey.task_type_inferred = inferred_task, True
    journey.updated_at = utcnow()


def _enter(journey: Journey, step: str) -> None:
    journey.state = step
    journey.steps = {
        **journey.steps,
        step: {
            **journey.steps.get(step, {}),
            "state": "running",
            "started_at": _now(),
            "error": None,
        },
    }
    journey.updated_at = utcnow()


def _leave(journey: Journey, step: str, outputs: dict[str, Any]) -> None:
    current = journey.steps.get(step, {})
    _observe(step, current, "done")
    journey.steps = {
        **journey.steps,
        step: {
            **current,
            "state": "done",
            "finished_at": _now(),
            "outputs": {**current.get("outputs", {}), **outputs},
        },
    }


def _subject(journey: Journey) -> str:
    return f"journeys/{journey.id}"


def start(session: Session, journey: Journey) -> None:
    """needs_input -> bias, emitting the bias trigger with it."""
    journey.reason = None
    _enter(journey, JourneyState.BIAS.value)
    _emit_trigger(session, journey, "bias")


def _emit_trigger(session: Session, journey: Journey, step: str) -> None:
    common: dict[str, Any] = {
        "user_id": journey.owner_id,
        "dataset_id": journey.dataset_id,
        "version": version_label(journey.dataset_version),
        "journey_id": journey.id,
    }
    hints: dict[str, Any] = {
        "target_column_name": journey.target_column,
        "task_type": journey.task_type,
        "sensitive_columns": journey.sensitive_columns,
        "time_budget_s": journey.time_budget_s,
        "favorable_label": journey.favorable_label,
        "privileged_groups": journey.privileged_groups,
        "metric": journey.metric,
    }
    if step == "bias":
        seed = trigger_extras(session, journey, "bias")
        add_event(session, BiasTrigger(**common, **hints, **seed), subject=_subject(journey))
    elif step == "automl":
        bias = journey.steps.get("bias", {}).get("outputs", {})
        add_event(
            session,
            AutoMLTrigger(
                **common,
                **hints,
                **trigger_extras(session, journey, "automl"),
                bias_report_id=bias.get("bias_report_id"),
            ),
            subject=_subject(journey),
        )
    else:
        model = journey.steps.get("automl", {}).get("outputs", {})
        add_event(
            session,
            XAITrigger(
                user_id=journey.owner_id,
                dataset_id=journey.dataset_id,
                journey_id=journey.id,
                model_id=model["model_id"],
                version=version_label(model["model_version"]),
                framework=model.get("framework"),
                model_type=journey.task_type,
                **trigger_extras(session, journey, "xai", model),
            ),
            subject=_subject(journey),
        )


def advance_after_bias(session: Session, journey: Journey, bias_report_id: str) -> bool:
    if journey.state != JourneyState.BIAS.value:
        return False
    _leave(journey, "bias", {"bias_report_id": bias_report_id})
    _enter(journey, JourneyState.AUTOML.value)
    _emit_trigger(session, journey, "automl")
    return True


def advance_after_model(
    session: Session,
    journey: Journey,
    *,
    model_id: str,
    model_version: int,
    framework: str | None,
    metrics: dict[str, Any],
) -> bool:
    if journey.state != JourneyState.AUTOML.value:
        return False
    _leave(
        journey,
        "automl",
        {"model_id": model_id, "model_version": model_version, "framework": framework, **metrics},
    )
    _enter(journey, JourneyState.XAI.value)
    _emit_trigger(session, journey, "xai")
    return True


def record_xai_report(
    session: Session,
    journey: Journey,
    report_id: str,
    kind: str,
    expected: int = XAI_REPORTS_PER_JOURNEY,
) -> bool:
    """Add a report; the last expected one completes the journey (exactly once). A partner
    explains at the one level it was asked for, so it owes ``expected=2`` reports."""
    if journey.state != JourneyState.XAI.value:
        return False
    outputs = journey.steps.get("xai", {}).get("outputs", {})
    reports = {**outputs.get("reports", {}), kind: report_id}
    journey.steps = {
        **journey.steps,
        "xai": {**journey.steps["xai"], "outputs": {"reports": reports}},
    }
    if len(reports) >= expected:
        _leave(journey, "xai", {})
        journey.state = JourneyState.COMPLETED.value
        journey.completed_at = utcnow()
    journey.updated_at = utcnow()
    return True


def fail(journey: Journey, step: str | None, reason: str) -> None:
    if journey.state in {JourneyState.COMPLETED.value, JourneyState.FAILED.value}:
        return
    step = step or journey.state
    if step in journey.steps:
        _observe(step, journey.steps[step], "failed")
        journey.steps = {
            **journey.steps,
            step: {
                **journey.steps[step],
                "state": "failed",
                "finished_at": _now(),
                "error": reason,
            },
        }
    journey.failed_step = step if step in STEPS else None
    journey.state = JourneyState.FAILED.value
    journey.reason = reason
    journey.updated_at = utcnow()


def retry(session: Session, journey: Journey) -> None:
    """Resume a failed journey at its failed step, with a fresh trigger event. One that
    failed before any step goes back to needs_input, for its spec to be checked again."""
    if journey.state != JourneyState.FAILED.value:
        raise ConflictError(f"journey {journey.id} is {journey.state}; only failed ones retry")
    step = journey.failed_step
    if step is None:
        journey.state = JourneyState.NEEDS_INPUT.value
        journey.reason = None
        return
    journey.failed_step = None
    journey.reason = None
    _enter(journey, step)
    _emit_trigger(session, journey, step)
