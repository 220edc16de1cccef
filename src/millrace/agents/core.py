"""The core agent: the journey's orchestrator.

dataset.uploaded opens a journey (and starts it if the spec is complete), a bias report
moves it to AutoML, a model to XAI, and the fourth XAI report completes it. Each step is a
guarded transition written with the next trigger in one transaction (see journeys.py).

Millrace's own agents name the journey in what they post; seed 004's partners do not, so a
post without a ``journey_id`` goes to the journey of its owner and dataset waiting at that
step (see partner_steps.py). A model or XAI report matched that way moves only a step left
to a partner: a user's unrelated upload must not overtake Millrace's own AutoML run.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from millrace.agents.partner_steps import PARTNER_XAI_REPORTS, find_waiting, is_partner_step
from millrace.events.bus import Message
from millrace.events.runner import HandlerContext
from millrace.events.topics import Topic
from millrace.settings import Settings
from millrace.warehouse import journeys
from millrace.warehouse.datasets import JourneyHints
from millrace.warehouse.db import session_scope
from millrace.warehouse.ids import parse_version
from millrace.warehouse.journey_setup import configure_journey
from millrace.warehouse.models import Journey

__all__ = ["GROUP", "TOPICS", "handle"]

GROUP = "core"
TOPICS = [Topic.DATASET.value, Topic.BIAS.value, Topic.AUTOML.value, Topic.XAI.value]


def handle(message: Message, ctx: HandlerContext) -> None:
    p = message.payload
    wh = ctx.warehouse
    if message.topic == Topic.DATASET.value:
        given = {
            "target_column": p.get("target_column_name"),
            "task_type": p.get("task_type"),
            "sensitive_columns": p.get("sensitive_columns") or [],
            "time_budget_s": p.get("time_budget_s"),
            "external_steps": p.get("external_steps"),
            "favorable_label": p.get("favorable_label"),
            "privileged_groups": p.get("privileged_groups"),
            "metric": p.get("metric"),
        }
        hints = JourneyHints(**{k: v for k, v in given.items() if v not in (None, [], {})})
        configure_journey(
            wh,
            owner_id=p["user_id"],
            dataset_id=p["dataset_id"],
            version=parse_version(p["version"]),
            hints=hints,
            redelivery_safe=True,
        )
        return
    step = {Topic.BIAS.value: "bias", Topic.AUTOML.value: "automl", Topic.XAI.value: "xai"}
    with session_scope(wh.sessions) as session:
        journey = _journey_of(session, p, step[message.topic], wh.settings)
        if journey is None:
            return  # a report or model posted outside any journey
        if message.topic == Topic.BIAS.value:
            journeys.advance_after_bias(session, journey, p["bias_report_id"])
        elif message.topic == Topic.AUTOML.value:
            journeys.advance_after_model(
                session,
                journey,
                model_id=p["model_id"],
                model_version=parse_version(p["version"]),
                framework=p.get("framework"),
                # "promotion": the champion/challenger gate's verdict (Millrace's AutoML)
                metrics={
                    k: p.get(k) for k in ("validation_accuracy", "test_accuracy", "promotion")
                },
            )
        elif message.topic == Topic.XAI.value:
            partner = is_partner_step(journey, "xai", wh.settings) and not p.get("journey_id")
            journeys.record_xai_report(
                session,
                journey,
                p["xai_report_id"],
                f"{p['report_type']}/{p['level']}",
                expected=PARTNER_XAI_REPORTS if partner else journeys.XAI_REPORTS_PER_JOURNEY,
            )


def _journey_of(
    session: Session, p: dict[str, object], step: str, settings: Settings
) -> Journey | None:
    """The journey a post answers, locked: the one it names, or the one waiting for it."""
    journey_id = p.get("journey_id")
    if journey_id:
        found = session.get(Journey, journey_id)
        return journeys.get_journey(session, None, found.id) if found is not None else None
    user_id, dataset_id = p.get("user_id"), p.get("dataset_id")
    if not isinstance(user_id, str) or not isinstance(dataset_id, str):
        return None  # a model uploaded without training_dataset belongs to no journey
    # Only bias reports carry the dataset version; a model's ``version`` is its own.
    version = p.get("version") if step == "bias" else None
    journey = find_waiting(
        session, user_id, dataset_id, step, str(version) if version is not None else None
    )
    if journey is None or (step != "bias" and not is_partner_step(journey, step, settings)):
        return None
    model = journey.steps.get("automl", {}).get("outputs", {}).get("model_id")
    if step == "xai" and model is not None and p.get("model_id") != model:
        return None  # a report on another model of the same dataset
    return journey
