"""``millrace pipeline``: run the forecasting pipeline locally, or roll a promotion back."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from millrace.exceptions import ConfigError

if TYPE_CHECKING:
    from millrace.pipelines.runners.local import PipelineRun

__all__ = ["pipeline_app"]

pipeline_app = typer.Typer(help="The forecasting pipeline.", no_args_is_help=True)
console = Console()


def _work() -> Path:
    from millrace.cli.main import load_settings

    return load_settings().home.resolve() / "pipelines"


# runners.local.DEFAULT_MODELS, spelled out: importing the runners would load the model
# libraries for every command's start-up. tests/pipelines/test_steps.py checks they agree.
CANDIDATES = "naive,seasonal_naive,ets,theta,arima,dot,prophet,gru,lstm,lightgbm"


def _targets(text: str) -> tuple[str, tuple[str, ...]]:
    """``--target down,up``: the first target and the rest."""
    first, *extra = [c.strip() for c in text.split(",") if c.strip()] or [""]
    return first, tuple(extra)


@pipeline_app.command("run")
def run(
    data: Annotated[Path, typer.Option(help="CSV or Parquet with a time column")],
    target: Annotated[str, typer.Option(help="The column(s) to forecast, comma-separated")],
    time_col: Annotated[str, typer.Option("--time-col")] = "time",
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="A panel: one series per value of this column")
    ] = None,
    horizon: Annotated[int, typer.Option(help="Steps to forecast at once")] = 12,
    input_seq_len: Annotated[int, typer.Option(help="Window the GRU/LSTM see")] = 24,
    models: Annotated[str, typer.Option(help="Comma-separated candidates")] = CANDIDATES,
    exog: Annotated[str, typer.Option(help="Comma-separated exogenous columns")] = "",
    test: Annotated[Path | None, typer.Option(help="A _test file continuing the data")] = None,
    budget: Annotated[float | None, typer.Option(help="Seconds for training")] = None,
    name: Annotated[str | None, typer.Option(help="Registry name (default: the target)")] = None,
    transform: Annotated[
        str | None,
        typer.Option(help="log1p: the neural models see log1p of non-negative columns"),
    ] = None,
    folds: Annotated[
        int,
        typer.Option(
            help="Cross-validation windows the champion is chosen on "
            "(0: as many as the series allow, up to 3; 1: validation only)"
        ),
    ] = 0,
    select_on: Annotated[
        str | None,
        typer.Option(
            help="weighted (seed 000's score) or mase; default: weighted for one series, "
            "mase for a panel"
        ),
    ] = None,
    all_candidates: Annotated[
        bool,
        typer.Option(
            "--all-candidates",
            help="Train every model asked for, even those that sit out on coarser-than-daily "
            "data (Prophet, GRU, LSTM, LightGBM)",
        ),
    ] = False,
) -> None:
    """Preprocess, train every candidate in parallel, evaluate, promote and infer.

    Example: millrace pipeline run --data ElBorn.csv --test ElBorn_test.csv --target down,up
    """
    from millrace.cli.main import load_settings
    from millrace.ml.forecasting.data import PreprocessConfig
    from millrace.pipelines.runners.local import run_local

    settings = load_settings()
    runner: Callable[..., PipelineRun] = run_local
    if settings.use_kafka:  # seed 000's legacy mode: stages chained over Kafka topics
        from millrace.pipelines.runners import runner_kind
        from millrace.pipelines.runners.kafka import run_kafka_chain

        runner_kind(settings)  # a clear ConfigError when there is no Kafka bus
        assert settings.kafka_bootstrap is not None

        runner = partial(run_kafka_chain, bootstrap=settings.kafka_bootstrap)
    first, extra = _targets(target)
    cfg = PreprocessConfig(
        target=first,
        extra_targets=extra,
        id_col=id_col,
        time_col=time_col,
        horizon=horizon,
        input_seq_len=input_seq_len,
        exog=tuple(c for c in exog.split(",") if c),
        transform=transform,
        folds=folds,
        select_on=select_on,
        only_suited=not all_candidates,
    )
    states: dict[str, str] = {}

    def view() -> Table:
        table = Table(title="pipeline", show_header=False)
        for step, state in states.items():
            table.add_row(step, state)
        return table

    with Live(view(), console=console, refresh_per_second=4) as live:

        def progress(step: str, state: str) -> None:
            states[step] = state
            live.update(view())

        result = runner(
            data,
            cfg,
            _work(),
            name=name or first,
            models=[m.strip() for m in models.split(",") if m.strip()],
            test=test,
            budget_s=budget,
            progress=progress,
            tracking_uri=settings.resolved_mlflow_uri,
        )
    assert result.evaluation is not None
    table = Table(title=f"Candidates (champion: {result.evaluation.champion})")
    for col in (
        "model",
        "score (CV)",
        "val RMSE",
        "test RMSE",
        "test MAE",
        "test sMAPE",
        "test MASE",
        "train s",
    ):
        table.add_column(col, justify="right" if col != "model" else "left")
    ranked = sorted(result.evaluation.candidates.items(), key=lambda kv: kv[1]["score"])
    for model, c in ranked:
        t = c["test"]
        table.add_row(
            model,
            f"{c['score']:.3f}",
            f"{c['validation']['rmse']:.4g}",
            f"{t['rmse']:.4g}",
            f"{t['mae']:.4g}",
            f"{t['smape']:.2f}",
            f"{t['mase']:.3f}",
            f"{c['train_seconds']:.1f}",
        )
    for model, error in result.failed.items():
        table.add_row(model, "failed", error[:60], "", "", "", "", "")
    n_series = result.evaluation.windows.get("series", 1)
    if n_series > 1:
        table.caption = f"errors: the mean over {n_series} series (target x id)"
    console.print(table)
    selection = result.evaluation.selection or {}
    leader, champion = selection.get("best_cv"), result.evaluation.champion
    if leader and leader != champion:  # scoring.pick: the tie went to a combination
        console.print(
            f"{leader} led the CV windows, within one standard error of {champion}: "
            "a fixed combination keeps such a tie."
        )
    if "mase" in selection:
        console.print(
            f"Chosen on {selection['on']}; choosing on CV windows it was not made on scored "
            f"MASE {selection['mase']:.3f}, sMAPE {selection['smape']:.2f} "
            f"(picks: {', '.join(selection['picks'])})."
        )
    verdict = result.promotion.latest.get("verdict") if result.promotion else None
    if verdict:  # the champion/challenger gate: did this run's champion go live, and why
        console.print(f"Registry: {verdict['reason']}")
    console.print(f"{result.inferred} forecasts appended to the inference log.")


@pipeline_app.command("stage")
def stage(
    name: Annotated[str, typer.Argument(help="preprocess, train, evaluate or infer")],
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka host:port (default: MILLRACE_EVENT_BUS)")
    ] = None,
) -> None:
    """Run one stage of the Kafka-chained pipeline (USE_KAFKA=1) until SIGTERM.

    Example: millrace pipeline stage train --bootstrap kafka:9092
    """
    import logging

    from millrace.cli.events import stop_on_signals
    from millrace.cli.main import load_settings
    from millrace.pipelines.runners.kafka import run_stage

    bootstrap = bootstrap or load_settings().kafka_bootstrap
    if not bootstrap:
        raise ConfigError("no Kafka: pass --bootstrap host:port or MILLRACE_EVENT_BUS=kafka://…")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run_stage(name, bootstrap, _work(), stop=stop_on_signals())


@pipeline_app.command("rollback")
def rollback(name: Annotated[str, typer.Argument(help="The registry name")]) -> None:
    """Restore the previous champion of NAME.

    Example: millrace pipeline rollback down
    """
    from millrace.cli.main import load_settings
    from millrace.pipelines.steps import rollback as do_rollback

    promotion = do_rollback(name, _work() / "registry", load_settings().resolved_mlflow_uri)
    console.print(f"{name}: champion is {promotion.champion} again ({promotion.model_uri})")


@pipeline_app.command("compile")
def compile_(
    output: Annotated[Path, typer.Option(help="Where to write the pipeline YAML")] = Path(
        "pipeline.yaml"
    ),
    models: Annotated[str, typer.Option(help="Comma-separated candidates")] = CANDIDATES,
    image: Annotated[
        str, typer.Option(help="Container image with Millrace installed")
    ] = "millrace:latest",
) -> None:
    """Compile the KFP v2 pipeline (components call Millrace's step code).

    Example: millrace pipeline compile --output pipeline.yaml --image registry.local/millrace:1
    """
    from millrace.pipelines.runners.kfp import compile_pipeline

    chosen = [m.strip() for m in models.split(",") if m.strip()]
    path = compile_pipeline(output, chosen, image)
    console.print(f"wrote {path}")


@pipeline_app.command("submit")
def submit(
    host: Annotated[str, typer.Option(help="KFP endpoint, e.g. http://kfp.example:8080")],
    data_uri: Annotated[str, typer.Option(help="Data as the pipeline's pods see it")],
    target: Annotated[str, typer.Option(help="The column(s) to forecast, comma-separated")],
    package: Annotated[Path, typer.Option(help="A compiled pipeline")] = Path("pipeline.yaml"),
    time_col: Annotated[str, typer.Option("--time-col")] = "time",
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="A panel: one series per value of this column")
    ] = None,
    horizon: Annotated[int, typer.Option()] = 12,
    test_uri: Annotated[str, typer.Option()] = "",
) -> None:
    """Send a compiled pipeline to a Kubeflow Pipelines endpoint.

    Example: millrace pipeline submit --host http://kfp:8080 --data-uri s3://b/lte.csv --target down
    """
    import json

    from millrace.pipelines.runners.kfp import submit as do_submit

    first, extra = _targets(target)
    config = {
        "target": first,
        "extra_targets": extra,
        "id_col": id_col,
        "time_col": time_col,
        "horizon": horizon,
    }
    run_id = do_submit(
        package,
        host,
        {"data_uri": data_uri, "test_uri": test_uri, "config_json": json.dumps(config)},
    )
    console.print(f"submitted: run {run_id}")
