"""What the KFP components do, as plain functions on artifact paths.

Component bodies are shipped as source and must be self-contained, so each one imports
this module and calls one function; the work itself is the same ``steps`` code the local
runner calls. Each output artifact is a folder holding the step's files and its record
(``artifact.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

from millrace.atomic import write_text
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines import steps
from millrace.pipelines.artifacts import Evaluation, Prepared, Trained

__all__ = ["evaluate_into", "infer_into", "preprocess_into", "train_into"]

RECORD = "artifact.json"


def _write(out: str, record: str) -> None:
    # Written last and atomically: a record on disk means the step's files are complete.
    write_text(Path(out) / RECORD, record)


def _read_prepared(path: str) -> Prepared:
    return Prepared.model_validate_json((Path(path) / RECORD).read_text())


def preprocess_into(data_uri: str, test_uri: str, config_json: str, out: str) -> None:
    cfg = PreprocessConfig.from_dict(json.loads(config_json))
    prepared = steps.preprocess(
        Path(data_uri), cfg, Path(out), test=Path(test_uri) if test_uri else None
    )
    _write(out, prepared.model_dump_json())


def train_into(
    prepared_path: str,
    model_name: str,
    seed: int,
    out: str,
    budget_s: float = 0.0,
    tracking_uri: str = "",
) -> None:
    trained = steps.train(
        _read_prepared(prepared_path),
        model_name,
        Path(out),
        seed=seed,
        budget_s=budget_s or None,
        tracking_uri=tracking_uri or None,
    )
    _write(out, trained.model_dump_json())


def _candidates(model_paths: list[str | None]) -> list[Trained]:
    return [Trained.model_validate_json((Path(p) / RECORD).read_text()) for p in model_paths if p]


def evaluate_into(
    prepared_path: str, model_paths: list[str | None], out: str, tracking_uri: str = ""
) -> dict[str, float]:
    """Returns the champion's test metrics, for KFP's Metrics artifact."""
    evaluation = steps.evaluate(
        _read_prepared(prepared_path), _candidates(model_paths), Path(out), tracking_uri or None
    )
    _write(out, evaluation.model_dump_json())
    return {
        f"test_{k}": float(v) for k, v in evaluation.candidates[evaluation.champion]["test"].items()
    }


def infer_into(
    prepared_path: str, evaluation_path: str, model_paths: list[str | None], out: str
) -> int:
    prepared = _read_prepared(prepared_path)
    evaluation = Evaluation.model_validate_json((Path(evaluation_path) / RECORD).read_text())
    champion = evaluation.champion_of(_candidates(model_paths))
    if any(champion is built for built in evaluation.built):
        # Saved inside the evaluation artifact, whose path differs from pod to pod.
        folder = Path(evaluation_path) / "evaluations" / prepared.config_hash / champion.name
        champion = champion.model_copy(update={"uri": str(folder)})
    Path(out).mkdir(parents=True, exist_ok=True)
    return steps.infer(prepared, champion, Path(out) / "forecasts.jsonl")
