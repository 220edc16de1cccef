"""Served forecasters whose training series is not at hand refit on the history sent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from millrace.ml.forecasting.online import ForecastSpec
from millrace.ml.registry import Champion
from millrace.pipelines import steps
from millrace.pipelines.artifacts import Prepared
from millrace.serving.models import ForecastModel


def _served(prep: Prepared, name: str, params: dict[str, object]) -> ForecastModel:
    spec = ForecastSpec.from_run(
        name,
        json.loads((Path(prep.uri) / "prepared.json").read_text()),
        json.loads((Path(prep.uri) / "scaler.json").read_text()),
    )
    champion = Champion("millrace.a.m", "a", "m", "1", "forecasting", "run", "source")
    return ForecastModel(
        champion=champion, load_seconds=0.0, spec=spec, params=params, refit_per_request=True
    )


def test_refit_per_request_forecasts_like_the_pipeline_for_a_fit_free_baseline(
    prepared: tuple[Path, Prepared, Path],
) -> None:
    data, prep, work = prepared
    trained = steps.train(prep, "seasonal_naive", work)
    log = work / "refit.jsonl"
    steps.infer(prep, trained, log, next_horizon=True)
    expected = [json.loads(line) for line in log.read_text().splitlines()]
    served = _served(prep, "seasonal_naive", trained.params)
    got = served.forecast(pd.read_csv(data), None, None)
    assert got.times == [e["ts"] for e in expected]
    np.testing.assert_allclose(got.values, [e["prediction"] for e in expected])


def test_refit_per_request_statistical_model_fits_the_history_it_gets(
    prepared: tuple[Path, Prepared, Path],
) -> None:
    data, prep, _ = prepared
    served = _served(prep, "ets", {"horizon": 6, "input_seq_len": 12})
    got = served.forecast(pd.read_csv(data), 4, "time")
    assert len(got.values) == 4 and np.isfinite(got.values).all()


def test_an_ensemble_refits_its_baselines_and_loads_its_nets(
    prepared: tuple[Path, Prepared, Path],
) -> None:
    """Remote from the training series, an ensemble's baseline members refit on the
    history sent while its GRU comes from the saved weights: the pipeline's forecast."""
    from millrace.ml.forecasting.models import Ensemble, model_files, save_model

    data, prep, work = prepared
    trained = [steps.train(prep, name, work) for name in ("seasonal_naive", "gru")]
    members = {t.name: steps.load_model(prep, t) for t in trained}
    ensemble = Ensemble.of(members, horizon=6, input_seq_len=12)
    folder = work / "ensemble-model"
    save_model(ensemble, folder)
    record = trained[0].model_copy(update={"uri": str(folder), "name": "ensemble"})
    log = work / "ensemble.jsonl"
    steps.infer(prep, record, log, next_horizon=True)
    expected = [json.loads(line)["prediction"] for line in log.read_text().splitlines()]

    spec = ForecastSpec.from_run(
        "ensemble",
        json.loads((Path(prep.uri) / "prepared.json").read_text()),
        json.loads((Path(prep.uri) / "scaler.json").read_text()),
        ensemble.params["members"],
    )
    assert spec.max_length == 6  # the GRU member predicts its trained horizon only
    champion = Champion("millrace.a.m", "a", "m", "1", "forecasting", "run", "source")
    assert Ensemble(**ensemble.params).restores_by_refit
    served = ForecastModel(
        champion=champion,
        load_seconds=0.0,
        spec=spec,
        params=ensemble.params,
        files=model_files(folder),
        refit_per_request=True,
    )
    got = served.forecast(pd.read_csv(data), None, None)
    np.testing.assert_allclose(got.values, expected, rtol=1e-6)
