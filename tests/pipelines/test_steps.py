"""The forecasting steps on real series: statsforecast's AirPassengers and the LTE stations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines import steps
from millrace.pipelines.runners.local import run_local
from tests.support import SHARED

LTE = SHARED / "data" / "lte"


def test_preprocess_is_idempotent_and_fits_only_on_training_rows(air: Path, tmp_path: Path) -> None:
    cfg = PreprocessConfig(target="y", horizon=6, input_seq_len=12)
    first = steps.preprocess(air, cfg, tmp_path / "work")
    again = steps.preprocess(air, cfg, tmp_path / "work")
    assert not first.skipped
    assert again.skipped
    assert again.config_hash == first.config_hash
    other = steps.preprocess(
        air, PreprocessConfig(target="y", horizon=3, input_seq_len=12), tmp_path / "work"
    )
    assert other.config_hash != first.config_hash
    y = pd.read_csv(air)["y"]
    scaler = json.loads((Path(first.uri) / "scaler.json").read_text())
    assert scaler["mean"]["y"] == pytest.approx(y[: first.train_end].mean())
    assert scaler["mean"]["y"] != pytest.approx(y.mean())  # the future was not used
    assert first.train_end < first.val_end < first.n == len(y)
    assert first.season == 12


def test_air_passengers_champion_is_chosen_on_validation(air: Path, tmp_path: Path) -> None:
    cfg = PreprocessConfig(target="y", horizon=6, input_seq_len=12, val_share=0.2, test_share=0.2)
    run = run_local(
        air,
        cfg,
        tmp_path / "work",
        name="air",
        models=["naive", "seasonal_naive", "ets", "theta", "arima"],
    )
    ev = run.evaluation
    assert ev is not None
    assert not run.failed
    scores = {n: c["score"] for n, c in ev.candidates.items()}
    assert ev.champion == min(scores, key=scores.__getitem__)
    champion, naive = ev.candidates[ev.champion]["test"], ev.candidates["naive"]["test"]
    assert champion["mase"] < naive["mase"]
    assert set(champion) == {"mae", "rmse", "mse", "smape", "mase", "nrmse"}
    # MASE against the seasonal naive's in-sample error (monthly: 12 months back) on the
    # rows the test window's model was fitted on: every row before it.
    train = pd.read_csv(air)["y"].to_numpy()[: run.prepared.val_end]
    scale = np.mean(np.abs(train[12:] - train[:-12]))
    assert champion["mase"] == pytest.approx(champion["mae"] / scale)
    assert run.promotion is not None
    assert run.promotion.champion == ev.champion
    log = (tmp_path / "work" / "inference" / "air.jsonl").read_text().splitlines()
    assert len(log) == run.inferred > 0
    first = json.loads(log[0])
    assert set(first) == {"ts", "prediction", "actual", "error", "model", "target"} | {
        f"{side}_{level}" for side in ("lower", "upper") for level in (80, 95)
    }
    assert first["lower_95"] < first["lower_80"] < first["prediction"] < first["upper_80"]


def test_lte_station_with_neural_models_and_test_file(tmp_path: Path) -> None:
    cfg = PreprocessConfig(
        target="down", exog=("up", "rnti_count"), horizon=1, input_seq_len=10, max_eval_windows=1000
    )
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = run_local(
        LTE / "ElBorn.csv",
        cfg,
        tmp_path / "work",
        name="elborn",
        test=LTE / "ElBorn_test.csv",
        models=["naive", "gru", "lstm", "prophet"],
        tracking_uri=tracking,
    )
    ev = run.evaluation
    assert ev is not None
    assert not run.failed
    test_rows = len(pd.read_csv(LTE / "ElBorn_test.csv"))
    assert run.prepared.n - run.prepared.val_end == test_rows  # the _test file is the test
    for name in ("gru", "lstm"):
        trained = next(t for t in run.trained if t.name == name)
        assert 1 <= trained.summary["epochs"] <= 30  # early stopping on validation
        weights = Path(trained.uri) / "model.safetensors"
        assert weights.is_file()
        assert not weights.read_bytes().startswith(b"PK")  # not a torch.save zip of pickles
    assert (
        Path(next(t for t in run.trained if t.name == "prophet").uri) / "prophet.json"
    ).is_file()
    assert ev.candidates[ev.champion]["test"]["nrmse"] <= (
        ev.candidates["naive"]["test"]["nrmse"] * 1.1
    )
    # MLflow: a run per candidate with per-epoch losses; the champion carries the alias.
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(tracking)
    client = MlflowClient()
    gru = next(t for t in run.trained if t.name == "gru")
    losses = client.get_metric_history(gru.summary["mlflow_run_id"], "val_loss")
    assert len(losses) == gru.summary["epochs"]
    champion = client.get_model_version_by_alias("millrace.forecast.elborn", "champion")
    assert champion.run_id == ev.candidates[ev.champion]["mlflow_run_id"]
    files = {a.path for a in client.list_artifacts(champion.run_id)}
    assert {"model", "preprocess", "config"} <= files


def test_promote_keeps_history_and_rollback_restores(air: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    cfg = PreprocessConfig(target="y", horizon=6, input_seq_len=12)
    run_local(air, cfg, work, name="air", models=["naive"])
    second = run_local(air, cfg, work, name="air", models=["seasonal_naive"])
    assert second.promotion is not None
    assert [h["champion"] for h in second.promotion.history] == ["naive", "seasonal_naive"]
    back = steps.rollback("air", work / "registry")
    assert back.champion == "naive"
    current = json.loads((work / "registry" / "air" / "current.json").read_text())
    assert current["champion"] == "naive"
    assert current["history"][-1]["rollback"] is True


def test_inference_log_is_appended_not_rewritten(air: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    cfg = PreprocessConfig(target="y", horizon=6, input_seq_len=12)
    run = run_local(air, cfg, work, name="air", models=["naive"])
    log = work / "inference" / "air.jsonl"
    before = log.read_bytes()
    added = steps.infer(run.prepared, run.trained[0], log, next_horizon=True)
    after = log.read_bytes()
    assert added == 6
    assert after.startswith(before)
    future = [json.loads(line) for line in after[len(before) :].splitlines()]
    assert future[0]["ts"] > json.loads(before.splitlines()[-1])["ts"]


def _write(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


GOOD = pd.DataFrame(
    {
        "time": pd.date_range("2024-01-01", periods=200, freq="h"),
        "y": np.sin(np.arange(200) / 5) + 10,
    }
)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (GOOD.rename(columns={"time": "when"}), "no time column 'time'"),
        (GOOD.iloc[::-1], "not in order"),
        (pd.concat([GOOD, GOOD.iloc[[5]]]).sort_values("time"), "duplicate timestamps"),
        (GOOD.drop(index=range(10, 200, 7)), "irregular time steps"),
        # Validation and test windows of 12 after two fitted rows (data.LEAST_FIT_ROWS).
        (GOOD.head(25), "25 points; at least 26"),
        (GOOD.assign(y=GOOD["y"].astype(object).where(GOOD.index != 7, "high")), "non-numeric"),
        (GOOD.assign(y=np.nan), "no numeric values"),
    ],
    ids=["no-time", "unsorted", "duplicates", "irregular", "too-short", "text", "all-nan"],
)
def test_bad_series_get_clear_errors(tmp_path: Path, frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        steps.preprocess(_write(tmp_path, frame), PreprocessConfig(target="y"), tmp_path / "w")


def test_a_test_file_needs_only_one_horizon(tmp_path: Path) -> None:
    """Beside a ``_test`` file the data holds train and validation; the test file one horizon."""
    cfg = PreprocessConfig(target="y", horizon=6, input_seq_len=12)
    data = _write(tmp_path, GOOD.head(2 * 18))
    test = tmp_path / "bad_test.csv"
    GOOD.iloc[36:42].to_csv(test, index=False)
    prepared = steps.preprocess(data, cfg, tmp_path / "w", test=test)
    assert (prepared.n, prepared.val_end) == (42, 36)
    run = run_local(data, cfg, tmp_path / "w", name="short", test=test, models=["naive"])
    assert run.evaluation is not None
    assert run.evaluation.windows["test"] == 1  # the one horizon the test file holds
    GOOD.iloc[36:41].to_csv(test, index=False)
    with pytest.raises(InvalidInputError, match="a test file needs at least the horizon"):
        steps.preprocess(data, cfg, tmp_path / "w2", test=test)


def test_log1p_transform_fits_on_training_rows_and_round_trips(tmp_path: Path) -> None:
    """The neural models' view of a spiky series; metrics and baselines keep the raw scale."""
    from millrace.ml.forecasting.models import GRU
    from millrace.ml.forecasting.online import ForecastSpec, history_frame, online_series

    frame = pd.read_csv(LTE / "ElBorn.csv").head(1500)
    frame["signed"] = np.sin(np.arange(len(frame)) / 7)  # negative values: never logged
    data = tmp_path / "elborn.csv"
    frame.to_csv(data, index=False)
    cfg = PreprocessConfig(
        target="up", exog=("down", "signed"), horizon=2, input_seq_len=8, transform="log1p"
    )
    prepared = steps.preprocess(data, cfg, tmp_path / "w")
    scaler = json.loads((Path(prepared.uri) / "scaler.json").read_text())
    assert scaler["log"] == ["up", "down"]
    train_up = frame["up"].iloc[: prepared.train_end]
    assert scaler["mean"]["up"] == pytest.approx(np.log1p(train_up).mean())
    [s] = steps.series(prepared)
    assert s.target_log
    assert np.allclose(s.y, frame["up"])  # the original scale, for metrics and baselines
    assert np.allclose(s.unscale(s.y_scaled), s.y, rtol=1e-9)
    # The inference server rebuilds the same inputs from a request's history.
    spec = ForecastSpec.from_run("gru", json.loads(prepared.model_dump_json()), scaler)
    online = online_series(history_frame(frame.tail(50), spec, "time"), spec, 2)
    assert np.allclose(online.y_scaled, s.y_scaled[-50:])
    assert np.allclose(online.x[:50], s.x[-50:])
    model = GRU(horizon=2, input_seq_len=8, epochs=2)
    model.fit(s)
    forecast = model.forecast(s, prepared.val_end, 2)
    assert (forecast > 0).all() and forecast.max() < 10 * frame["up"].max()
    with pytest.raises(InvalidInputError, match="unknown transform 'sqrt'"):
        steps.preprocess(data, PreprocessConfig(target="up", transform="sqrt"), tmp_path / "x")


@pytest.mark.parametrize("clip", ["iqr", "percentile"])
def test_clipping_bounds_come_from_training_rows_and_spare_the_actuals(
    tmp_path: Path, clip: str
) -> None:
    from millrace.ml.forecasting.online import ForecastSpec, history_frame, online_series

    frame = GOOD.copy()
    frame.loc[150, "y"] = 1000.0  # a spike in the held-out rows
    frame.loc[20, "y"] = -50.0  # and a dip in the training rows
    data = _write(tmp_path, frame)
    cfg = PreprocessConfig(target="y", horizon=4, input_seq_len=8, clip=clip)
    prepared = steps.preprocess(data, cfg, tmp_path / "w")
    scaler = json.loads((Path(prepared.uri) / "scaler.json").read_text())
    train = frame["y"].iloc[: prepared.train_end]
    lo = train.quantile(0.25) - 1.5 * (train.quantile(0.75) - train.quantile(0.25))
    expected_lo = lo if clip == "iqr" else train.quantile(0.01)
    assert scaler["lower"]["y"] == pytest.approx(expected_lo)
    [s] = steps.series(prepared)
    assert s.y[150] == 1000.0 and s.y[20] == -50.0  # metrics score what really happened
    assert s.unscale(s.y_scaled[[150]])[0] == pytest.approx(scaler["upper"]["y"])
    assert s.unscale(s.y_scaled[[20]])[0] == pytest.approx(scaler["lower"]["y"])
    # The inference server clips request history with the same saved bounds.
    spec = ForecastSpec.from_run("naive", json.loads(prepared.model_dump_json()), scaler)
    online = online_series(history_frame(frame.iloc[140:160], spec, "time"), spec, 4)
    np.testing.assert_allclose(online.y_scaled, s.y_scaled[140:160])
    with pytest.raises(InvalidInputError, match="unknown clip 'winsor'"):
        steps.preprocess(data, PreprocessConfig(target="y", clip="winsor"), tmp_path / "x")


def test_the_cli_default_candidates_are_the_runners_defaults() -> None:
    from millrace.cli.pipeline import CANDIDATES
    from millrace.pipelines.runners.local import DEFAULT_MODELS

    assert CANDIDATES.split(",") == list(DEFAULT_MODELS)
