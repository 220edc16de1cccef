"""The journeys API: start one, give it what it waits for, see why it stopped, retry."""

from __future__ import annotations

import numpy as np

from tests.agents.world import diabetes_frame
from tests.conftest import UserClient
from tests.helpers import outbox, upload_csv


def _upload(user: UserClient, dataset_id: str, **form: str) -> None:
    data = diabetes_frame().to_csv(index=False).encode()
    r = upload_csv(user.http, user.user_id, dataset_id, data, **form)
    assert r.status_code == 201, r.text


def test_post_waits_for_input_then_patch_starts_it(user: UserClient) -> None:
    _upload(user, "diab")
    r = user.http.post("/api/v1/journeys", json={"dataset_id": "diab"})
    assert r.status_code == 201, r.text
    journey = r.json()
    assert journey["state"] == "needs_input"
    assert "choose a target column" in journey["reason"]
    assert "high_risk" in journey["reason"]  # it lists the columns to choose from
    assert outbox(user.api.backend, "bias-trigger-events", user_id=user.user_id) == []

    r = user.http.patch(
        f"/api/v1/journeys/{journey['id']}",
        json={"target_column": "high_risk", "sensitive_columns": ["sex"]},
    )
    started = r.json()
    assert started["state"] == "bias"
    assert started["task_type"] == "classification"
    assert started["task_type_inferred"] is True
    assert started["steps"]["bias"]["state"] == "running"
    (trigger,) = outbox(user.api.backend, "bias-trigger-events", user_id=user.user_id)
    assert trigger.payload["journey_id"] == journey["id"]
    assert trigger.payload["sensitive_columns"] == ["sex"]

    again = user.http.patch(f"/api/v1/journeys/{journey['id']}", json={"target_column": "age"})
    assert again.status_code == 409
    got = user.http.get(f"/api/v1/journeys/{journey['id']}").json()
    assert got["target_column"] == "high_risk"
    assert got["links"]["dataset"].endswith("version=1")


def test_upload_hints_are_validated(user: UserClient) -> None:
    r = upload_csv(user.http, user.user_id, "x", task_type="clustering")
    assert r.status_code == 422
    assert "task_type" in r.json()["detail"]


def test_failed_journey_says_why_and_retry_rechecks(user: UserClient) -> None:
    frame = diabetes_frame().head(5)
    r = upload_csv(user.http, user.user_id, "tiny", frame.to_csv(index=False).encode())
    assert r.status_code == 201
    r = user.http.post(
        "/api/v1/journeys",
        json={"dataset_id": "tiny", "target_column": "high_risk", "task_type": "classification"},
    )
    journey = r.json()
    assert journey["state"] == "failed"
    assert "5 rows" in journey["reason"]
    retried = user.http.post(f"/api/v1/journeys/{journey['id']}/retry").json()
    assert retried["state"] == "failed"  # still too small: same clear reason, no hang
    assert "5 rows" in retried["reason"]


def test_retry_of_a_running_journey_is_a_conflict(user: UserClient) -> None:
    _upload(user, "run", target_column="high_risk")
    r = user.http.post("/api/v1/journeys", json={"dataset_id": "run", "target_column": "high_risk"})
    journey = r.json()
    assert journey["state"] == "bias"  # no agents run beside this API: it stays there
    r = user.http.post(f"/api/v1/journeys/{journey['id']}/retry")
    assert r.status_code == 409
    assert "only failed ones retry" in r.json()["detail"]


def test_journeys_are_private(user: UserClient) -> None:
    _upload(user, "mine")
    journey = user.http.post("/api/v1/journeys", json={"dataset_id": "mine"}).json()
    _other, token = user.api.new_user()
    with user.api.client(token) as other:
        assert other.get(f"/api/v1/journeys/{journey['id']}").status_code == 404
        assert other.post("/api/v1/journeys", json={"dataset_id": "mine"}).status_code == 404
        assert other.get("/api/v1/journeys").json() == []


def test_nan_only_target_fails_with_reason(user: UserClient) -> None:
    frame = diabetes_frame().assign(high_risk=np.nan)
    upload_csv(user.http, user.user_id, "nan", frame.to_csv(index=False).encode())
    r = user.http.post(
        "/api/v1/journeys",
        json={"dataset_id": "nan", "target_column": "high_risk", "task_type": "classification"},
    )
    assert r.json()["state"] == "failed"
    assert "all values missing" in r.json()["reason"]
