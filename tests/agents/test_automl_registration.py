"""The automl step's MLflow registration is resumable and never fails silently.

The warehouse and MLflow cannot share a transaction. The step stores the model, registers
it (keyed by the warehouse version), and only then announces ``model.uploaded``; these tests
break MLflow between the two stores with a tracking store that cannot be opened (a real
failure, not a mock) and check what a redelivery and the retries make of it.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from sqlalchemy import select

from millrace.agents import automl, subscription
from millrace.events.bus import Message
from millrace.events.embedded import EmbeddedBus, to_message
from millrace.events.runner import ConsumerRunner, HandlerContext
from millrace.ml import registry
from millrace.ml.tracking import KEY_TAG
from millrace.warehouse.assets import get_asset
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import AssetKind, OutboxEvent
from tests.agents.world import World, diabetes_frame

BROKEN_MLFLOW = "sqlite:////proc/no-such-dir/mlflow.db"  # fails at once, every time


def _broken(wh: Warehouse) -> Warehouse:
    return replace(
        wh, settings=wh.settings.model_copy(update={"mlflow_tracking_uri": BROKEN_MLFLOW})
    )


def _automl_trigger(world: World, dataset_id: str) -> Message:
    world.run_agents(only=("core", "bias"), rounds=2)
    assert world.journey(dataset_id).state == "automl"
    with session_scope(world.wh.sessions) as session:
        rows = session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "automl-trigger-events")
        ).all()
    return to_message(next(r for r in rows if r.payload["dataset_id"] == dataset_id))


def _model_versions(world: World, model_id: str) -> int:
    with session_scope(world.wh.sessions) as session:
        return len(get_asset(session, AssetKind.MODEL, world.user_id, model_id).versions)


def test_a_redelivery_finishes_a_registration_that_mlflow_refused(world: World) -> None:
    dataset_id = world.upload(diabetes_frame(), target_column="high_risk", time_budget_s=2)
    trigger = _automl_trigger(world, dataset_id)
    model_id = automl.model_id_for(dataset_id)

    broken = HandlerContext(_broken(world.wh), trigger, attempt=1, group="automl")
    try:
        automl.handle(trigger, broken)
        raise AssertionError("the handler must not swallow an MLflow failure")
    except FileNotFoundError:
        pass
    assert broken.emitted == []  # nothing announced while MLflow lacks the model
    assert _model_versions(world, model_id) == 1  # the trained model is kept, not redone

    uri = world.wh.settings.resolved_mlflow_uri
    for attempt in (2, 3):  # the redelivery finishes it; a second one changes nothing
        ctx = HandlerContext(world.wh, trigger, attempt=attempt, group="automl")
        automl.handle(trigger, ctx)
        assert len(ctx.emitted) == 1
        assert _model_versions(world, model_id) == 1
    name = registry.find_registered(uri, world.user_id, model_id)
    assert name is not None
    versions = registry.versions(uri, name)
    assert [v["tags"][KEY_TAG] for v in versions] == [f"warehouse:{world.user_id}/{model_id}/v1"]
    live = registry.champion(uri, name)
    assert live is not None and live.version == versions[0]["version"]
    assert len(live.history) == 1


def test_an_mlflow_outage_that_outlasts_the_retries_fails_the_journey(world: World) -> None:
    dataset_id = world.upload(diabetes_frame(), target_column="high_risk", time_budget_s=2)
    _automl_trigger(world, dataset_id)
    sub = subscription("automl", max_tries=2)
    sub.backoff_base = 0.01
    broken = _broken(world.wh)
    ConsumerRunner(broken, EmbeddedBus(broken), sub).run(
        threading.Event(), burst=True, poll_timeout=0.05
    )
    world.run_agents(only=("core",))
    journey = world.journey(dataset_id)
    assert journey.state == "failed"
    step = journey.steps["automl"]
    assert step["state"] == "failed"
    assert "no-such-dir" in step["error"]  # the reason, not just "failed"
    with session_scope(world.wh.sessions) as session:
        announced = session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "automl-events")
        ).all()
    assert [
        e for e in announced if e.payload.get("model_id") == automl.model_id_for(dataset_id)
    ] == []
