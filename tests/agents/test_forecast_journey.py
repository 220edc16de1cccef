"""A forecasting journey end to end with the real agents: pipeline, champion, XAI."""

from __future__ import annotations

import json

import pandas as pd
from statsforecast.utils import AirPassengersDF

from millrace.ml import registry
from millrace.warehouse.assets import get_asset
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import AssetKind, Report
from tests.agents.world import World


def air() -> pd.DataFrame:
    frame = AirPassengersDF.rename(columns={"ds": "month", "y": "passengers"})
    return frame[["month", "passengers"]]


def test_forecasting_journey_trains_promotes_and_explains(world: World) -> None:
    frame = air()
    dataset_id = world.upload(
        frame, target_column="passengers", task_type="forecasting", time_budget_s=20
    )
    journey = world.drive(dataset_id, timeout=400)
    assert journey.state == "completed", journey.reason
    model_id = journey.steps["automl"]["outputs"]["model_id"]
    assert model_id == f"{dataset_id}-forecast"
    wh = world.wh
    with session_scope(wh.sessions) as session:
        (version,) = get_asset(session, AssetKind.MODEL, world.user_id, model_id).versions
        files = {f.path: f.storage_key for f in version.files}
        attrs = dict(version.attributes)
        unsafe = version.has_unsafe_files
        reports = (
            session.query(Report)
            .filter(Report.report_id.in_(journey.steps["xai"]["outputs"]["reports"].values()))
            .all()
        )
        report_keys = {f"{r.report_type}/{r.level}": r.storage_key for r in reports}
    assert not unsafe  # safetensors, JSON and npz only
    assert {"prepared.json", "series.npz", "evaluation.json", "forecasts.jsonl"} <= set(files)
    assert any(p.startswith("model/") for p in files)
    assert attrs["runner"] == "local"  # USE_KFP=1 with no KFP host runs in-process
    board = {row["model"]: row for row in attrs["leaderboard"]}
    assert {"naive", "seasonal_naive", "ets", "theta", "arima"} <= set(board)
    assert attrs["champion"] == attrs["leaderboard"][0]["model"]
    # Chosen on validation only: the champion has the best validation score, whatever test says.
    assert board[attrs["champion"]]["score"] == min(r["score"] for r in board.values())
    # The test window lies after everything fitting, scaling or selection saw.
    prepared = json.loads(wh.storage.read_bytes(files["prepared.json"]))
    months = pd.to_datetime(frame["month"])
    lines = [json.loads(x) for x in wh.storage.read_bytes(files["forecasts.jsonl"]).splitlines()]
    assert lines and {row["model"] for row in lines} == set(board)
    first_test = min(pd.Timestamp(row["ts"]) for row in lines)
    assert first_test == months.iloc[prepared["val_end"]]
    assert prepared["train_end"] < prepared["val_end"] < prepared["n"] == len(frame)
    assert all(abs(r["prediction"] - r["actual"] - r["error"]) < 1e-9 for r in lines)
    # MLflow: the champion alias of the user's registered forecaster.
    live = registry.champion(
        wh.settings.resolved_mlflow_uri, registry.registered_name(world.user_id, model_id)
    )
    assert live is not None
    assert (live.kind, live.owner, live.version) == ("forecasting", world.user_id, "1")
    # XAI: four reports about lags and seasons.
    assert len(report_keys) == 4
    expert = wh.storage.read_bytes(report_keys["model_explanation/expert"]).decode()
    assert "Lag attributions" in expert and "t-1" in expert
    assert (
        "Autocorrelation" in wh.storage.read_bytes(report_keys["data_explanation/expert"]).decode()
    )


def test_forecasting_without_a_time_column_fails_with_the_reason(world: World) -> None:
    frame = air().drop(columns=["month"]).assign(other=range(len(air())))
    dataset_id = world.upload(frame, target_column="passengers", task_type="forecasting")
    journey = world.drive(dataset_id, timeout=60)
    assert journey.state == "failed"
    assert "time column" in (journey.reason or "")


def test_forecasting_a_text_target_fails_with_the_reason(world: World) -> None:
    frame = air().assign(passengers=lambda f: f["passengers"].astype(str) + " pax")
    dataset_id = world.upload(frame, target_column="passengers", task_type="forecasting")
    journey = world.drive(dataset_id, timeout=60)
    assert journey.state == "failed"
    assert "numeric target" in (journey.reason or "")
