"""The one-step LTE protocol of Perifanis et al. ("Federated Learning for 5G Base Station
Traffic Forecasting"), run through Millrace's pipeline.

Per station: the first 80% of ``<BS>.csv`` trains, the last 20% validates (early stopping
and champion selection), ``<BS>_test.csv`` tests. Inputs are windows of the last 10 steps
of all 11 columns (plus time features); the horizon is one step; metrics are on the
original scale. NRMSE = mean(RMSE_down / mean(down), RMSE_up / mean(up)), which is what
the paper reports. Its best published test NRMSE: ElBorn 0.863, LesCorts 0.282, PobleSec
0.835. Persistence (naive) is printed beside every model.

As in the paper, one model forecasts all five targets (rnti_count, rb_down, rb_up, down,
up) and one champion per station is chosen on all five targets' validation windows, and
by default on two earlier backtest folds as well (``--folds 1``: the validation window
alone).

    .venv/bin/python benchmarks/forecast_lte.py [--stations ElBorn,LesCorts,PobleSec] [--folds 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines.runners.local import run_local

REPO = Path(__file__).resolve().parents[1]
COLUMNS = [
    "down",
    "up",
    "rnti_count",
    "mcs_down",
    "mcs_down_var",
    "mcs_up",
    "mcs_up_var",
    "rb_down",
    "rb_down_var",
    "rb_up",
    "rb_up_var",
]
PAPER = {"ElBorn": 0.863, "LesCorts": 0.282, "PobleSec": 0.835}
MODELS = ["naive", "theta", "arima", "gru", "lstm", "lightgbm"]


TARGETS = ("down", "up", "rnti_count", "rb_down", "rb_up")  # the paper's five


def station(folder: Path, name: str, work: Path, folds: int) -> dict[str, dict[str, float]]:
    """NRMSE / MAE / MSE per model (averaged over down and up) and the champion's.

    One run forecasts the paper's five targets together: the neural models predict them
    all from one window, and one champion is chosen on all five targets' validation.
    """
    cfg = PreprocessConfig(
        target=TARGETS[0],
        extra_targets=TARGETS[1:],
        exog=tuple(c for c in COLUMNS if c not in TARGETS),
        horizon=1,
        input_seq_len=10,
        val_share=0.2,
        max_eval_windows=100_000,
        transform="log1p",  # traffic: rare huge spikes (see PreprocessConfig.transform)
        folds=folds,  # 3: choose on the validation window and two earlier ones
    )
    run = run_local(
        folder / f"{name}.csv",
        cfg,
        work,
        name=name,
        test=folder / f"{name}_test.csv",
        models=MODELS,
    )
    assert run.evaluation is not None
    out = {
        model: {
            metric: (
                result["series"]["down"]["test"][metric] + result["series"]["up"]["test"][metric]
            )
            / 2
            for metric in ("nrmse", "mae", "mse")
        }
        for model, result in run.evaluation.candidates.items()
    }
    champion = run.evaluation.champion
    members = run.evaluation.candidates[champion].get("members")
    out["champion"] = dict(out[champion])
    out["champion"]["models"] = champion + (f" ({'+'.join(members)})" if members else "")  # type: ignore[assignment]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lte")
    parser.add_argument("--stations", default="ElBorn,LesCorts,PobleSec")
    parser.add_argument("--folds", type=int, default=3, help="backtest folds for selection")
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, float]]] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.stations.split(","):
            started = time.perf_counter()
            results[name] = station(args.data, name, Path(tmp), args.folds)
            seconds[name] = time.perf_counter() - started
    console = Console(width=110)  # the whole table, even when piped
    for name, models in results.items():
        table = Table(
            title=f"{name}: test, one step ahead; chosen on {args.folds} fold(s) "
            f"({seconds[name]:.0f} s)"
        )
        for col in ("model", "NRMSE", "vs persistence", "MAE (mean of down/up)", "MSE"):
            if col == "model":
                table.add_column(col, overflow="fold", min_width=24)
            else:
                table.add_column(col, justify="right")
        naive = models["naive"]["nrmse"]
        for model, m in models.items():
            label = f"champion ({m['models']})" if model == "champion" else model
            table.add_row(
                label,
                f"{m['nrmse']:.3f}",
                f"{m['nrmse'] / naive:.2f}x",
                f"{m['mae']:.4g}",
                f"{m['mse']:.4g}",
            )
        table.add_row("paper's best (published)", f"{PAPER[name]:.3f}", "", "", "")
        console.print(table)
    summary = {
        f"{n.lower()}_champion_nrmse": round(r["champion"]["nrmse"], 4) for n, r in results.items()
    }
    summary.update(
        {
            f"{n.lower()}_persistence_nrmse": round(r["naive"]["nrmse"], 4)
            for n, r in results.items()
        }
    )
    summary.update({f"{n.lower()}_paper_nrmse": PAPER[n] for n in results})
    summary["folds"] = args.folds
    summary["beats_paper"] = all(results[n]["champion"]["nrmse"] < PAPER[n] for n in results)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
