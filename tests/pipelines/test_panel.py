"""More than one target, and panels of many series (an id column), on the LTE stations.

The neural models learn one network from every series' windows and predict every target
at once; the statistical models fit each (series, target) alone; evaluation scores each
and chooses on the mean of their normalised validation scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.ml.forecasting.metrics import weighted_scores
from millrace.pipelines import steps
from millrace.pipelines.runners.local import run_local
from tests.conftest import millrace_cli
from tests.support import SHARED

LTE = SHARED / "data" / "lte"
STATIONS = ("ElBorn", "LesCorts", "PobleSec")


def _station(name: str, rows: int = 600, test: bool = False) -> pd.DataFrame:
    frame = pd.read_csv(LTE / (f"{name}_test.csv" if test else f"{name}.csv"))
    frame = frame.head(rows) if test else frame.tail(rows)
    return frame[["time", "down", "up", "rnti_count"]].assign(station=name)


def _panel(tmp_path: Path, test: bool = False) -> Path:
    path = tmp_path / ("panel_test.csv" if test else "panel.csv")
    rows = 60 if test else 600
    pd.concat([_station(n, rows, test) for n in STATIONS]).to_csv(path, index=False)
    return path


def test_several_targets_share_one_network_and_are_scored_each(tmp_path: Path) -> None:
    data = tmp_path / "elborn.csv"
    _station("ElBorn", 900).to_csv(data, index=False)
    cfg = PreprocessConfig(  # one CV window: the score below is the validation window's
        target="down",
        extra_targets=("up",),
        exog=("rnti_count",),
        horizon=2,
        input_seq_len=8,
        folds=1,
    )
    run = run_local(data, cfg, tmp_path / "w", name="lte", models=["naive", "theta", "gru"])
    assert not run.failed and run.evaluation is not None
    down, up = steps.series(run.prepared)
    assert (down.target, up.target) == ("down", "up")
    assert down.x is up.x  # one window of inputs serves both targets
    np.testing.assert_allclose(up.y, _station("ElBorn", 900)["up"])
    # The GRU predicts both targets from one network; theta fitted each target alone.
    gru = json.loads((Path(run.trained[-1].uri) / "spec.json").read_text())
    assert gru["name"] == "gru" and gru["n_targets"] == 2
    theta = steps.load_model(run.prepared, run.trained[1], [down, up])
    origin = down.val_end
    assert not np.allclose(theta.forecast(down, origin, 2), theta.forecast(up, origin, 2))

    ev = run.evaluation
    assert ev.windows["series"] == 2
    for name, result in ev.candidates.items():
        per = result["series"]
        assert set(per) == {"down", "up"}
        for part in ("validation", "test"):
            mean = np.mean([per[t][part]["rmse"] for t in per])
            assert result[part]["rmse"] == pytest.approx(mean), name
    # The champion does best on the mean of each target's normalised validation score.
    names = list(ev.candidates)
    per_target = [
        weighted_scores({n: ev.candidates[n]["series"][t]["validation"] for n in names})
        for t in ("down", "up")
    ]
    expected = {n: np.mean([s[n] for s in per_target]) for n in names}
    assert ev.champion == min(expected, key=expected.__getitem__)
    assert all(ev.candidates[n]["score"] == pytest.approx(expected[n], abs=1e-5) for n in names)

    lines = [json.loads(x) for x in (tmp_path / "w/inference/lte.jsonl").read_text().splitlines()]
    assert {x["target"] for x in lines} == {"down", "up"}
    assert len(lines) == run.inferred == 2 * ((down.y.size - down.val_end) // 2 * 2)


def test_a_panel_is_split_and_scaled_per_series_and_learned_together(tmp_path: Path) -> None:
    data, test = _panel(tmp_path), _panel(tmp_path, test=True)
    cfg = PreprocessConfig(
        target="down", id_col="station", exog=("rnti_count",), horizon=2, input_seq_len=8
    )
    run = run_local(
        data, cfg, tmp_path / "w", name="panel", test=test, models=["naive", "ets", "lstm"]
    )
    assert not run.failed and run.evaluation is not None
    units = steps.series(run.prepared)
    assert [u.key for u in units] == list(STATIONS)
    scalers = json.loads((Path(run.prepared.uri) / "scaler.json").read_text())["series"]
    for unit, split in zip(units, run.prepared.series, strict=True):
        original = _station(unit.key)["down"]
        assert split.n == 660 and split.val_end == 600 and split.train_end == 510
        # Each series is scaled on its own training rows: never its validation or test rows.
        assert scalers[unit.key]["mean"]["down"] == pytest.approx(original[:510].mean())
        np.testing.assert_allclose(unit.y[600:], _station(unit.key, 60, test=True)["down"])
    # One network learned from every station's windows.
    lstm = steps.load_model(run.prepared, run.trained[-1], units)
    log = json.loads((Path(run.trained[-1].uri) / "training_log.json").read_text())
    assert log["n_targets"] == 1 and log["epochs"]
    forecasts = {u.key: lstm.forecast(u, u.val_end, 2) for u in units}
    assert len({round(float(f[0]), 3) for f in forecasts.values()}) == 3
    ev = run.evaluation
    assert set(ev.candidates["ets"]["series"]) == {f"{s}/down" for s in STATIONS}
    lines = (tmp_path / "w/inference/panel.jsonl").read_text().splitlines()
    assert {json.loads(x)["series"] for x in lines} == set(STATIONS)


def test_a_panel_without_a_test_file_splits_each_series_by_its_own_length(
    tmp_path: Path,
) -> None:
    frame = pd.concat([_station("ElBorn", 400), _station("LesCorts", 200)])
    data = tmp_path / "uneven.csv"
    frame.to_csv(data, index=False)
    cfg = PreprocessConfig(target="up", id_col="station", horizon=2, input_seq_len=8)
    prepared = steps.preprocess(data, cfg, tmp_path / "w")
    assert [(s.key, s.n, s.train_end, s.val_end) for s in prepared.series] == [
        ("ElBorn", 400, 280, 340),
        ("LesCorts", 200, 140, 170),
    ]


def _bad(tmp_path: Path, frame: pd.DataFrame, cfg: PreprocessConfig, match: str) -> None:
    data = tmp_path / "bad.csv"
    frame.to_csv(data, index=False)
    with pytest.raises(InvalidInputError, match=match):
        steps.preprocess(data, cfg, tmp_path / "w")
    assert not (tmp_path / "w" / "prepared").exists() or not any(
        (tmp_path / "w" / "prepared").glob("*/prepared.json")
    )


def test_bad_panels_and_targets_get_clear_errors(tmp_path: Path) -> None:
    good = pd.concat([_station("ElBorn", 200), _station("LesCorts", 200)])
    panel = PreprocessConfig(target="down", id_col="station", horizon=2, input_seq_len=8)
    _bad(tmp_path, good, PreprocessConfig(target="down", id_col="cell"), "no column 'cell'")
    unnamed = good.copy()
    unnamed.loc[unnamed.index[5], "station"] = None
    _bad(tmp_path, unnamed, panel, "id column 'station' has empty values")
    short = pd.concat([_station("ElBorn", 200), _station("LesCorts", 5)])
    _bad(tmp_path, short, panel, r"has 5 points.*in series 'LesCorts'")
    repeated = pd.concat([good, _station("LesCorts", 1)])
    _bad(tmp_path, repeated, panel, r"duplicate timestamps.*in series 'LesCorts'")
    hourly = _station("LesCorts", 200)
    hourly["time"] = pd.date_range("2019-01-01", periods=200, freq="h").astype(str)
    _bad(tmp_path, pd.concat([_station("ElBorn", 200), hourly]), panel, "step differently")
    text = good.assign(up="n/a")
    two = PreprocessConfig(target="down", extra_targets=("up",), horizon=2, input_seq_len=8)
    _bad(tmp_path, text.query("station == 'ElBorn'"), two, "target 'up' has no numeric values")
    twice = PreprocessConfig(target="down", extra_targets=("down",))
    _bad(tmp_path, good.query("station == 'ElBorn'"), twice, "named twice")
    as_id = PreprocessConfig(target="down", id_col="down")
    _bad(tmp_path, good, as_id, "named twice among time, id, targets")


def test_a_panel_test_file_must_hold_the_same_series(tmp_path: Path) -> None:
    data = tmp_path / "panel.csv"
    pd.concat([_station("ElBorn", 200), _station("LesCorts", 200)]).to_csv(data, index=False)
    test = tmp_path / "panel_test.csv"
    _station("ElBorn", 10, test=True).to_csv(test, index=False)
    cfg = PreprocessConfig(target="down", id_col="station", horizon=2, input_seq_len=8)
    with pytest.raises(InvalidInputError, match="the test file holds series"):
        steps.preprocess(data, cfg, tmp_path / "w", test=test)


def test_the_cli_runs_a_panel_of_several_targets(tmp_path: Path) -> None:
    done = millrace_cli(
        {"MILLRACE_HOME": str(tmp_path / "home")},
        "pipeline",
        "run",
        "--data",
        str(_panel(tmp_path)),
        "--target",
        "down,up",
        "--id-col",
        "station",
        "--models",
        "naive,theta",
        "--horizon",
        "2",
        "--input-seq-len",
        "8",
    )
    assert done.returncode == 0, done.stderr
    assert "errors: the mean over 6 series" in done.stdout
    log = (tmp_path / "home" / "pipelines" / "inference" / "down.jsonl").read_text()
    assert {(json.loads(x)["series"], json.loads(x)["target"]) for x in log.splitlines()} == {
        (s, t) for s in STATIONS for t in ("down", "up")
    }


def test_a_config_from_json_gets_tuples_and_a_clear_error() -> None:
    raw = {"target": "down", "extra_targets": ["up"], "exog": ["rnti_count"], "id_col": "cell"}
    assert PreprocessConfig.from_dict(raw) == PreprocessConfig(
        target="down", extra_targets=("up",), exog=("rnti_count",), id_col="cell"
    )
    with pytest.raises(InvalidInputError, match=r"bad preprocess config.*'horizn'"):
        PreprocessConfig.from_dict({"target": "down", "horizn": 3})


def test_a_prophet_saved_before_panels_still_loads(air: Path, tmp_path: Path) -> None:
    """Registries hold Prophet champions saved as one model's JSON; they keep loading."""
    from prophet.serialize import model_to_json

    from millrace.ml.forecasting.models import ProphetModel

    prepared = steps.preprocess(
        air, PreprocessConfig(target="y", horizon=6, input_seq_len=12), tmp_path
    )
    [s] = steps.series(prepared)
    model = ProphetModel(horizon=6, input_seq_len=12)
    model.fit(s)
    old = {"prophet.json": model_to_json(model._models[s.unit]).encode()}
    restored = ProphetModel(horizon=6, input_seq_len=12)
    restored.load_state(old, s)
    np.testing.assert_allclose(restored.forecast(s, s.val_end, 6), model.forecast(s, s.val_end, 6))
