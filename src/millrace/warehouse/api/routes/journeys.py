"""Journeys over HTTP: start or complete one, watch it, retry a failed step."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from millrace.warehouse import journeys
from millrace.warehouse.api.deps import CurrentUser, WarehouseDep
from millrace.warehouse.api.routes.assets import ActFor
from millrace.warehouse.api.schemas import Timestamp, VersionIn
from millrace.warehouse.datasets import JourneyHints
from millrace.warehouse.db import session_scope
from millrace.warehouse.ids import parse_version
from millrace.warehouse.journey_setup import configure_journey
from millrace.warehouse.models import Journey
from millrace.warehouse.users import acting_owner

__all__ = ["router"]

router = APIRouter(prefix="/journeys", tags=["journeys"])


class JourneyUpdate(JourneyHints):
    """The hints as a JSON body. Strict: ``"time_budget_s": true`` is not one second."""

    model_config = ConfigDict(strict=True)


class JourneyIn(JourneyUpdate):
    dataset_id: str
    version: VersionIn | None = None
    user_id: str | None = None


class JourneyOut(BaseModel):
    id: str
    user_id: str
    dataset_id: str
    dataset_version: int
    state: str
    reason: str | None
    failed_step: str | None
    target_column: str | None
    task_type: str | None
    task_type_inferred: bool
    sensitive_columns: list[str]
    time_budget_s: float
    favorable_label: str | None = None
    privileged_groups: dict[str, str] = Field(default_factory=dict)
    metric: str | None = None
    steps: dict[str, Any]
    links: dict[str, str] = Field(default_factory=dict)
    created_at: Timestamp
    updated_at: Timestamp
    completed_at: Timestamp | None

    @classmethod
    def of(cls, j: Journey) -> JourneyOut:
        links = {"dataset": f"/api/v1/datasets/{j.dataset_id}?version={j.dataset_version}"}
        outputs = {s: j.steps.get(s, {}).get("outputs", {}) for s in journeys.STEPS}
        if rid := outputs["bias"].get("bias_report_id"):
            links["bias_report"] = f"/api/v1/bias-reports/{rid}"
            links["bias_report_view"] = f"/api/v1/bias-reports/{rid}/view"
        if mid := outputs["automl"].get("model_id"):
            links["model"] = f"/api/v1/ai-models/{mid}?version={outputs['automl']['model_version']}"
        for kind, rid in outputs["xai"].get("reports", {}).items():
            links[f"xai/{kind}"] = f"/api/v1/xai-reports/{rid}/view"
        return cls(
            id=j.id,
            user_id=j.owner_id,
            dataset_id=j.dataset_id,
            dataset_version=j.dataset_version,
            state=j.state,
            reason=j.reason,
            failed_step=j.failed_step,
            target_column=j.target_column,
            task_type=j.task_type,
            task_type_inferred=j.task_type_inferred,
            sensitive_columns=list(j.sensitive_columns),
            time_budget_s=j.time_budget_s,
            favorable_label=j.favorable_label,
            privileged_groups=dict(j.privileged_groups or {}),
            metric=j.metric,
            steps=j.steps,
            links=links,
            created_at=j.created_at,
            updated_at=j.updated_at,
            completed_at=j.completed_at,
        )


@router.post(
    "",
    response_model=JourneyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Start a journey for a dataset version, or give it what it waits for",
)
def create(wh: WarehouseDep, user: CurrentUser, body: JourneyIn) -> JourneyOut:
    owner_id = acting_owner(wh, user, body.user_id)
    hints = JourneyHints.model_validate(
        body.model_dump(include=set(JourneyHints.model_fields), exclude_unset=True)
    )
    version = parse_version(body.version) if body.version is not None else None
    journey = configure_journey(
        wh, owner_id=owner_id, dataset_id=body.dataset_id, version=version, hints=hints
    )
    return JourneyOut.of(journey)


@router.patch(
    "/{journey_id}",
    response_model=JourneyOut,
    summary="Complete a journey's spec while it waits in needs_input",
)
def update(
    wh: WarehouseDep,
    user: CurrentUser,
    journey_id: str,
    body: JourneyUpdate,
    user_id: ActFor = None,
) -> JourneyOut:
    owner_id = acting_owner(wh, user, user_id)
    with session_scope(wh.sessions) as session:
        j = journeys.get_journey(session, owner_id, journey_id)
        dataset_id, version = j.dataset_id, j.dataset_version
    journey = configure_journey(
        wh, owner_id=owner_id, dataset_id=dataset_id, version=version, hints=body
    )
    return JourneyOut.of(journey)


@router.get("", response_model=list[JourneyOut])
def list_(
    wh: WarehouseDep, user: CurrentUser, dataset_id: str | None = None, user_id: ActFor = None
) -> list[JourneyOut]:
    owner_id = acting_owner(wh, user, user_id)
    with session_scope(wh.sessions) as session:
        return [JourneyOut.of(j) for j in journeys.list_journeys(session, owner_id, dataset_id)]


@router.get(
    "/{journey_id}",
    response_model=JourneyOut,
    summary="Every step with its state, timing and links to its outputs",
)
def get(wh: WarehouseDep, user: CurrentUser, journey_id: str, user_id: ActFor = None) -> JourneyOut:
    owner_id = acting_owner(wh, user, user_id)
    with session_scope(wh.sessions) as session:
        return JourneyOut.of(journeys.get_journey(session, owner_id, journey_id))


@router.post(
    "/{journey_id}/retry",
    response_model=JourneyOut,
    summary="Resume a failed journey from the step that failed",
)
def retry(
    wh: WarehouseDep, user: CurrentUser, journey_id: str, user_id: ActFor = None
) -> JourneyOut:
    owner_id = acting_owner(wh, user, user_id)
    with session_scope(wh.sessions) as session:
        j = journeys.get_journey(session, owner_id, journey_id)
        dataset_id, version, step = j.dataset_id, j.dataset_version, j.failed_step
        journeys.retry(session, j)
    if step is None:  # it failed before any step: check the spec again
        configure_journey(
            wh, owner_id=owner_id, dataset_id=dataset_id, version=version, hints=JourneyHints()
        )
    return get(wh, user, journey_id, user_id)
