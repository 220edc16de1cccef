"""Which agents exist and how each subscribes: one table for the CLI and ``millrace up``."""

from __future__ import annotations

from types import ModuleType

from millrace.agents import automl, bias, core, xai
from millrace.agents.journey_failures import fail_journey_step
from millrace.events.runner import Subscription

__all__ = ["AGENTS", "subscription"]

AGENTS: dict[str, ModuleType] = {"core": core, "bias": bias, "automl": automl, "xai": xai}
_STEP = {"core": None, "bias": "bias", "automl": "automl", "xai": "xai"}


def subscription(name: str, max_tries: int = 3) -> Subscription:
    module = AGENTS[name]
    step = _STEP[name]
    hook = fail_journey_step(step) if step else None
    return Subscription(
        group=module.GROUP,
        topics=module.TOPICS,
        handler=module.handle,
        max_tries=max_tries,
        on_dead_letter=hook,
    )
