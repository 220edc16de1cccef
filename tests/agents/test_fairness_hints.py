"""The bias report's hints on their way: upload -> journey -> bias trigger -> report, and
on to the AutoML trigger (its metric), with the real core and bias agents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from millrace.warehouse.db import session_scope
from millrace.warehouse.models import OutboxEvent, Report
from tests.agents.world import World, diabetes_frame


def _payloads(world: World, topic: str) -> list[dict[str, Any]]:
    with session_scope(world.wh.sessions) as session:
        events = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic)).all()
        return [e.payload for e in events if e.payload.get("user_id") == world.user_id]


def test_hints_reach_the_report_and_the_automl_trigger(world: World) -> None:
    frame = diabetes_frame()
    dataset_id = world.upload(
        frame,
        target_column="high_risk",
        task_type="classification",
        sensitive_columns=["sex"],
        favorable_label=0,  # not high risk; JSON numbers read as the label's text
        privileged_groups={"sex": 1},
        metric="roc_auc",
    )
    world.run_agents(rounds=3, only=("core", "bias"))  # started, reported, moved to AutoML
    journey = world.journey(dataset_id)
    assert journey.state == "automl", journey.reason
    assert (journey.favorable_label, journey.privileged_groups, journey.metric) == (
        "0",
        {"sex": "1"},
        "roc_auc",
    )
    (bias_trigger,) = _payloads(world, "bias-trigger-events")
    (automl_trigger,) = _payloads(world, "automl-trigger-events")
    for trigger in (bias_trigger, automl_trigger):
        assert trigger["favorable_label"] == "0"
        assert trigger["privileged_groups"] == {"sex": "1"}
        assert trigger["metric"] == "roc_auc"
    bias_id = journey.steps["bias"]["outputs"]["bias_report_id"]
    with session_scope(world.wh.sessions) as session:
        report = session.scalars(select(Report).where(Report.report_id == bias_id)).one()
        fairness = report.content["fairness"]
    assert fairness["favourable_label"] == "0" and not fairness["favourable_assumed"]
    assert fairness["min_group_size"] == world.wh.settings.fairness_min_group_size
    sex = fairness["attributes"]["sex"]
    assert sex["reference_group"] == "1" and not sex["reference_assumed"]
    low_risk = 1 - frame["high_risk"]
    rate = {g: low_risk[frame["sex"] == int(g)].mean() for g in ("1", "2")}
    assert sex["vs_reference"]["2"]["disparate_impact"] == rate["2"] / rate["1"]
    assert sex["vs_reference"]["2"]["statistical_parity_difference"] == rate["2"] - rate["1"]


def test_a_label_the_data_lacks_waits_for_input(world: World) -> None:
    dataset_id = world.upload(
        diabetes_frame(),
        target_column="high_risk",
        task_type="classification",
        sensitive_columns=["sex"],
        favorable_label="low",
    )
    world.run_agents(rounds=1, only=("core",))
    journey = world.journey(dataset_id)
    assert journey.state == "needs_input"
    assert journey.reason is not None
    assert "favorable_label 'low' is not a value of 'high_risk'" in journey.reason
    assert _payloads(world, "bias-trigger-events") == []
