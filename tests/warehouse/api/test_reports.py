"""Bias, transformation and XAI reports, and the events they write."""

from __future__ import annotations

from tests.conftest import UserClient
from tests.helpers import outbox, upload_csv


def test_bias_report_is_stored_per_dataset_version_and_announced(user: UserClient) -> None:
    upload_csv(user.http, user.user_id, "loans")
    upload_csv(user.http, user.user_id, "loans")
    report = {"disparate_impact": {"sex": 0.71}, "flags": ["four_fifths_rule"]}
    r = user.http.post(
        "/api/v1/bias-reports/",
        json={
            "dataset_id": "loans",
            "user_id": user.user_id,
            "version": "v1",
            "report": report,
            "target_column_name": "label",
            "task_type": "classification",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["dataset_version"] == 1 and body["content"] == report
    got = user.http.get(f"/api/v1/bias-reports/{body['id']}").json()
    assert got["content"] == report
    listed = user.http.get("/api/v1/bias-reports", params={"dataset_id": "loans"}).json()
    assert [x["id"] for x in listed["items"]] == [body["id"]]
    (event,) = outbox(user.api.backend, "bias-events", user_id=user.user_id)
    assert event.key == "loans"
    assert event.payload["bias_report_id"] == body["id"]
    assert event.payload["target_column_name"] == "label"
    assert event.payload["task_type"] == "classification"
    assert event.payload["has_transformation_report"] is False


def test_bias_report_defaults_to_latest_version_and_needs_a_real_dataset(
    user: UserClient,
) -> None:
    upload_csv(user.http, user.user_id, "d")
    upload_csv(user.http, user.user_id, "d")
    r = user.http.post("/api/v1/bias-reports/", json={"dataset_id": "d", "report": {"x": 1}})
    assert r.json()["dataset_version"] == 2
    missing = user.http.post(
        "/api/v1/bias-reports/", json={"dataset_id": "nope", "report": {"x": 1}}
    )
    assert missing.status_code == 404
    assert outbox(user.api.backend, "bias-events", user_id=user.user_id, dataset_id="nope") == []
    empty = user.http.post("/api/v1/bias-reports/", json={"dataset_id": "d"})
    assert empty.status_code == 422


def test_transformation_report(user: UserClient) -> None:
    upload_csv(user.http, user.user_id, "t")
    r = user.http.post(
        "/api/v1/transformation-reports/", json={"dataset_id": "t", "report": {"steps": ["impute"]}}
    )
    assert r.status_code == 201 and r.json()["kind"] == "transformation"


def test_xai_report_upload_view_and_event(user: UserClient) -> None:
    upload_csv(user.http, user.user_id, "iris")
    user.http.post(
        "/api/v1/ai-models/upload/single", files={"file": ("m.txt", b"m")}, data={"model_id": "clf"}
    )
    html = b"<html><body><h1>Why</h1><script>alert(1)</script></body></html>"
    r = user.http.post(
        f"/api/v1/xai-reports/upload/{user.user_id}",
        files={"file": ("report.html", html, "text/html")},
        data={
            "dataset_id": "iris",
            "model_id": "clf",
            "report_type": "model_explanation",
            "level": "beginner",
        },
    )
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["model_version"] == 1 and report["level"] == "beginner"
    view = user.http.get(f"/api/v1/xai-reports/{report['id']}/view")
    assert view.status_code == 200 and view.content == html
    assert view.headers["content-type"].startswith("text/html")
    assert "sandbox" in view.headers["content-security-policy"]
    (event,) = outbox(user.api.backend, "xai-events", user_id=user.user_id)
    assert event.payload["xai_report_id"] == report["id"]
    assert event.payload["report_type"] == "model_explanation"


def test_xai_report_rejects_bad_type_level_and_unknown_model(user: UserClient) -> None:
    upload_csv(user.http, user.user_id, "iris")
    base = {"dataset_id": "iris", "report_type": "model_explanation", "level": "expert"}
    for override, status in (
        ({"report_type": "poem"}, 422),
        ({"level": "guru"}, 422),
        ({"model_id": "ghost"}, 404),
    ):
        r = user.http.post(
            f"/api/v1/xai-reports/upload/{user.user_id}",
            files={"file": ("r.html", b"<p>x</p>")},
            data={**base, **override},
        )
        assert r.status_code == status, (override, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert user.http.get("/api/v1/xai-reports").json()["items"] == []
