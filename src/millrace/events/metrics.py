"""Prometheus metrics of event consumers, named by Prometheus conventions."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "CONSUMER_LAG",
    "DEAD_LETTERED",
    "FAILED",
    "HANDLED",
    "HANDLE_SECONDS",
    "RETRIED",
    "SKIPPED",
    "TROUBLE",
]

_LABELS = ("group", "topic")

HANDLED = Counter("millrace_events_handled_total", "Events handled successfully", _LABELS)
FAILED = Counter("millrace_events_failed_total", "Handler attempts that raised", _LABELS)
RETRIED = Counter("millrace_events_retried_total", "Handler attempts retried", _LABELS)
DEAD_LETTERED = Counter(
    "millrace_events_dead_lettered_total", "Events sent to the dead-letter topic", _LABELS
)
SKIPPED = Counter(
    "millrace_events_duplicates_total", "Redelivered events skipped by event id", _LABELS
)
CONSUMER_LAG = Gauge("millrace_consumer_lag", "Events not yet committed", _LABELS)
HANDLE_SECONDS = Histogram(
    "millrace_event_handle_seconds",
    "Wall time of a successful handler call",
    _LABELS,
    buckets=(0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300, 1800),
)
TROUBLE = Counter(
    "millrace_consumer_trouble_total",
    "Poll, done-check, finish or commit errors a consumer backed off from",
    ("group",),
)
