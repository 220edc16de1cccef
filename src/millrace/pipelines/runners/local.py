"""The local runner: the pipeline in this process, independent trainers in parallel.

Candidates train in a thread pool (PyTorch, statsforecast and Stan release the GIL in their
heavy loops); a candidate that fails is reported and left out rather than sinking the run,
unless none is left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines import steps
from millrace.pipelines.artifacts import Evaluation, Prepared, Promotion, Trained

__all__ = ["DEFAULT_MODELS", "PipelineRun", "Progress", "import_libraries", "run_local"]

DEFAULT_MODELS = (
    "naive",
    "seasonal_naive",
    "ets",
    "theta",
    "arima",
    "dot",
    "prophet",
    "gru",
    "lstm",
    "lightgbm",
)
log = logging.getLogger("millrace.pipeline")

Progress = Callable[[str, str], None]  # (step, state)


@dataclass
class PipelineRun:
    prepared: Prepared
    trained: list[Trained]
    failed: dict[str, str] = field(default_factory=dict)
    evaluation: Evaluation | None = None
    promotion: Promotion | None = None
    inferred: int = 0


def import_libraries(models: Sequence[str]) -> None:
    """Import model libraries once, here: two threads importing torch at the same time can
    see it half-initialised."""
    import importlib

    wanted = {
        "gru": "torch",
        "lstm": "torch",
        "prophet": "prophet",
        "ets": "statsforecast.models",
        "theta": "statsforecast.models",
        "arima": "statsforecast.models",
        "dot": "statsforecast.models",
    }
    for module in {wanted[m] for m in models if m in wanted}:
        importlib.import_module(module)


def run_local(
    data: Path,
    cfg: PreprocessConfig,
    work: Path,
    *,
    name: str,
    models: Sequence[str] = DEFAULT_MODELS,
    test: Path | None = None,
    budget_s: float | None = None,
    seed: int = 0,
    workers: int = 4,
    tracking_uri: str | None = None,
    owner: str | None = None,
    progress: Progress = lambda _s, _t: None,
) -> PipelineRun:
    progress("preprocess", "running")
    prepared = steps.preprocess(data, cfg, work, test=test)
    progress("preprocess", "skipped (same input and config)" if prepared.skipped else "done")
    run = PipelineRun(prepared=prepared, trained=[])
    import_libraries(models)
    per_model = budget_s / max(1, len(models) / workers) if budget_s else None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            pool.submit(steps.train, prepared, m, work, seed, per_model, tracking_uri): m
            for m in models
        }
        for m in models:
            progress(f"train:{m}", "running")
        for future in as_completed(futures):
            m = futures[future]
            try:
                run.trained.append(future.result())
                progress(f"train:{m}", "done")
            except Exception as exc:  # one bad candidate must not sink the others
                run.failed[m] = f"{type(exc).__name__}: {exc}"
                log.warning("candidate %s failed: %s", m, exc)
                progress(f"train:{m}", "failed")
    if not run.trained:
        raise InvalidInputError(f"every candidate failed: {run.failed}")
    run.trained.sort(key=lambda t: list(models).index(t.name))
    progress("evaluate", "running")
    run.evaluation = steps.evaluate(prepared, run.trained, work, tracking_uri)
    progress("evaluate", "done")
    run.promotion = steps.promote(run.evaluation, name, work / "registry", tracking_uri, owner)
    progress("promote", "done")
    champion = run.evaluation.champion_of(run.trained)
    run.inferred = steps.infer(prepared, champion, work / "inference" / f"{name}.jsonl")
    progress("infer", "done")
    return run
