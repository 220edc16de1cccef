"""The promote step, and its undo: seed 000's ``current.json`` pointer with its history,
and MLflow's ``champion`` alias, moved together.

Re-exported by ``millrace.pipelines.steps`` with the other steps.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from millrace.exceptions import InvalidInputError, NotFoundError
from millrace.ml.gate import Scores, judge
from millrace.ml.registry import champion_stack, registered_name
from millrace.ml.registry import promote as move_alias
from millrace.pipelines.artifacts import Evaluation, Promotion

__all__ = ["promote", "rollback"]


def promote(
    evaluation: Evaluation,
    name: str,
    registry: Path,
    tracking_uri: str | None = None,
    owner: str | None = None,
    gate: bool | None = None,
) -> Promotion:
    """Point ``current.json`` at the champion and keep the history (seed 000's record);
    with MLflow, register the champion's run and move the ``champion`` alias to it.

    Both only if the run's champion passes the champion/challenger gate (``ml.gate``: it
    must beat the live model's test MASE); otherwise it is recorded as the challenger
    and the live model stays. ``gate`` None reads ``MILLRACE_CHAMPION_GATE``: the step
    runs in whichever process the runner chose, each with the deployment's settings.

    With an ``owner`` (a journey's user) the model is registered as that user's
    ``millrace.<owner>.<name>``; without, as the shared ``millrace.forecast.<name>``.
    """
    if gate is None:
        from millrace.settings import Settings

        gate = Settings().champion_gate
    folder = registry / name
    folder.mkdir(parents=True, exist_ok=True)
    current = folder / "current.json"
    history = json.loads(current.read_text())["history"] if current.is_file() else []
    # The champion refitted on every row is what is served; older evaluations lack it.
    served = evaluation.final.uri if evaluation.final is not None else None
    best = evaluation.candidates[evaluation.champion]
    entry = {
        "champion": evaluation.champion,
        "model_uri": served or best["model_uri"],
        "score": best["score"],
        "test": best["test"],
        "promoted_at": datetime.now(UTC).isoformat(),
    }
    run_id = best.get("mlflow_run_id")
    if tracking_uri and run_id:
        from millrace.ml.tracking import register_champion

        entry["registered_name"], entry["mlflow_version"], verdict = register_champion(
            tracking_uri,
            owner=owner or "forecast",
            model_id=name,
            run_id=run_id,
            metrics={f"test_{k}": v for k, v in best["test"].items()},
            gate=gate,
        )
    else:  # no registry: the gate judges against the live entry of current.json
        stack = champion_stack(history, lambda e: bool(e.get("rollback")))
        verdict = judge(
            Scores(str(len(history) + 1), best["test"], metric="mase"),
            Scores(str(len(stack)), stack[-1]["test"], metric="mase") if stack else None,
            enabled=gate,
        )
    entry["verdict"] = verdict.as_dict()
    if verdict.promoted:
        promotion = Promotion(
            name=name,
            champion=entry["champion"],
            model_uri=entry["model_uri"],
            history=[*history, entry],
        )
    else:
        # The live model as this folder knows it; a fresh work folder (a kfp.local run)
        # knows only the registry's version.
        live = history[-1] if history else {}
        promotion = Promotion(
            name=name,
            champion=live.get("champion") or f"registered v{verdict.champion_version}",
            model_uri=live.get("model_uri") or "",
            history=history,
            challenger=entry,
        )
    tmp = folder / "current.json.tmp"
    tmp.write_text(promotion.model_dump_json(indent=2))
    tmp.replace(current)
    return promotion


def _registered(name: str, owner: str | None) -> str:
    return registered_name(owner or "forecast", name)


def rollback(name: str, registry: Path, tracking_uri: str | None = None) -> Promotion:
    current = registry / name / "current.json"
    if not current.is_file():
        raise NotFoundError(f"no promotions recorded for {name!r}")
    history = json.loads(current.read_text())["history"]
    stack = champion_stack(history, lambda e: bool(e.get("rollback")))
    if len(stack) < 2:
        raise InvalidInputError(f"{name!r} has no earlier champion to roll back to")
    previous = stack[-2]
    entry = {**previous, "promoted_at": datetime.now(UTC).isoformat(), "rollback": True}
    if tracking_uri and previous.get("mlflow_version"):
        move_alias(
            tracking_uri,
            previous.get("registered_name", _registered(name, None)),
            previous["mlflow_version"],
            reason="rollback",
        )
    promotion = Promotion(
        name=name,
        champion=previous["champion"],
        model_uri=previous["model_uri"],
        history=[*history, entry],
    )
    tmp = current.with_suffix(".json.tmp")
    tmp.write_text(promotion.model_dump_json(indent=2))
    tmp.replace(current)
    return promotion
