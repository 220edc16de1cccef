"""``/metrics`` is valid Prometheus text and counts what was asked."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from tests.serving.conftest import ServedWorld, patients

MODEL = "millrace.alice.credit"


def _samples(served: ServedWorld) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with served.client("prometheus") as c:  # the scrape token, as Prometheus sends it
        r = c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def _get(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_by_model_and_outcome(served: ServedWorld) -> None:
    before = _samples(served)
    rows = json.loads(patients().drop(columns=["high_risk"]).iloc[:5].to_json(orient="records"))
    with served.client() as c:
        for _ in range(3):
            assert c.post("/api/v1/models/credit/predict", json=rows).status_code == 200
        for _ in range(2):
            assert c.post("/api/v1/models/credit/predict", json=[{"age": 1}]).status_code == 422
        assert c.post("/api/v1/models/nope/predict", json=rows).status_code == 404
    after = _samples(served)

    def delta(name: str, **labels: str) -> float:
        return _get(after, name, **labels) - _get(before, name, **labels)

    requests = "millrace_inference_requests_total"
    assert delta(requests, model=MODEL, outcome="ok") == 3
    assert delta(requests, model=MODEL, outcome="client_error") == 2
    assert delta(requests, model="-", outcome="client_error") == 1
    duration = "millrace_inference_request_duration_seconds_count"
    assert delta(duration, model=MODEL, outcome="ok") == 3
    assert delta("millrace_inference_rows_total", model=MODEL) == 15
    assert _get(after, "millrace_model_info", model=MODEL, version="1", kind="tabular") == 1
    assert _get(after, "millrace_model_load_seconds_count", model=MODEL, kind="tabular") >= 1
    assert (
        _get(
            after,
            "millrace_model_load_seconds_count",
            model="millrace.alice.air",
            kind="forecasting",
        )
        >= 1
    )
    assert ("millrace_inference_in_flight", ()) in after
    assert _get(after, "millrace_registry_polls_total", outcome="ok") >= 1
    batches = "millrace_inference_batch_rows_sum"
    assert delta(batches, model=MODEL) == 15


def test_metrics_need_the_scrape_token_or_an_admin(served: ServedWorld) -> None:
    """The series name every model's owner: not for anonymous callers or other users."""
    with served.client(None) as c:
        anonymous = c.get("/metrics")
        wrong = c.get("/metrics", headers={"Authorization": "Bearer not-the-scrape-token"})
    assert anonymous.status_code == 401, anonymous.text
    assert "bearer token" in anonymous.json()["detail"]
    assert wrong.status_code == 401
    with served.client("alice") as c:
        user = c.get("/metrics")
    assert user.status_code == 403
    assert "MILLRACE_METRICS_TOKEN" in user.json()["detail"]
    assert "millrace_inference" not in user.text
    for caller in ("prometheus", "root"):
        with served.client(caller) as c:
            r = c.get("/metrics")
        assert r.status_code == 200, (caller, r.text)
        assert "millrace_inference_requests_total" in r.text
