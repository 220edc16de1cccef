"""Millrace's champion against statsforecast and Prophet on real series that installed
packages ship: monthly, quarterly, daily and hourly.

Per series the last ``h`` points are the test (monthly 12, quarterly 8, daily 14, hourly 24);
everything is fitted on the rest and forecasts ``h`` steps from the same origin, the end of
the train part. Millrace runs its whole pipeline
(``run_local``: preprocess, train every candidate, choose on CV windows, promote, infer);
its champion is then loaded with ``steps.load_model`` and asked for the same ``h`` steps.
AutoETS, AutoARIMA and AutoTheta (statsforecast) and Prophet run directly, with their own
defaults and the frequency's season, in the same process; AutoARIMA alone searches
approximately where R's auto.arima would (n > 150 or season > 12). Seasonal naive is printed as the
floor every method should beat; it is not counted as a baseline. Millrace's row also names
the candidate that did best on test (from the pipeline's own evaluation), so what choosing
on validation costs is visible.

MASE is scaled by the in-sample seasonal-naive MAE of the train part; sMAPE is in percent
(0-200). Wall time covers fitting and forecasting; for Millrace it is the whole pipeline.

Millrace is given the whole series with ``test_share`` set so its test window is exactly
the last ``h`` points. Fitting, scaling and the choice of champion never see it.

    .venv/bin/python benchmarks/forecast_series.py [--series air_passengers,...] [--folds 0]
        [--budget 20] [--models naive,seasonal_naive,ets,theta,arima,prophet,gru,lstm,lightgbm]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from millrace.ml.forecasting.data import PreprocessConfig
from millrace.ml.forecasting.models import MODELS
from millrace.pipelines import steps
from millrace.pipelines.runners.local import DEFAULT_MODELS, run_local
from millrace.pipelines.scoring import mase_scale

# frequency -> (horizon, season, Millrace input_seq_len)
FREQUENCIES = {
    "monthly": (12, 12, 24),
    "quarterly": (8, 4, 12),
    "daily": (14, 7, 28),
    "hourly": (24, 24, 48),
}
BASELINES = ("auto_ets", "auto_arima", "auto_theta", "prophet")


@dataclass(frozen=True)
class Spec:
    name: str
    frequency: str
    source: str  # "package: file inside it"
    load: Callable[[], pd.Series]


def _package_file(package: str, relative: str) -> Path:
    return Path(str(files(package).joinpath(relative)))


def _air_passengers() -> pd.Series:
    from statsforecast.utils import AirPassengersDF

    return pd.Series(
        AirPassengersDF["y"].to_numpy(float), index=pd.DatetimeIndex(AirPassengersDF["ds"])
    )


def _elec_equip() -> pd.Series:
    frame = pd.read_csv(_package_file("statsmodels", "datasets/elec_equip/elec_equip.csv"))
    index = pd.to_datetime(frame["DATE"], format="%b-%d-%Y")
    return pd.Series(frame.iloc[:, 1].to_numpy(float), index=pd.DatetimeIndex(index))


def _co2_monthly() -> pd.Series:
    """Mauna Loa weekly CO2, averaged per month (the weekly file has gaps)."""
    frame = pd.read_csv(_package_file("statsmodels", "datasets/co2/co2.csv"))
    weekly = pd.Series(
        frame["co2"].to_numpy(float), index=pd.to_datetime(frame["date"].astype(str))
    )
    return weekly.resample("MS").mean().interpolate()


def _macrodata(column: str) -> Callable[[], pd.Series]:
    def load() -> pd.Series:
        frame = pd.read_csv(_package_file("statsmodels", "datasets/macrodata/macrodata.csv"))
        index = pd.PeriodIndex.from_fields(
            year=frame["year"].astype(int), quarter=frame["quarter"].astype(int), freq="Q"
        ).to_timestamp()
        return pd.Series(frame[column].to_numpy(float), index=index)

    return load


def _vega(file: str, column: str) -> Callable[[], pd.Series]:
    def load() -> pd.Series:
        frame = pd.read_csv(_package_file("vega_datasets", f"_data/{file}"))
        return pd.Series(frame[column].to_numpy(float), index=pd.to_datetime(frame["date"]))

    return load


def _pmdarima(loader: str, start: str, freq: str) -> Callable[[], pd.Series]:
    """pmdarima ships these as arrays; the index comes from each loader's docstring."""

    def load() -> pd.Series:
        from pmdarima import datasets

        values = np.asarray(getattr(datasets, loader)(), dtype=float)
        values = values[: np.flatnonzero(~np.isnan(values))[-1] + 1]  # ausbeer ends in a pad
        return pd.Series(values, index=pd.date_range(start, periods=len(values), freq=freq))

    return load


def _uk_electricity() -> pd.Series:
    """Taylor's half-hourly England and Wales demand (MW), as hourly means."""
    half_hourly = _pmdarima("load_taylor", "2000-06-05", "30min")()
    return half_hourly.resample("h").mean()


_WEATHER = "vega_datasets: _data/seattle-weather.csv"
SERIES = {
    s.name: s
    for s in (
        Spec("air_passengers", "monthly", "statsforecast: utils.py AirPassengersDF",
             _air_passengers),
        Spec("elec_equip", "monthly", "statsmodels: datasets/elec_equip/elec_equip.csv",
             _elec_equip),
        Spec("wineind", "monthly", "pmdarima: datasets/wineind.py",
             _pmdarima("load_wineind", "1980-01-01", "MS")),
        Spec("co2", "monthly", "statsmodels: datasets/co2/co2.csv (weekly, monthly mean)",
             _co2_monthly),
        Spec("ausbeer", "quarterly", "pmdarima: datasets/ausbeer.py",
             _pmdarima("load_ausbeer", "1956-01-01", "QS")),
        Spec("woolyrnq", "quarterly", "pmdarima: datasets/woolyrnq.py",
             _pmdarima("load_woolyrnq", "1965-01-01", "QS")),
        Spec("us_real_gdp", "quarterly", "statsmodels: datasets/macrodata/macrodata.csv realgdp",
             _macrodata("realgdp")),
        Spec("seattle_max_temp", "daily", f"{_WEATHER} temp_max",
             _vega("seattle-weather.csv", "temp_max")),
        Spec("seattle_wind", "daily", f"{_WEATHER} wind", _vega("seattle-weather.csv", "wind")),
        Spec("uk_electricity", "hourly", "pmdarima: datasets/taylor.py (half-hourly, hourly mean)",
             _uk_electricity),
    )
}  # fmt: skip


def mase(train: np.ndarray, actual: np.ndarray, pred: np.ndarray, season: int) -> float:
    return float(np.mean(np.abs(actual - pred)) / mase_scale(train, season))


def smape(actual: np.ndarray, pred: np.ndarray) -> float:
    denom = np.abs(actual) + np.abs(pred)
    ratio = np.where(denom == 0, 0.0, 2 * np.abs(actual - pred) / np.maximum(denom, 1e-12))
    return float(100 * np.mean(ratio))


def baseline(name: str, train: pd.Series, test_index: pd.DatetimeIndex, season: int) -> np.ndarray:
    h = len(test_index)
    if name == "prophet":
        from prophet import Prophet

        # No uncertainty sampling: only the mean is scored, and sampling dominates the time.
        model = Prophet(uncertainty_samples=0)
        model.fit(pd.DataFrame({"ds": train.index, "y": train.to_numpy()}))
        return model.predict(pd.DataFrame({"ds": test_index}))["yhat"].to_numpy(float)
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

    y = train.to_numpy()
    if name == "auto_arima":
        # R's auto.arima rule for the approximate search; statsforecast's default (never)
        # spends over ten minutes on two thousand hourly points.
        model = AutoARIMA(season_length=season, approximation=len(y) > 150 or season > 12)
    else:
        model = {"auto_ets": AutoETS, "auto_theta": AutoTheta}[name](season_length=season)
    return np.asarray(model.forecast(y=y, h=h)["mean"], dtype=float)


@dataclass
class MillraceResult:
    pred: np.ndarray  # the champion's h steps from the test origin
    champion: str
    failed: list[str]
    test_mae: dict[str, float]  # every candidate's, from the pipeline's own evaluation


def millrace(
    series: pd.Series,
    spec: Spec,
    work: Path,
    models: list[str],
    budget: float | None,
    folds: int = 0,
) -> MillraceResult:
    h, _, input_seq_len = FREQUENCIES[spec.frequency]
    data = work / f"{spec.name}.csv"
    pd.DataFrame({"time": series.index, "y": series.to_numpy()}).to_csv(data, index=False)
    cfg = PreprocessConfig(
        target="y",
        horizon=h,
        input_seq_len=input_seq_len,
        # (h - 0.5) / n rounds to exactly h test rows in preprocess's int() split.
        test_share=(h - 0.5) / len(series),
        folds=folds,
    )
    run = run_local(data, cfg, work, name=spec.name, models=models, budget_s=budget)
    prepared = run.prepared
    if prepared.val_end != len(series) - h:
        raise RuntimeError(f"{spec.name}: test window is {len(series) - prepared.val_end}, not {h}")
    assert run.evaluation is not None
    champion = run.evaluation.champion_of(run.trained)
    [s] = steps.refit_rows(steps.series(prepared))  # fitted on every row before the test
    pred = np.asarray(steps.load_model(prepared, champion, [s]).forecast(s, prepared.val_end, h))
    test_mae = {n: float(c["test"]["mae"]) for n, c in run.evaluation.candidates.items()}
    # A test window of exactly h points is one origin in the evaluation: the same forecast.
    if not np.isclose(np.mean(np.abs(pred - s.y[-h:])), test_mae[champion.name], rtol=1e-6):
        raise RuntimeError(f"{spec.name}: the champion's forecast differs from its evaluation")
    return MillraceResult(pred.astype(float), champion.name, sorted(run.failed), test_mae)


def run_series(
    spec: Spec,
    work: Path,
    models: list[str],
    baselines: list[str],
    budget: float | None,
    folds: int = 0,
) -> dict[str, dict[str, float | str]]:
    series = spec.load()
    h, season, _ = FREQUENCIES[spec.frequency]
    train, test = series.iloc[:-h], series.iloc[-h:]
    actual = test.to_numpy(float)
    y_train = train.to_numpy(float)
    out: dict[str, dict[str, float | str]] = {}

    def score(pred: np.ndarray, seconds: float) -> dict[str, float | str]:
        return {
            "mase": mase(y_train, actual, pred, season),
            "smape": smape(actual, pred),
            "seconds": seconds,
        }

    started = time.perf_counter()
    run = millrace(series, spec, work, models, budget, folds)
    out["millrace"] = score(run.pred, time.perf_counter() - started)
    scale = mase_scale(y_train, season)
    hindsight = min(run.test_mae, key=run.test_mae.__getitem__)
    out["millrace"].update(
        champion=run.champion,
        failed=", ".join(run.failed),
        hindsight=hindsight,
        hindsight_mase=run.test_mae[hindsight] / scale,
    )
    for name in baselines:
        started = time.perf_counter()
        try:
            pred = baseline(name, train, pd.DatetimeIndex(test.index), season)
        except Exception as exc:  # reported in the table; the mean becomes NaN
            out[name] = {"mase": float("nan"), "smape": float("nan"), "seconds": 0.0}
            out[name]["error"] = f"{type(exc).__name__}: {exc}"
            continue
        out[name] = score(pred, time.perf_counter() - started)
    snaive = np.resize(y_train[-season:], h)
    out["seasonal_naive"] = score(snaive, 0.0)
    out["_meta"] = {"n": len(series), "h": h, "season": season}
    return out


def _ratio(value: float, best: float) -> str:
    return f"{value / best:.2f}x" if best and np.isfinite(best) else "-"


def report(
    results: dict[str, dict[str, dict[str, float | str]]], baselines: list[str], models: list[str]
) -> dict[str, object]:
    console = Console(width=130)
    methods = ["millrace", *baselines, "seasonal_naive"]
    for name, rows in results.items():
        spec, meta = SERIES[name], rows["_meta"]
        title = (
            f"{name} ({spec.frequency}, n={meta['n']}, h={meta['h']}, m={meta['season']}) "
            f"- {spec.source}"
        )
        table = Table(title=title, title_justify="left")
        for col in ("method", "MASE", "sMAPE %", "wall s", "note"):
            table.add_column(col, justify="left" if col in ("method", "note") else "right")
        for method in methods:
            row = rows[method]
            note = ""
            if method == "millrace":
                note = f"champion: {row['champion']}; best on test: {row['hindsight']}"
                note += f" ({float(row['hindsight_mase']):.3f})"
                note += f"; failed: {row['failed']}" if row["failed"] else ""
            elif method == "seasonal_naive":
                note = "reference floor"
            elif "error" in row:
                note = str(row["error"])[:60]
            table.add_row(
                method, f"{row['mase']:.3f}", f"{row['smape']:.2f}", f"{row['seconds']:.1f}", note
            )
        console.print(table)

    def mean(method: str, metric: str, frequency: str | None = None) -> float:
        values = [
            float(r[method][metric])
            for n, r in results.items()
            if frequency is None or SERIES[n].frequency == frequency
        ]
        return float(np.mean(values)) if values else float("nan")

    best = min(baselines, key=lambda b: mean(b, "mase")) if baselines else None
    best_mase = mean(best, "mase") if best else float("nan")
    best_smape = min((mean(b, "smape") for b in baselines), default=float("nan"))
    frequencies = [f for f in FREQUENCIES if any(SERIES[n].frequency == f for n in results)]
    missing = [f for f in FREQUENCIES if f not in frequencies]
    table = Table(
        title=f"Summary over {len(results)} series (Millrace candidates: {', '.join(models)})",
        title_justify="left",
    )
    for col in (
        "method",
        "mean MASE",
        "mean sMAPE %",
        *[f"MASE {f}" for f in frequencies],
        "total wall s",
        "MASE vs best",
        "sMAPE vs best",
    ):
        left = col == "method"
        table.add_column(col, justify="left" if left else "right", no_wrap=left)
    for method in methods:
        table.add_row(
            method + (" (best baseline)" if method == best else ""),
            f"{mean(method, 'mase'):.3f}",
            f"{mean(method, 'smape'):.2f}",
            *[f"{mean(method, 'mase', f):.3f}" for f in frequencies],
            f"{sum(float(r[method]['seconds']) for r in results.values()):.1f}",
            _ratio(mean(method, "mase"), best_mase),
            _ratio(mean(method, "smape"), best_smape),
        )
    console.print(table)
    hindsight = float(np.mean([float(r["millrace"]["hindsight_mase"]) for r in results.values()]))
    console.print(
        f"Millrace's best candidate per series in hindsight (on test): mean MASE {hindsight:.3f}; "
        f"choosing on validation costs {mean('millrace', 'mase') / hindsight - 1:+.0%}."
    )
    if missing:
        console.print(f"No series of frequency {', '.join(missing)} in this run.")
    summary: dict[str, object] = {"n_series": len(results)}
    for method in methods:
        summary[f"{method}_mean_mase"] = round(mean(method, "mase"), 4)
        summary[f"{method}_mean_smape"] = round(mean(method, "smape"), 4)
        summary[f"{method}_wall_s"] = round(
            sum(float(r[method]["seconds"]) for r in results.values()), 2
        )
    summary["best_baseline"] = best
    if best:
        summary["millrace_mase_ratio_vs_best"] = round(mean("millrace", "mase") / best_mase, 4)
        summary["millrace_smape_ratio_vs_best"] = round(mean("millrace", "smape") / best_smape, 4)
    summary["millrace_hindsight_mean_mase"] = round(hindsight, 4)
    summary["millrace_champions"] = {n: r["millrace"]["champion"] for n, r in results.items()}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", default=",".join(SERIES), help="comma-separated subset")
    parser.add_argument(
        "--budget", type=float, default=20.0, help="Millrace training budget (s) per series"
    )
    parser.add_argument(
        "--models", default=",".join(DEFAULT_MODELS), help="Millrace candidates, comma-separated"
    )
    parser.add_argument("--baselines", default=",".join(BASELINES), help="direct baselines")
    parser.add_argument(
        "--folds",
        type=int,
        default=0,
        help="Millrace CV windows for choosing (0: as the series allow, the default)",
    )
    args = parser.parse_args()
    names = [n for n in args.series.split(",") if n]
    unknown = [n for n in names if n not in SERIES]
    if unknown:
        parser.error(f"unknown series {unknown}: choose from {', '.join(SERIES)}")
    baselines = [b for b in args.baselines.split(",") if b]
    if bad := [b for b in baselines if b not in BASELINES]:
        parser.error(f"unknown baselines {bad}: choose from {', '.join(BASELINES)}")
    models = [m for m in args.models.split(",") if m]
    if bad := [m for m in models if m not in MODELS]:
        parser.error(f"unknown Millrace models {bad}: choose from {', '.join(MODELS)}")
    # Import every library before any clock starts, so no method is charged for imports.
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)  # "plotly failed": unused
    import prophet  # noqa: F401
    import statsforecast.models  # noqa: F401
    import torch  # noqa: F401
    from cmdstanpy.utils import get_logger

    get_logger()  # installs cmdstanpy's handler at DEBUG on first call; quieten it after
    for noisy in ("cmdstanpy", "prophet", "millrace.pipeline"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            results[name] = run_series(
                SERIES[name], Path(tmp), models, baselines, args.budget, args.folds
            )
    print(json.dumps({**report(results, baselines, models), "folds": args.folds}))


if __name__ == "__main__":
    main()
