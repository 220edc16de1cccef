"""The bias report's and AutoML's journey hints over HTTP: the upload form and the journeys
API take favorable_label, privileged_groups and metric, store them, and refuse bad ones."""

from __future__ import annotations

from typing import Any

import httpx

from tests.agents.world import diabetes_frame
from tests.conftest import UserClient
from tests.helpers import outbox


def _upload(user: UserClient, dataset_id: str, **form: Any) -> httpx.Response:
    return user.http.post(
        f"/api/v1/datasets/upload/{user.user_id}",
        files={"file": ("d.csv", diabetes_frame().to_csv(index=False).encode(), "text/csv")},
        data={"dataset_id": dataset_id, **form},
    )


def _journey(user: UserClient, dataset_id: str) -> dict[str, Any]:
    (journey,) = user.http.get("/api/v1/journeys", params={"dataset_id": dataset_id}).json()
    return journey


def test_the_upload_form_takes_the_hints(user: UserClient) -> None:
    r = _upload(
        user,
        "hinted",
        target_column="high_risk",
        sensitive_columns="sex,age",
        favorable_label="0",
        privileged_groups="sex=1",
        metric="roc_auc",
    )
    assert r.status_code == 201, r.text
    (event,) = outbox(user.api.backend, "dataset-events", dataset_id="hinted")
    assert event.payload["favorable_label"] == "0"
    assert event.payload["privileged_groups"] == {"sex": "1"}
    assert event.payload["metric"] == "roc_auc"
    # As JSON too, numbers read as the label's text.
    r = _upload(user, "json", target_column="high_risk", privileged_groups='{"sex": 2}')
    assert r.status_code == 201, r.text
    (event,) = outbox(user.api.backend, "dataset-events", dataset_id="json")
    assert event.payload["privileged_groups"] == {"sex": "2"}
    assert event.payload["favorable_label"] is None and event.payload["metric"] is None


def test_bad_hints_are_422_with_the_field(user: UserClient) -> None:
    for form, words in [
        ({"privileged_groups": "sex"}, "key=value"),
        ({"privileged_groups": "{sex: 1}"}, "not a valid JSON object"),
        ({"privileged_groups": '{"sex": [1, 2]}'}, "single values"),
        ({"metric": "   "}, "metric"),
        ({"favorable_label": "x" * 300}, "256"),
    ]:
        r = _upload(user, "bad", **form)
        assert r.status_code == 422, (form, r.text)
        assert words in r.json()["detail"], (form, r.json())
    assert _upload(user, "ok").status_code == 201
    for body in [
        {"privileged_groups": ["sex"]},
        {"privileged_groups": {"sex": [1]}},
        {"metric": 3},
        {"favorable_label": ""},
    ]:
        r = user.http.post("/api/v1/journeys", json={"dataset_id": "ok", **body})
        assert r.status_code == 422, (body, r.text)


def test_a_group_the_data_lacks_waits_for_input_then_patch_starts_it(
    user: UserClient,
) -> None:
    assert _upload(user, "diab").status_code == 201
    r = user.http.post(
        "/api/v1/journeys",
        json={
            "dataset_id": "diab",
            "target_column": "high_risk",
            "sensitive_columns": ["sex"],
            "privileged_groups": {"sex": "male"},
            "favorable_label": 0,
        },
    )
    assert r.status_code == 201, r.text
    journey = r.json()
    assert journey["state"] == "needs_input"
    assert "privileged group 'male' is not a group of 'sex'" in journey["reason"]
    assert "'1', '2'" in journey["reason"]  # it lists the groups to choose from
    r = user.http.patch(f"/api/v1/journeys/{journey['id']}", json={"privileged_groups": {"age": 1}})
    assert "'age', which is not among the sensitive columns" in r.json()["reason"]
    body = {"privileged_groups": {"sex": 2}, "metric": "rmse"}
    r = user.http.patch(f"/api/v1/journeys/{journey['id']}", json=body)
    assert r.json()["state"] == "needs_input"
    assert "metric 'rmse' does not fit a classification task" in r.json()["reason"]
    r = user.http.patch(
        f"/api/v1/journeys/{journey['id']}",
        json={"privileged_groups": {"sex": 2}, "metric": "log_loss"},
    )
    started = r.json()
    assert started["state"] == "bias", started["reason"]
    assert started["favorable_label"] == "0"
    assert started["privileged_groups"] == {"sex": "2"}
    assert started["metric"] == "log_loss"
    (trigger,) = outbox(user.api.backend, "bias-trigger-events", user_id=user.user_id)
    assert trigger.payload["privileged_groups"] == {"sex": "2"}
    assert trigger.payload["favorable_label"] == "0"
    assert _journey(user, "diab")["metric"] == "log_loss"
