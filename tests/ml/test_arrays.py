"""The array facade: statsforecast's interface over Millrace's candidates."""

from __future__ import annotations

import numpy as np
import pytest

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.arrays import ArrayForecaster


def _seasonal(n: int = 120, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, n)


def test_ets_on_an_array_is_statsforecasts_autoets() -> None:
    from statsforecast.models import AutoETS

    y = _seasonal()
    ours = ArrayForecaster("ets", season=12).fit(y).predict(18)["mean"]
    theirs = AutoETS(season_length=12).fit(y).predict(h=18)["mean"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


@pytest.mark.parametrize("name", ["naive", "seasonal_naive", "theta", "dot"])
def test_every_statistical_candidate_fits_and_predicts_an_array(name: str) -> None:
    y = _seasonal()
    out = ArrayForecaster(name, season=12).fit(y).predict(7, level=[80, 95])
    assert set(out) == {"mean", "lo-80", "hi-80", "lo-95", "hi-95"}
    assert all(len(v) == 7 and np.isfinite(v).all() for v in out.values())
    assert (out["lo-95"] <= out["lo-80"]).all() and (out["lo-80"] <= out["mean"]).all()
    assert (out["mean"] <= out["hi-80"]).all() and (out["hi-80"] <= out["hi-95"]).all()


def test_a_fixed_combination_is_the_mean_of_its_members_on_an_array() -> None:
    y = _seasonal(60)
    combined = ArrayForecaster("trio_mean", season=12).fit(y).predict(6)["mean"]
    members = [
        ArrayForecaster(m, season=12).fit(y).predict(6)["mean"] for m in ("ets", "theta", "arima")
    ]
    np.testing.assert_allclose(combined, np.mean(members, axis=0), rtol=1e-9)


def test_conformal_intervals_cover_about_their_level_on_random_walks() -> None:
    """On 60 simulated random walks the naive model's 80% interval holds the next value
    about 80% of the time (a loose band: 60 draws of a finite-sample guarantee)."""
    hits = []
    for seed in range(60):
        walk = np.cumsum(np.random.default_rng(seed).normal(0, 1, 81)) + 50
        out = ArrayForecaster("naive").fit(walk[:80]).predict(1, level=[80])
        hits.append(out["lo-80"][0] <= walk[80] <= out["hi-80"][0])
    assert 0.6 <= np.mean(hits) <= 0.97


def test_a_windowed_model_forecasts_at_most_its_trained_horizon() -> None:
    f = ArrayForecaster("lightgbm", horizon=6, input_seq_len=12).fit(_seasonal(200))
    assert len(f.predict(6)["mean"]) == 6
    with pytest.raises(InvalidInputError, match="between 1 and 6"):
        f.predict(7)


def test_bad_input_gets_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="unknown model"):
        ArrayForecaster("prophet2")
    with pytest.raises(InvalidInputError, match="finite"):
        ArrayForecaster("naive").fit(np.array([1.0, np.nan, 3.0, 4.0]))
    with pytest.raises(InvalidInputError, match="fit the forecaster"):
        ArrayForecaster("naive").predict(3)
    f = ArrayForecaster("naive").fit(_seasonal(30))
    with pytest.raises(InvalidInputError, match="future exogenous"):
        f.predict(3, X=np.ones((3, 1)))
    with pytest.raises(InvalidInputError, match="too short for intervals"):
        ArrayForecaster("naive").fit(_seasonal(5)).predict(3, level=[80])
