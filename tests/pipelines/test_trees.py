"""The LightGBM candidate: windows of lagged inputs, one booster per target and step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from millrace.ml.explain.forecast import explain_forecaster, feature_names
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.ml.forecasting.online import ForecastSpec, forecast_history, history_frame
from millrace.ml.forecasting.trees import LightGBM
from millrace.pipelines import steps
from millrace.pipelines.runners.local import run_local
from tests.pipelines.conftest import write_lte_panel


def test_lightgbm_trains_saves_as_text_and_forecasts_the_same_when_served(
    air: Path, tmp_path: Path
) -> None:
    # Monthly data: LightGBM sits out by default (steps.unsuited); asked for here.
    cfg = PreprocessConfig(target="y", horizon=6, input_seq_len=12, only_suited=False)
    run = run_local(air, cfg, tmp_path / "w", name="air", models=["naive", "lightgbm"])
    assert not run.failed and run.evaluation is not None
    trained = next(t for t in run.trained if t.name == "lightgbm")
    spec = json.loads((Path(trained.uri) / "spec.json").read_text())
    assert len(spec["boosters"]) == 1 and len(spec["boosters"][0]) == 6  # target x step
    assert all(b.startswith("tree") for b in spec["boosters"][0])  # LightGBM's text format
    assert run.evaluation.candidates["lightgbm"]["test"]["mase"] > 0

    [s] = steps.series(run.prepared)
    model = steps.load_model(run.prepared, trained, [s])
    expected = model.forecast(s, s.val_end, 6)
    assert np.isfinite(expected).all() and not np.allclose(expected, expected[0])
    # The inference server rebuilds the window from raw history and forecasts the same.
    scaler = json.loads((Path(run.prepared.uri) / "scaler.json").read_text())
    served = ForecastSpec.from_run("lightgbm", json.loads(run.prepared.model_dump_json()), scaler)
    assert served.windowed and served.max_length == 6 and served.min_history == 12
    history = pd.read_csv(air).iloc[: s.val_end]
    _, values = forecast_history(model, served, history_frame(history, served), 6)
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    # The xai agent attributes its forecasts to input columns, as for the neural models.
    exp = explain_forecaster(
        model, s, horizon=6, window=12, feature_names=feature_names(s.x.shape[1], ["y"])
    )
    assert exp.features and max(exp.features.values()) > 0


def test_lightgbm_learns_one_model_for_a_panel_and_respects_a_budget(tmp_path: Path) -> None:
    data = write_lte_panel(tmp_path / "panel.csv", rows=600)
    cfg = PreprocessConfig(
        target="down", extra_targets=("up",), id_col="station", horizon=2, input_seq_len=8
    )
    prepared = steps.preprocess(data, cfg, tmp_path / "w")
    units = steps.series(prepared)
    model = LightGBM(horizon=2, input_seq_len=8)
    model.fit(units)
    assert [len(row) for row in model._boosters] == [2, 2]  # down and up, two steps each
    first = {(u.key, u.target): model.forecast(u, u.val_end, 2)[0] for u in units}
    assert len({round(float(v)) for v in first.values()}) == 4
    quick = LightGBM(horizon=2, input_seq_len=8)
    quick.fit(units, budget_s=0.001)
    assert max(max(r) for r in quick.log["iterations"]) < max(
        max(r) for r in model.log["iterations"]
    )
