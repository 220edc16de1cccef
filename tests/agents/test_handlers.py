"""Each agent's handler on its own: an event in, stored results and new events out."""

from __future__ import annotations

import io
import pickle

import pytest
from sqlalchemy import select

from millrace.agents import automl, bias, core, xai
from millrace.events.bus import Message
from millrace.events.embedded import to_message
from millrace.events.outbox import add_event
from millrace.events.runner import Handler, HandlerContext, Reject
from millrace.warehouse.ai_models import ModelFields, upload_model
from millrace.warehouse.assets import AssetMeta
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import OutboxEvent, Report
from tests.agents.world import World, diabetes_frame


def _last(world: World, topic: str) -> Message:
    with session_scope(world.wh.sessions) as session:
        rows = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.topic == topic)
            .order_by(OutboxEvent.offset.desc())
        ).all()
    row = next(r for r in rows if r.payload.get("user_id") == world.user_id)
    return to_message(row)


def _ctx(world: World, message: Message) -> HandlerContext:
    return HandlerContext(world.wh, message, attempt=1, group="test")


def _handled(world: World, handler: Handler, message: Message) -> HandlerContext:
    """Run a handler, then publish what it emitted, as the runner's finish step does."""
    ctx = _ctx(world, message)
    handler(message, ctx)
    with session_scope(world.wh.sessions) as session:
        for payload, subject, topic in ctx.emitted:
            add_event(session, payload, subject=subject, topic=topic)
    return ctx


def test_handlers_chain_from_upload_to_xai(world: World) -> None:
    dataset_id = world.upload(
        diabetes_frame(), target_column="high_risk", sensitive_columns=["sex"], time_budget_s=3
    )
    uploaded = _last(world, "dataset-events")
    core.handle(uploaded, _ctx(world, uploaded))
    trigger = _last(world, "bias-trigger-events")
    assert trigger.payload["dataset_id"] == dataset_id
    assert trigger.payload["task_type"] == "classification"  # inferred from the labels
    assert trigger.payload["sensitive_columns"] == ["sex"]

    bias.handle(trigger, _ctx(world, trigger))
    bias.handle(trigger, _ctx(world, trigger))  # the same event again: still one report
    announced = _last(world, "bias-events")
    with session_scope(world.wh.sessions) as session:
        assert (
            len(
                session.scalars(
                    select(Report).where(Report.owner_id == world.user_id, Report.kind == "bias")
                ).all()
            )
            == 1
        )
    assert announced.payload["journey_id"] == trigger.payload["journey_id"]

    core.handle(announced, _ctx(world, announced))
    train = _last(world, "automl-trigger-events")
    first = _handled(world, automl.handle, train)
    again = _handled(world, automl.handle, train)  # redelivered: no second model version
    assert len(first.emitted) == 1  # announced with the processed mark, once
    assert again.emitted == []
    model = _last(world, "automl-events")
    assert model.payload["model_id"] == f"{dataset_id}-automl"
    assert model.payload["version"] == "v1"
    assert model.key == f"{world.user_id}_{dataset_id}-automl"

    core.handle(model, _ctx(world, model))
    explain = _last(world, "xai-trigger-events")
    assert explain.payload["source_event"] == "model.uploaded"
    xai.handle(explain, _ctx(world, explain))
    with session_scope(world.wh.sessions) as session:
        reports = session.scalars(
            select(Report).where(Report.owner_id == world.user_id, Report.kind == "xai")
        ).all()
    assert {(r.report_type, r.level) for r in reports} == {
        ("model_explanation", "beginner"),
        ("model_explanation", "expert"),
        ("data_explanation", "beginner"),
        ("data_explanation", "expert"),
    }


def test_xai_never_loads_an_uploaded_pickle(world: World) -> None:
    dataset_id = world.upload(diabetes_frame())

    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("this must never run",))

    upload_model(
        world.wh,
        owner_id=world.user_id,
        actor_id=world.user_id,
        model_id="sneaky",
        files=[("model.pkl", io.BytesIO(pickle.dumps(Boom())))],
        meta=AssetMeta(),
        fields=ModelFields(training_dataset=dataset_id, model_type="classification"),
    )
    message = Message(
        topic="xai-trigger-events",
        key="k",
        event_id="e1",
        payload={
            "user_id": world.user_id,
            "model_id": "sneaky",
            "version": "v1",
            "dataset_id": dataset_id,
        },
        attributes={},
        offset=1,
    )
    with pytest.raises(Reject, match=r"pickle-like files \(model\.pkl\), which are never loaded"):
        xai.handle(message, _ctx(world, message))


def test_bias_rejects_a_trigger_without_target(world: World) -> None:
    message = Message(
        topic="bias-trigger-events",
        key="k",
        event_id="e2",
        payload={"user_id": world.user_id, "dataset_id": "x", "version": "v1"},
        attributes={},
        offset=1,
    )
    with pytest.raises(Reject, match="no target column"):
        bias.handle(message, _ctx(world, message))
