"""Which agents exist and how each subscribes: one table for the CLI and ``millrace up``.

A step agent leaves alone the triggers of steps given to partners: those a journey marks
``external``, and all of them when ``MILLRACE_AGENTS`` leaves the agent out (a worker
started by hand then still does not compete with the partner).
"""

from __future__ import annotations

import logging
from types import ModuleType

from millrace.agents import automl, bias, core, xai
from millrace.agents.journey_failures import fail_journey_step
from millrace.events.bus import Message
from millrace.events.runner import Handler, HandlerContext, Subscription

log = logging.getLogger("millrace.agents")

__all__ = ["AGENTS", "subscription"]

AGENTS: dict[str, ModuleType] = {"core": core, "bias": bias, "automl": automl, "xai": xai}
_STEP = {"core": None, "bias": "bias", "automl": "automl", "xai": "xai"}


def _unless_partner(step: str, handle: Handler) -> Handler:
    def handler(message: Message, ctx: HandlerContext) -> None:
        if message.payload.get("external") or step not in ctx.warehouse.settings.local_agents:
            log.info("%s: %s is a partner's step; left to it", step, message.event_id)
            return
        handle(message, ctx)

    return handler


def subscription(name: str, max_tries: int = 3) -> Subscription:
    module = AGENTS[name]
    step = _STEP[name]
    hook = fail_journey_step(step) if step else None
    return Subscription(
        group=module.GROUP,
        topics=module.TOPICS,
        handler=_unless_partner(step, module.handle) if step else module.handle,
        max_tries=max_tries,
        on_dead_letter=hook,
    )
