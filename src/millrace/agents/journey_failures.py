"""What every agent does when an event dies: the journey says which step failed and why."""

from __future__ import annotations

from sqlalchemy.orm import Session

from millrace.events.bus import Message
from millrace.events.runner import DeadLetterHook
from millrace.warehouse import journeys
from millrace.warehouse.models import Journey

__all__ = ["fail_journey_step"]


def fail_journey_step(step: str) -> DeadLetterHook:
    def hook(session: Session, message: Message, error: str) -> None:
        journey_id = message.payload.get("journey_id")
        if not journey_id:
            return
        journey = session.get(Journey, journey_id)
        if journey is not None:
            journeys.fail(journey, step, f"{step} step failed: {error}")

    return hook
