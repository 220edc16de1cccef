"""The core agent: the journey's orchestrator.

dataset.uploaded opens a journey (and starts it if the spec is complete), a bias report
moves it to AutoML, a model to XAI, and the fourth XAI report completes it. Each step is a
guarded transition written with the next trigger in one transaction (see journeys.py).
"""

from __future__ import annotations

from millrace.events.bus import Message
from millrace.events.runner import HandlerContext
from millrace.events.topics import Topic
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
    with session_scope(wh.sessions) as session:
        if message.topic == Topic.BIAS.value:
            found = journeys.find_journey(
                session, p["user_id"], p["dataset_id"], parse_version(p["version"])
            )
            if found is not None:
                journey = journeys.get_journey(session, None, found.id)
                journeys.advance_after_bias(session, journey, p["bias_report_id"])
            return
        journey_id = p.get("journey_id")
        journey = session.get(Journey, journey_id) if journey_id else None
        if journey is None:
            return  # a model or report uploaded outside any journey
        journey = journeys.get_journey(session, None, journey.id)
        if message.topic == Topic.AUTOML.value:
            journeys.advance_after_model(
                session,
                journey,
                model_id=p["model_id"],
                model_version=parse_version(p["version"]),
                framework=p.get("framework"),
                metrics={k: p.get(k) for k in ("validation_accuracy", "test_accuracy")},
            )
        elif message.topic == Topic.XAI.value:
            journeys.record_xai_report(
                session, journey, p["xai_report_id"], f"{p['report_type']}/{p['level']}"
            )
