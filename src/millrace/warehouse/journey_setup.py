"""Creating and configuring journeys from what the user gave: upload hints or the API.

Shared by the core agent (on ``dataset.uploaded``) and the journeys API, so both reach
the same verdict: start, wait for input (and say what is missing), or fail (and say why).
"""

from __future__ import annotations

import pandas as pd

from millrace.exceptions import InvalidInputError
from millrace.ml.fairness.metrics import check_fairness_hints
from millrace.ml.tabular.data import check_spec, infer_task, load_frame
from millrace.ml.tabular.scoring import check_metric
from millrace.warehouse import journeys
from millrace.warehouse.assets import get_asset, get_version
from millrace.warehouse.context import Warehouse
from millrace.warehouse.datasets import JourneyHints
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import AssetKind, Journey, JourneyState

__all__ = ["configure_journey"]


def _hint_problem(frame: pd.DataFrame, journey: Journey) -> str | None:
    """A metric, favourable label or reference group the task or data cannot have: said
    now, while the user can still PATCH it, not when a step fails on it."""
    if journey.task_type == "forecasting" or journey.target_column is None:
        return None
    try:
        check_metric(journey.metric, journey.task_type)
    except InvalidInputError as exc:
        return exc.detail
    return check_fairness_hints(
        frame,
        journey.target_column,
        journey.task_type or "classification",
        list(journey.sensitive_columns),
        journey.favorable_label,
        journey.privileged_groups,
    )


def configure_journey(
    wh: Warehouse,
    *,
    owner_id: str,
    dataset_id: str,
    version: int | None,
    hints: JourneyHints,
    redelivery_safe: bool = False,
) -> Journey:
    """``redelivery_safe``: the hints come from an event that may be delivered again; a
    journey that has moved on keeps its spec silently (the API answers 409 instead)."""
    with session_scope(wh.sessions) as session:
        asset = get_asset(session, AssetKind.DATASET, owner_id, dataset_id)
        version = get_version(session, asset, version).version
    try:
        frame = load_frame(wh, owner_id, dataset_id, version)
        load_error = None
    except (InvalidInputError, ValueError, UnicodeDecodeError) as exc:
        frame, load_error = None, str(exc)
    with session_scope(wh.sessions) as session:
        journey = journeys.new_journey(
            session, owner_id=owner_id, dataset_id=dataset_id, version=version, hints=JourneyHints()
        )
        journey = journeys.get_journey(session, owner_id, journey.id)  # locked
        if journey.state != JourneyState.NEEDS_INPUT.value:
            if hints.model_fields_set and not redelivery_safe:
                journeys.set_spec(journey, hints)  # raises: the spec is fixed now
            return journey
        if frame is None:
            journeys.fail(journey, None, f"cannot read the dataset: {load_error}")
            return journey
        target = hints.target_column or journey.target_column
        inferred = (
            infer_task(frame[target])
            if target in frame.columns and not (hints.task_type or journey.task_type)
            else None
        )
        journeys.set_spec(journey, hints, inferred_task=inferred)
        problem = check_spec(
            frame, journey.target_column, journey.task_type, list(journey.sensitive_columns)
        )
        unfit = None if problem is not None else _hint_problem(frame, journey)
        if problem is None and unfit is None:
            journeys.start(session, journey)
        elif problem is None:
            journey.reason = unfit  # a hint the data lacks: the user can PATCH it
        elif problem.needs_input:
            journey.reason = problem.message
        else:
            journeys.fail(journey, None, problem.message)
        session.flush()
        return journey
