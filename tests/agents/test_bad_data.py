"""Bad data never hangs a journey: it asks for input or fails, and says why."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select

from millrace.warehouse.db import session_scope
from millrace.warehouse.models import OutboxEvent
from tests.agents.world import World, diabetes_frame


def test_no_target_waits_for_input_and_never_guesses(world: World) -> None:
    dataset_id = world.upload(diabetes_frame())
    journey = world.drive(dataset_id)
    assert journey.state == "needs_input"
    assert journey.target_column is None
    assert "choose a target column" in (journey.reason or "")


def test_missing_target_column_asks_for_input(world: World) -> None:
    dataset_id = world.upload(diabetes_frame(), target_column="outcome")
    journey = world.drive(dataset_id)
    assert journey.state == "needs_input"
    assert "'outcome' is not in the dataset" in (journey.reason or "")


def test_a_wide_table_lists_its_columns_cut_short_and_guesses_the_case(world: World) -> None:
    """The real target sat 31st in a table of 40 and was named with a capital letter."""
    frame = diabetes_frame()
    for i in range(28):
        frame[f"extra_{i:02d}"] = np.arange(len(frame)) % (i + 2)
    frame = frame.rename(columns={"high_risk": "diagnosis"})
    first = [c for c in frame.columns if c != "diagnosis"][:30]
    frame = frame[[*first, "diagnosis", "extra_27"]]
    journey = world.drive(world.upload(frame, target_column="Diagnosis"))
    assert journey.state == "needs_input"
    reason = journey.reason or ""
    assert "'Diagnosis' is not in the dataset; did you mean 'diagnosis'?" in reason
    assert reason.endswith(", ... and 2 more)"), reason  # 32 columns, 30 listed


def test_single_class_target_fails_clearly(world: World) -> None:
    frame = diabetes_frame().assign(high_risk=1)
    journey = world.drive(
        world.upload(frame, target_column="high_risk", task_type="classification")
    )
    assert journey.state == "failed"
    assert "single class" in (journey.reason or "")


def test_three_rows_fail_clearly(world: World) -> None:
    journey = world.drive(
        world.upload(
            diabetes_frame().head(3), target_column="high_risk", task_type="classification"
        )
    )
    assert journey.state == "failed"
    assert "3 rows" in (journey.reason or "")


def test_text_regression_target_fails_clearly(world: World) -> None:
    frame = diabetes_frame().assign(grade=lambda f: np.where(f.bmi > 26, "high", "low"))
    journey = world.drive(world.upload(frame, target_column="grade", task_type="regression"))
    assert journey.state == "failed"
    assert "regression needs a numeric target" in (journey.reason or "")


def test_all_nan_target_fails_clearly(world: World) -> None:
    frame = diabetes_frame().assign(high_risk=np.nan)
    journey = world.drive(
        world.upload(frame, target_column="high_risk", task_type="classification")
    )
    assert journey.state == "failed"
    assert "all values missing" in (journey.reason or "")


def test_all_nan_feature_is_flagged_and_dropped_not_fatal(world: World) -> None:
    frame = diabetes_frame().assign(empty=np.nan)
    journey = world.drive(world.upload(frame, target_column="high_risk", time_budget_s=4))
    assert journey.state == "completed", journey.reason
    with session_scope(world.wh.sessions) as session:
        from millrace.warehouse.models import Report

        bias = session.scalars(
            select(Report).where(
                Report.report_id == journey.steps["bias"]["outputs"]["bias_report_id"]
            )
        ).one()
    assert bias.content["quality"]["all_missing_columns"] == ["empty"]


def test_forecasting_irregular_timestamps_fail_with_the_pipeline_reason(world: World) -> None:
    times = pd.date_range("2024-01-01", periods=80, freq="D")
    irregular = times[np.r_[0:40, 41:60:2, 60:80]]  # days missing in the middle
    frame = pd.DataFrame({"t": irregular, "y": np.arange(len(irregular), dtype=float)})
    journey = world.drive(world.upload(frame, target_column="y", task_type="forecasting"))
    assert journey.state == "failed"
    assert journey.failed_step == "automl"
    assert "irregular time steps" in (journey.reason or "")


def test_a_poison_event_ends_in_the_dlq_and_the_journey_says_why(world: World) -> None:
    """The dataset's bytes vanish under a running journey: every automl try fails, the
    trigger lands on automl-trigger-events.dlq and the journey names the step and error."""
    dataset_id = world.upload(diabetes_frame(), target_column="high_risk", time_budget_s=4)
    world.run_agents(rounds=3, only=("core", "bias"))  # started, bias done, automl triggered
    journey = world.journey(dataset_id)
    assert journey.state == "automl"
    from millrace.warehouse.assets import get_asset
    from millrace.warehouse.models import AssetKind

    with session_scope(world.wh.sessions) as session:
        version = get_asset(session, AssetKind.DATASET, world.user_id, dataset_id).versions[0]
        key = version.files[0].storage_key
    saved = world.wh.storage.read_bytes(key)
    world.wh.storage.delete(key)
    journey = world.drive(dataset_id)
    assert journey.state == "failed"
    assert journey.failed_step == "automl"
    assert journey.steps["automl"]["state"] == "failed"
    assert "automl step failed: NotFoundError" in (journey.reason or "")
    with session_scope(world.wh.sessions) as session:
        letters = session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "automl-trigger-events.dlq")
        ).all()
    mine = [e for e in letters if e.payload["original"]["payload"]["dataset_id"] == dataset_id]
    assert len(mine) == 1
    assert mine[0].payload["attempts"] == 3

    # The bytes come back; retry resumes at automl (bias is not redone) and completes.
    import io

    from millrace.warehouse import journeys
    from millrace.warehouse.models import Report

    world.wh.storage.put(key, io.BytesIO(saved))
    with session_scope(world.wh.sessions) as session:
        journeys.retry(session, journeys.get_journey(session, world.user_id, journey.id))
    resumed = world.drive(dataset_id)
    assert resumed.state == "completed", resumed.reason
    assert resumed.reason is None
    with session_scope(world.wh.sessions) as session:
        kinds = session.scalars(
            select(Report.kind).where(
                Report.owner_id == world.user_id, Report.dataset_id == dataset_id
            )
        ).all()
    assert sorted(kinds) == ["bias"] + ["xai"] * 4
