"""Journey steps left to partner agents, on the embedded bus with Millrace's real agents.

The partner's side is what seed 004's routes do with a partner's post (a bias report, a
model with ``training_dataset``, XAI reports), through the same service functions and so
the same events; none of it names the journey. The Kafka version, with partner consumers
calling the routes over HTTP, is tests/agents/test_partner_kafka.py.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from millrace.agents.partner_steps import expire_partner_steps
from millrace.settings import Settings
from millrace.warehouse.ai_models import ModelFields, upload_model
from millrace.warehouse.assets import AssetMeta
from millrace.warehouse.context import Warehouse
from millrace.warehouse.datasets import JourneyHints
from millrace.warehouse.db import session_scope
from millrace.warehouse.journey_setup import configure_journey
from millrace.warehouse.models import Asset, AssetKind, OutboxEvent, ReportKind, utcnow
from millrace.warehouse.reports import create_json_report, create_xai_report
from tests.agents.world import World, diabetes_frame, new_world
from tests.conftest import Backend

HINTS = {"target_column": "high_risk", "sensitive_columns": ["sex"], "time_budget_s": 3}


def _world(backend: Backend, **settings: object) -> Iterator[World]:
    wh = Warehouse.open(backend.settings().model_copy(update=settings))
    try:
        yield new_world(wh)
    finally:
        wh.close()


@pytest.fixture
def partners_train(backend: Backend) -> Iterator[World]:
    """AutoML and XAI left to partners for the deployment: MILLRACE_AGENTS=core,bias."""
    yield from _world(backend, agents="core,bias")


@pytest.fixture
def no_automl(backend: Backend) -> Iterator[World]:
    """Only AutoML left to a partner: MILLRACE_AGENTS=core,bias,xai."""
    yield from _world(backend, agents="core,bias,xai")


@pytest.fixture
def short_wait(backend: Backend) -> Iterator[World]:
    # Long enough that a loaded machine settles the journey before it; the test then
    # jumps the clock past it.
    yield from _world(backend, agents="core,bias,xai", partner_step_timeout_s=300.0)


def _settle(world: World, dataset_id: str) -> str:
    """Run every agent (those MILLRACE_AGENTS leaves out skip their triggers) until quiet."""
    while world.run_agents():
        pass
    return world.journey(dataset_id).state


def _partner_model(world: World, dataset_id: str, model_id: str = "partner-model") -> None:
    upload_model(
        world.wh,
        owner_id=world.user_id,
        actor_id=world.user_id,
        model_id=model_id,
        files=[("model.onnx", io.BytesIO(b"not a real model, never loaded here"))],
        meta=AssetMeta(name="AutoML Model"),
        fields=ModelFields(
            training_dataset=dataset_id, model_type="classification", training_accuracy=0.9
        ),
    )


def _partner_xai(world: World, dataset_id: str, model_id: str, report_type: str) -> None:
    create_xai_report(
        world.wh,
        owner_id=world.user_id,
        dataset_id=dataset_id,
        dataset_version=None,
        model_id=model_id,
        report_type=report_type,
        level="expert",
        html=io.BytesIO(b"<html>explained</html>"),
    )


def test_partners_train_and_explain_when_millrace_agents_leave_them_out(
    partners_train: World,
) -> None:
    world = partners_train
    dataset_id = world.upload(diabetes_frame(), **HINTS)
    assert _settle(world, dataset_id) == "automl"  # bias done by Millrace, AutoML waits
    with session_scope(world.wh.sessions) as session:
        (trigger,) = session.scalars(
            select(OutboxEvent).where(
                OutboxEvent.topic == "automl-trigger-events", OutboxEvent.key == dataset_id
            )
        ).all()
        models = session.scalars(select(Asset).where(Asset.kind == AssetKind.MODEL.value))
        assert [m for m in models if m.owner_id == world.user_id] == []  # Millrace trained none
    assert trigger.payload["time_budget"] == "0.05"

    _partner_model(world, dataset_id)
    assert _settle(world, dataset_id) == "xai"
    assert world.journey(dataset_id).steps["automl"]["outputs"]["model_id"] == "partner-model"
    for report_type in ("model_explanation", "data_explanation"):
        _partner_xai(world, dataset_id, "partner-model", report_type)
    state = _settle(world, dataset_id)
    journey = world.journey(dataset_id)
    assert state == "completed", journey.reason
    assert len(journey.steps["xai"]["outputs"]["reports"]) == 2


def test_millraces_xai_says_why_it_cannot_explain_a_partner_model(no_automl: World) -> None:
    world = no_automl
    dataset_id = world.upload(diabetes_frame(), **HINTS)
    assert _settle(world, dataset_id) == "automl"
    _partner_model(world, dataset_id)
    assert _settle(world, dataset_id) == "failed"
    journey = world.journey(dataset_id)
    assert journey.failed_step == "xai" and journey.reason is not None
    assert "no loadable model: expected a Millrace package" in journey.reason


def test_partner_bias_and_xai_for_one_journey(world: World) -> None:
    """Per journey: ``external_steps`` gives bias and XAI to partners, AutoML stays."""
    dataset_id = world.upload(diabetes_frame(), external_steps=["bias", "xai"], **HINTS)
    assert _settle(world, dataset_id) == "bias"  # Millrace's bias agent left it alone
    with session_scope(world.wh.sessions) as session:
        reports = session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "bias-events")
        ).all()
        assert [r for r in reports if r.payload["user_id"] == world.user_id] == []
    # The seed's bias detector posts user, dataset and report; no version, no journey.
    create_json_report(
        world.wh,
        kind=ReportKind.BIAS,
        owner_id=world.user_id,
        dataset_id=dataset_id,
        dataset_version=None,
        content={"shape": [442, 11], "columns": list(diabetes_frame().columns)},
        target_column="high_risk",
        task_type="classification",
    )
    assert _settle(world, dataset_id) == "xai"  # Millrace's AutoML ran; XAI waits
    model_id = world.journey(dataset_id).steps["automl"]["outputs"]["model_id"]
    _partner_model(world, dataset_id, "another-model")  # not the journey's: no effect
    _partner_xai(world, dataset_id, "another-model", "model_explanation")
    _partner_xai(world, dataset_id, model_id, "model_explanation")
    assert _settle(world, dataset_id) == "xai"  # one of the two reports a partner owes
    _partner_xai(world, dataset_id, model_id, "data_explanation")
    assert _settle(world, dataset_id) == "completed"
    assert set(world.journey(dataset_id).steps["xai"]["outputs"]["reports"]) == {
        "model_explanation/expert",
        "data_explanation/expert",
    }


def test_an_unasked_model_does_not_overtake_millraces_automl(world: World) -> None:
    """With AutoML Millrace's own, a model uploaded for the dataset is just a model."""
    dataset_id = world.upload(diabetes_frame(), **HINTS)
    world.run_agents(rounds=2, only=("core", "bias"))
    assert world.journey(dataset_id).state == "automl"
    _partner_model(world, dataset_id, "unasked")
    world.run_agents(only=("core",))
    journey = world.journey(dataset_id)
    assert journey.state == "automl" and "outputs" not in journey.steps["automl"]


def test_a_partner_step_times_out_with_the_reason(short_wait: World) -> None:
    world = short_wait
    dataset_id = world.upload(diabetes_frame(), **HINTS)
    assert _settle(world, dataset_id) == "automl"
    assert expire_partner_steps(world.wh) == []  # not yet
    later = utcnow() + timedelta(seconds=301)
    journey_id = world.journey(dataset_id).id
    assert journey_id in expire_partner_steps(world.wh, now=later)
    journey = world.journey(dataset_id)
    assert journey.state == "failed" and journey.failed_step == "automl"
    assert journey.reason is not None
    assert "automl step was left to a partner agent" in journey.reason
    assert "MILLRACE_AGENTS='core,bias,xai'" in journey.reason
    assert "timed out after 300 s" in journey.reason
    assert f"no model was uploaded with training_dataset={dataset_id}" in journey.reason
    assert journey.steps["automl"]["state"] == "failed"
    assert expire_partner_steps(world.wh, now=later) == []  # failed once, and only once
    # A late model changes nothing; the user retries once the partner runs.
    _partner_model(world, dataset_id)
    assert _settle(world, dataset_id) == "failed"


def test_millraces_own_steps_never_time_out(world: World) -> None:
    dataset_id = world.upload(diabetes_frame(), **HINTS)
    world.run_agents(rounds=2, only=("core", "bias"))
    assert world.journey(dataset_id).state == "automl"
    far = utcnow() + timedelta(days=30)
    assert world.journey(dataset_id).id not in expire_partner_steps(world.wh, now=far)


def test_external_steps_are_checked_and_reach_the_journey(world: World) -> None:
    with pytest.raises(ValueError, match=r"\['training'\] are not steps"):
        JourneyHints(external_steps=["training"])
    dataset_id = world.upload(diabetes_frame())  # no target yet: it waits for input
    world.run_agents(only=("core",))
    journey = configure_journey(
        world.wh,
        owner_id=world.user_id,
        dataset_id=dataset_id,
        version=None,
        hints=JourneyHints(target_column="high_risk", external_steps=["automl"]),
    )
    assert journey.state == "bias"
    assert [journey.steps[s].get("external") for s in ("bias", "automl", "xai")] == [
        False,
        True,
        False,
    ]


def test_millrace_agents_names_only_known_agents() -> None:
    with pytest.raises(ValueError, match=r"'core,training': unknown \['training'\]"):
        Settings(agents="core,training")
    assert Settings(agents=" core , xai ").local_agents == {"core", "xai"}
