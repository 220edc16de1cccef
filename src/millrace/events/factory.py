"""Pick the event bus from ``MILLRACE_EVENT_BUS``."""

from __future__ import annotations

from millrace.events.bus import EventBus
from millrace.events.embedded import EmbeddedBus
from millrace.settings import EventBusKind
from millrace.warehouse.context import Warehouse

__all__ = ["open_bus"]


def open_bus(wh: Warehouse) -> EventBus:
    if wh.settings.event_bus_kind is EventBusKind.KAFKA:
        from millrace.events.kafka import KafkaBus  # needs the kafka extra

        return KafkaBus(wh.settings.kafka_bootstrap or "")
    return EmbeddedBus(wh)
