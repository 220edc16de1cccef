"""The inference server's Prometheus metrics, in a registry of its own per app.

A registry per app (not the process-global one) lets tests and ``millrace up`` build
several servers in one process without their series colliding. Names follow Prometheus
conventions: ``_total`` counters, ``_seconds`` histograms, base units.

The ``model`` label is the registered name (``millrace.<owner>.<model_id>``) of a served
model, or ``-`` for requests that never reached one (no token, unknown name), so a caller
cannot inflate the label set by guessing names.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["NO_MODEL", "ServingMetrics"]

NO_MODEL = "-"
_LATENCY = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass
class ServingMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "millrace_inference_requests_total",
            "Inference requests answered, by model and outcome (ok, client_error, server_error)",
            ("model", "outcome"),
            registry=r,
        )
        self.duration = Histogram(
            "millrace_inference_request_duration_seconds",
            "Wall time from request to response, by model and outcome",
            ("model", "outcome"),
            buckets=_LATENCY,
            registry=r,
        )
        self.in_flight = Gauge(
            "millrace_inference_in_flight", "Inference requests being handled now", registry=r
        )
        self.rows = Counter(
            "millrace_inference_rows_total",
            "Rows (or forecast points) predicted",
            ("model",),
            registry=r,
        )
        self.batch_rows = Histogram(
            "millrace_inference_batch_rows",
            "Rows per model call after coalescing concurrent requests",
            ("model",),
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 16384),
            registry=r,
        )
        self.load_seconds = Histogram(
            "millrace_model_load_seconds",
            "Time to fetch and build a model version before it goes live",
            ("model", "kind"),
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.load_failures = Counter(
            "millrace_model_load_failures_total",
            "Model versions that could not be loaded (the previous one stays live)",
            ("model",),
            registry=r,
        )
        self.info = Gauge(
            "millrace_model_info",
            "1 for the version of each model that is live",
            ("model", "version", "kind"),
            registry=r,
        )
        self.log_dropped = Counter(
            "millrace_inference_log_dropped_total",
            "Request log records dropped because the writer fell behind",
            registry=r,
        )
        self.registry_polls = Counter(
            "millrace_registry_polls_total",
            "Registry polls, by outcome (ok, error)",
            ("outcome",),
            registry=r,
        )

    def live(self, model: str, version: str, kind: str, previous: str | None) -> None:
        """Point the info series at the new live version (and drop the old one)."""
        if previous is not None and previous != version:
            with contextlib.suppress(KeyError):
                self.info.remove(model, previous, kind)
        self.info.labels(model, version, kind).set(1)

    def gone(self, model: str, version: str, kind: str) -> None:
        with contextlib.suppress(KeyError):
            self.info.remove(model, version, kind)
