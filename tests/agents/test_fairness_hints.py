"""The bias report's hints on their way: upload -> journey -> bias trigger -> report, and
on to the AutoML trigger (its metric) and the model's fairness, with the real agents."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select

from millrace.warehouse.assets import get_asset
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import AssetKind, OutboxEvent, Report
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


def test_the_model_fairness_uses_the_hints(world: World) -> None:
    """The AutoML agent scores the model's held-out predictions with the same favourable
    label and reference group, and the metric the user asked for."""
    frame = diabetes_frame()
    dataset_id = world.upload(
        frame,
        target_column="high_risk",
        task_type="classification",
        sensitive_columns=["sex"],
        favorable_label="0",
        privileged_groups={"sex": "2"},
        metric="log_loss",
        time_budget_s=3,
    )
    world.run_agents(rounds=4, only=("core", "bias", "automl"))
    journey = world.journey(dataset_id)
    model_id = journey.steps["automl"]["outputs"]["model_id"]
    with session_scope(world.wh.sessions) as session:
        (version,) = get_asset(session, AssetKind.MODEL, world.user_id, model_id).versions
        attrs = dict(version.attributes)
    assert attrs["metric"] == "log_loss"
    fairness = attrs["model_fairness"]
    assert fairness["basis"] == "predictions"
    assert fairness["favourable_outcome"] == "high_risk == '0'"
    sex = fairness["attributes"]["sex"]
    assert sex["reference_group"] == "2"
    assert set(sex["vs_reference"]) == {"1"}
    test_rows = sum(g["count"] for g in sex["groups"].values())
    assert test_rows == math.ceil(len(frame) * 0.2)  # the held-out split, not training rows
    versus = sex["vs_reference"]["1"]
    assert {"equal_opportunity_difference", "average_odds_difference"} <= set(versus)
