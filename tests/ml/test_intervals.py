"""Prediction intervals from scaled CV errors: coverage on simulated series, and the file."""

from __future__ import annotations

import numpy as np
import pytest

from millrace.ml.forecasting.intervals import DEFAULT_LEVELS, Intervals, scale_of

H = 6


def _simulate(rng: np.random.Generator, n_series: int, length: int) -> np.ndarray:
    """Random walks (some with drift) and AR(1) series around a level, each with its own
    noise scale over three orders of magnitude: the scaled errors must not care."""
    sigma = 10 ** rng.uniform(-1, 2, n_series)
    phi = np.where(rng.random(n_series) < 0.5, 1.0, rng.uniform(0.5, 0.95, n_series))
    drift = np.where(phi == 1.0, rng.normal(0, 0.2, n_series), 0.0) * sigma
    level = rng.uniform(-100, 100, n_series)
    eps = rng.normal(size=(n_series, length)) * sigma[:, None]
    y = np.empty((n_series, length))
    dev = np.zeros(n_series)
    for t in range(length):
        dev = phi * dev + drift + eps[:, t]
        y[:, t] = level + dev
    return y


def _naive_errors(y: np.ndarray, origin: int) -> tuple[np.ndarray, np.ndarray]:
    """|actual - last value| over the ``H`` steps from ``origin``, and each series' MASE
    scale on the rows before it (what the pipeline scales a window's errors by)."""
    errors = np.abs(y[:, origin : origin + H] - y[:, origin - 1 : origin])
    scales = np.array([scale_of(row[:origin], 1) for row in y])
    return errors, scales


def test_coverage_on_fresh_windows_is_the_nominal_level() -> None:
    rng = np.random.default_rng(7)
    y = _simulate(rng, 3000, 160)
    # Calibrate on earlier windows (two origins a series), check on later ones.
    calibration = []
    for origin in (60, 90):
        errors, scales = _naive_errors(y, origin)
        calibration.append(errors / scales[:, None])
    intervals = Intervals.from_residuals(np.concatenate(calibration), season=1)
    assert intervals.n_residuals == 6000
    covered: dict[int, list[np.ndarray]] = {level: [] for level in DEFAULT_LEVELS}
    for origin in (130, 150):
        errors, scales = _naive_errors(y, origin)
        for level in DEFAULT_LEVELS:
            half = np.asarray(intervals.halfwidths[level]) * scales[:, None]
            covered[level].append(errors <= half)
    coverage = {level: float(np.mean(c)) for level, c in covered.items()}
    assert 0.75 <= coverage[80] <= 0.86, coverage
    assert 0.92 <= coverage[95] <= 0.98, coverage
    # Per step too: a random walk's errors grow with the step, and so do the widths.
    for level in DEFAULT_LEVELS:
        per_step = np.mean(np.concatenate(covered[level]), axis=0)
        assert np.all(np.abs(per_step - level / 100) < 0.05), (level, per_step)
        assert intervals.halfwidths[level][-1] > 1.5 * intervals.halfwidths[level][0]


def test_the_half_width_is_the_conformal_order_statistic() -> None:
    errors = np.arange(1.0, 11.0)[:, None]  # ten windows of one step: errors 1..10
    got = Intervals.from_residuals(errors, season=1, levels=(50, 80, 90, 95))
    # k = ceil(11 * level / 100): the 6th, 9th, 10th smallest; 95% needs more than ten.
    assert got.halfwidths == {50: [6.0], 80: [9.0], 90: [10.0], 95: [10.0]}
    # Signs do not matter, and a window with a missing error is left out whole.
    signed = np.vstack([-errors, [[np.nan]]])
    assert Intervals.from_residuals(signed, season=1, levels=(50, 80)).halfwidths == {
        50: [6.0],
        80: [9.0],
    }
    with pytest.raises(ValueError, match="whole percentage"):
        Intervals.from_residuals(errors, season=1, levels=(0.8,))


def test_bounds_scale_with_the_history_and_hold_the_last_width_past_the_horizon() -> None:
    intervals = Intervals({80: [1.0, 2.0], 95: [2.0, 3.0]}, season=1, n_residuals=40)
    history = np.array([10.0, 12.0, 11.0, 14.0])  # steps of 2, 1, 3: scale 2
    forecast = np.array([14.0, 14.0, 14.0])
    bounds = intervals.bounds(forecast, history)
    np.testing.assert_allclose(bounds[80][0], [12.0, 10.0, 10.0])
    np.testing.assert_allclose(bounds[80][1], [16.0, 18.0, 18.0])
    np.testing.assert_allclose(bounds[95][1] - forecast, [4.0, 6.0, 6.0])
    shorter = intervals.bounds([14.0], history)  # a list is fine too
    np.testing.assert_allclose(shorter[95][0], [10.0])


def test_scale_of_seasonal_flat_and_gappy_histories() -> None:
    season = 4
    y = np.tile([1.0, 5.0, 2.0, 8.0], 3) + np.arange(12)  # seasonal plus a trend of 1
    assert scale_of(y, season) == pytest.approx(4.0)  # m = 4: every difference is 4
    assert scale_of(y[:8], season) == pytest.approx(np.mean(np.abs(np.diff(y[:8]))))
    assert scale_of(np.full(20, 3.0), 1) == 1.0
    assert scale_of(np.array([2.0]), 1) == 1.0
    # A gap drops the differences it touches; the others still pair neighbours.
    assert scale_of(np.array([1.0, np.nan, 3.0, 4.0, 6.0]), 1) == pytest.approx(1.5)
    assert scale_of(np.array([1.0, np.nan, 3.0]), 1) == 1.0


def test_round_trip_through_json() -> None:
    rng = np.random.default_rng(0)
    original = Intervals.from_residuals(rng.exponential(size=(50, H)), season=12)
    again = Intervals.from_json(original.to_json())
    assert again == original
    assert Intervals.from_json(original.to_json().decode()) == original
    assert list(again.halfwidths) == [80, 95]
    assert all(len(v) == H for v in again.halfwidths.values())


@pytest.mark.parametrize("empty", [np.empty((0, H)), [], np.array([[np.nan] * H])])
def test_no_residuals_give_no_intervals(empty: object) -> None:
    intervals = Intervals.from_residuals(empty, season=1)  # type: ignore[arg-type]
    assert intervals.n_residuals == 0
    assert intervals.halfwidths == {80: [], 95: []}
    assert intervals.bounds(np.ones(H), np.arange(10.0)) == {}
    assert Intervals.from_json(intervals.to_json()) == intervals
