"""Journey steps done by partner agents: finding the journey a post answers, and time-outs.

Seed 004's partners know nothing of journeys: a bias report names its owner and dataset, a
model its ``training_dataset``, an XAI report its dataset and model. The core agent matches
those to the journey waiting at that step. A step is a partner's when ``MILLRACE_AGENTS``
leaves its agent out or the journey's ``external_steps`` name it; nobody may answer, so
such a step fails after ``partner_step_timeout_s`` with a reason that says what never came.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from millrace.settings import Settings
from millrace.warehouse import journeys
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.ids import parse_version
from millrace.warehouse.models import Journey, utcnow

__all__ = [
    "PARTNER_XAI_REPORTS",
    "expire_partner_steps",
    "find_waiting",
    "is_partner_step",
    "run_partner_sweeper",
]

log = logging.getLogger("millrace.agents.partner_steps")

# A partner explains at the one level its trigger asked for: model and data explanations.
PARTNER_XAI_REPORTS = 2

_WAITING_FOR = {
    "bias": "no bias report was posted for the dataset",
    "automl": "no model was uploaded with training_dataset={dataset}",
    "xai": "{got} of {want} XAI reports (model_explanation, data_explanation) were posted",
}


def is_partner_step(journey: Journey, step: str, settings: Settings) -> bool:
    return bool(journey.steps.get(step, {}).get("external")) or (step not in settings.local_agents)


def find_waiting(
    session: Session, owner_id: str, dataset_id: str, step: str, version: str | None = None
) -> Journey | None:
    """The journey (locked) of this owner's dataset that waits at ``step``: the given
    dataset version's if it waits there, else the newest one that does. Seed partners
    never say which version they worked on."""
    stmt = select(Journey.id, Journey.dataset_version).where(
        Journey.owner_id == owner_id, Journey.dataset_id == dataset_id, Journey.state == step
    )
    waiting = list(session.execute(stmt.order_by(Journey.created_at.desc())))
    if not waiting:
        return None
    chosen = waiting[0].id
    if version is not None:
        wanted = parse_version(version)
        chosen = next((row.id for row in waiting if row.dataset_version == wanted), chosen)
    return journeys.get_journey(session, None, chosen)


def _started(journey: Journey, step: str) -> datetime | None:
    try:
        started = datetime.fromisoformat(str(journey.steps[step]["started_at"]))
    except (KeyError, ValueError):
        return None
    return started if started.tzinfo else started.replace(tzinfo=UTC)


def _reason(journey: Journey, step: str, settings: Settings) -> str:
    why = (
        "the journey's external_steps name it"
        if journey.steps.get(step, {}).get("external")
        else f"MILLRACE_AGENTS={settings.agents!r} leaves its agent out"
    )
    got = len(journey.steps.get("xai", {}).get("outputs", {}).get("reports", {}))
    what = _WAITING_FOR[step].format(dataset=journey.dataset_id, got=got, want=PARTNER_XAI_REPORTS)
    return (
        f"the {step} step was left to a partner agent ({why}) and timed out after "
        f"{settings.partner_step_timeout_s:g} s: {what} "
        f"({journey.owner_id}/{journey.dataset_id} v{journey.dataset_version}); "
        "retry the journey once the partner runs"
    )


def expire_partner_steps(wh: Warehouse, now: datetime | None = None) -> list[str]:
    """Fail every journey whose partner step has waited too long; their ids."""
    settings = wh.settings
    now = now or utcnow()
    limit = timedelta(seconds=settings.partner_step_timeout_s)

    def overdue(journey: Journey) -> bool:
        step = journey.state
        if step not in journeys.STEPS or not is_partner_step(journey, step, settings):
            return False
        started = _started(journey, step)
        return started is not None and now - started >= limit

    # Read without locks; lock and look again only where a step seems overdue.
    with session_scope(wh.sessions) as session:
        running = session.scalars(select(Journey).where(Journey.state.in_(journeys.STEPS)))
        candidates = [j.id for j in running if overdue(j)]
    expired: list[str] = []
    for journey_id in candidates:
        with session_scope(wh.sessions) as session:
            journey = journeys.get_journey(session, None, journey_id)
            if overdue(journey):  # a partner's post may have moved it meanwhile
                journeys.fail(journey, journey.state, _reason(journey, journey.state, settings))
                expired.append(journey_id)
    return expired


def run_partner_sweeper(wh: Warehouse, stop: threading.Event) -> None:
    """Expire partner steps now and every ``partner_sweep_interval_s`` until ``stop``."""
    interval = wh.settings.partner_sweep_interval_s
    while True:
        try:
            for journey_id in expire_partner_steps(wh):
                log.warning("journey %s: a partner step timed out", journey_id)
        except Exception:
            log.exception("partner step sweep failed; retrying in %.0f s", interval)
        if stop.wait(interval):
            return
