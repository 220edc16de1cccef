"""What seed 004's agentic core put on its triggers, beside Millrace's journey fields.

Seed partners read only these: the bias detector takes the user and dataset ids from
``metadata`` (the dataset's GET body), the AutoML consumer its ``time_budget`` in minutes as
a string, the XAI consumer the ``level``. Each trigger also says whether the dataset and
the model are folder uploads, as the seed's did.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from millrace.exceptions import NotFoundError
from millrace.warehouse.assets import get_asset, get_version
from millrace.warehouse.models import AssetKind, Journey
from millrace.warehouse.seed_shapes import dataset_metadata

__all__ = ["DEFAULT_XAI_LEVEL", "budget_minutes", "trigger_extras"]

# The seed's core asked partners for expert-level explanations.
DEFAULT_XAI_LEVEL = "expert"


def budget_minutes(seconds: float) -> str:
    """``600`` -> ``"10"``, ``90`` -> ``"1.5"``: the seed's minutes, as text."""
    minutes = round(seconds / 60, 2)
    return str(int(minutes)) if minutes == int(minutes) else str(minutes)


def _dataset(session: Session, journey: Journey) -> dict[str, Any]:
    try:
        asset = get_asset(session, AssetKind.DATASET, journey.owner_id, journey.dataset_id)
        version = get_version(session, asset, journey.dataset_version)
    except NotFoundError:  # deleted under the journey: the step will say so when it reads it
        return {}
    return dataset_metadata(asset, version)


def _model_files(session: Session, journey: Journey, model: dict[str, Any]) -> int:
    try:
        asset = get_asset(session, AssetKind.MODEL, journey.owner_id, model["model_id"])
        return get_version(session, asset, model.get("model_version")).file_count
    except (NotFoundError, KeyError):
        return 1


def trigger_extras(
    session: Session, journey: Journey, step: str, model: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The seed's fields of ``step``'s trigger, and ``external`` for a partner's step."""
    meta = _dataset(session, journey)
    extras: dict[str, Any] = {
        "is_folder": bool(meta.get("is_folder", False)),
        "file_count": len(meta.get("files") or []) or 1,
        "external": bool(journey.steps.get(step, {}).get("external")),
    }
    if step == "bias":
        extras.update(metadata=meta, record_count=meta.get("row_count"))
    elif step == "automl":
        extras["time_budget"] = budget_minutes(journey.time_budget_s)
    else:
        count = _model_files(session, journey, model or {})
        extras.update(
            level=DEFAULT_XAI_LEVEL,
            is_model_folder=count > 1,
            model_file_count=count,
            target_column_name=journey.target_column,  # Millrace's, for a model without one
        )
    return extras
