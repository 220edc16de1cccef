"""Counting, timing and logging every inference request, whatever its outcome.

A plain ASGI wrapper (no per-request task or response copy), so it costs microseconds.
It learns the model and what to log from ``request.state``, which the route fills once it
has found the model; a request refused before that (no token, unknown name, bad body) is
counted under model ``-``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from millrace.serving.metrics import NO_MODEL, ServingMetrics
from millrace.serving.request_log import RequestLog

__all__ = ["InferenceObserver", "is_inference"]


def is_inference(method: str, path: str) -> bool:
    return method == "POST" and (
        path == "/predict"
        or (path.startswith("/v2/models/") and path.endswith("/infer"))
        or (path.startswith("/api/v1/models/") and path.endswith("/predict"))
    )


class InferenceObserver:
    def __init__(self, app: ASGIApp, metrics: ServingMetrics, request_log: RequestLog) -> None:
        self.app = app
        self.metrics = metrics
        self.request_log = request_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_inference(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            state: dict[str, Any] = scope.get("state") or {}
            model = state.get("model", NO_MODEL)
            outcome = "ok" if status < 400 else "client_error" if status < 500 else "server_error"
            self.metrics.requests.labels(model, outcome).inc()
            self.metrics.duration.labels(model, outcome).observe(elapsed)
            entry = state.get("log")
            if entry is not None:
                self.metrics.rows.labels(model).inc(entry.get("rows", 0))
            self.request_log.record(
                {
                    **(entry or {"model": model}),
                    "ts": time.time(),
                    "path": scope["path"],
                    "status": status,
                    "outcome": outcome,
                    "latency_ms": round(elapsed * 1000, 3),
                }
            )
