"""The API's ``/metrics``: process-wide series, including journey step durations."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from millrace.warehouse import journeys
from millrace.warehouse.api import create_app
from millrace.warehouse.models import Journey
from tests.serving.conftest import ServedWorld

STEP = "millrace_journey_step_duration_seconds_count"


def _count(step: str, outcome: str) -> float:
    return REGISTRY.get_sample_value(STEP, {"step": step, "outcome": outcome}) or 0.0


def test_journey_steps_are_timed_when_they_end() -> None:
    before_done, before_failed = _count("bias", "done"), _count("automl", "failed")
    journey = Journey(id="j1", steps={}, state="bias")
    journeys._enter(journey, "bias")
    journeys._leave(journey, "bias", {"bias_report_id": "r1"})
    journeys._enter(journey, "automl")
    journeys.fail(journey, "automl", "the target has one class")
    assert _count("bias", "done") == before_done + 1
    assert _count("automl", "failed") == before_failed + 1


def test_api_metrics_need_the_scrape_token_or_an_admin(served: ServedWorld) -> None:
    async def scrape(caller: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {served.tokens[caller]}"} if caller else {}
        transport = httpx.ASGITransport(app=create_app(warehouse=served.wh))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=headers
        ) as client:
            return await client.get("/metrics")

    assert asyncio.run(scrape(None)).status_code == 401
    refused = asyncio.run(scrape("alice"))
    assert refused.status_code == 403
    assert "MILLRACE_METRICS_TOKEN" in refused.json()["detail"]
    for caller in ("prometheus", "root"):
        r = asyncio.run(scrape(caller))
        assert r.status_code == 200, (caller, r.text)
        names = {f.name for f in text_string_to_metric_families(r.text)}
        assert "millrace_journey_step_duration_seconds" in names
