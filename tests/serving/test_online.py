"""Forecasting from raw history equals the pipeline's own next-horizon forecast."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.online import ForecastSpec, forecast_history, history_frame
from millrace.pipelines import steps
from millrace.pipelines.artifacts import Prepared


@pytest.mark.parametrize("name", ["naive", "seasonal_naive", "ets", "gru", "prophet"])
def test_forecast_from_history_equals_pipeline_infer(
    prepared: tuple[Path, Prepared, Path], name: str
) -> None:
    data, prep, work = prepared
    # Prophet sits out on monthly data unless asked for; here it is asked for.
    prep = prep.model_copy(update={"config": {**prep.config, "only_suited": False}})
    trained = steps.train(prep, name, work, seed=0)
    log = work / f"{name}.jsonl"
    steps.infer(prep, trained, log, next_horizon=True)
    expected = [json.loads(line) for line in log.read_text().splitlines()]

    # Fitted on every row, as the next-horizon forecast and the served model are.
    model = steps.load_model(prep, trained, steps.all_rows(steps.series(prep)))
    spec = ForecastSpec.from_run(
        name,
        json.loads((Path(prep.uri) / "prepared.json").read_text()),
        json.loads((Path(prep.uri) / "scaler.json").read_text()),
    )
    history = history_frame(pd.read_csv(data), spec)
    times, values = forecast_history(model, spec, history, prep.config["horizon"])

    assert [t.isoformat() for t in times] == [e["ts"] for e in expected]
    np.testing.assert_allclose(values, [e["prediction"] for e in expected], rtol=1e-9)


def test_bad_history_is_a_clear_error(prepared: tuple[Path, Prepared, Path]) -> None:
    data, prep, _ = prepared
    spec = ForecastSpec.from_run(
        "gru",
        json.loads((Path(prep.uri) / "prepared.json").read_text()),
        json.loads((Path(prep.uri) / "scaler.json").read_text()),
    )
    raw = pd.read_csv(data)
    with pytest.raises(InvalidInputError, match="lacks column"):
        history_frame(raw.drop(columns=["promo"]), spec)
    with pytest.raises(InvalidInputError, match="no time column 'when'"):
        history_frame(raw, spec, "when")
    with pytest.raises(InvalidInputError, match="at least 12"):
        history_frame(raw.head(5), spec)
    with pytest.raises(InvalidInputError, match="not in order"):
        history_frame(raw.iloc[::-1], spec)
    bad = raw.astype({"y": object})
    bad.loc[3, "y"] = "many"
    with pytest.raises(InvalidInputError, match="not a number: 'many'"):
        history_frame(bad, spec)
    with pytest.raises(InvalidInputError, match="between 1 and 6 for this gru model"):
        forecast_history(None, spec, history_frame(raw, spec), 7)  # type: ignore[arg-type]
