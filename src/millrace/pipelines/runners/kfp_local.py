"""The compiled KFP pipeline, run on this machine by ``kfp.local``'s subprocess runner.

This is what ``USE_KFP=1`` with ``MILLRACE_KFP_HOST=local`` does: the same components
a Kubeflow cluster would run (each a fresh Python process calling the step code), with
their artifacts in a folder here. Promotion happens after the run, in this process, as
it would in the caller of a remote run: the pipeline itself only evaluates and infers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines import steps
from millrace.pipelines.artifacts import Evaluation, Prepared, Trained
from millrace.pipelines.runners.kfp_ops import RECORD
from millrace.pipelines.runners.local import DEFAULT_MODELS, PipelineRun, Progress

__all__ = ["run_kfp_local"]


def _records(root: Path, folder: str) -> list[Path]:
    return sorted(root.rglob(f"{folder}/{RECORD}"))


def run_kfp_local(
    data: Path,
    cfg: PreprocessConfig,
    work: Path,
    *,
    name: str,
    models: Sequence[str] = DEFAULT_MODELS,
    test: Path | None = None,
    budget_s: float | None = None,
    seed: int = 0,
    tracking_uri: str | None = None,
    owner: str | None = None,
    progress: Progress = lambda _s, _t: None,
) -> PipelineRun:
    from kfp import local

    from millrace.pipelines.runners.kfp import build_pipeline

    root = work / "kfp" / uuid.uuid4().hex
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    config = {k: v for k, v in asdict(cfg).items() if k != "exog"} | {"exog": list(cfg.exog)}
    progress("kfp", "running")
    # Components run one after another here, so each gets its share of the budget.
    per_model = budget_s / max(1, len(models)) if budget_s else 0.0
    try:
        build_pipeline(models)(
            data_uri=str(data.resolve()),
            config_json=json.dumps(config),
            test_uri=str(test.resolve()) if test else "",
            seed=seed,
            budget_s=per_model,
            tracking_uri=tracking_uri or "",
        )
    except RuntimeError as exc:  # kfp.local reports a failed task this way
        raise InvalidInputError(f"the KFP pipeline failed: {exc}") from exc
    progress("kfp", "done")
    (prepared_file,) = _records(root, "prepared")
    prepared = Prepared.model_validate_json(prepared_file.read_text())
    trained = [Trained.model_validate_json(p.read_text()) for p in _records(root, "model")]
    (evaluation_file,) = _records(root, "evaluation")
    evaluation = Evaluation.model_validate_json(evaluation_file.read_text())
    run = PipelineRun(prepared=prepared, trained=trained, evaluation=evaluation)
    run.promotion = steps.promote(evaluation, name, work / "registry", tracking_uri, owner)
    progress("promote", "done")
    forecasts = sorted(root.rglob("forecasts/forecasts.jsonl"))
    run.inferred = sum(1 for f in forecasts for _ in f.open())
    return run
