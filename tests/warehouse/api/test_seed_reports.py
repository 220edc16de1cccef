"""Seed 004's bias, transformation and XAI report routes at the root.

The expected field sets are the seed's ``BiasReportResponse``,
``TransformationReportResponse`` and ``XAIReportResponse``.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import UserClient
from tests.helpers import outbox, upload_csv

BIAS_FIELDS = {
    "id",
    "user_id",
    "dataset_id",
    "dataset_version",
    "report",
    "created_at",
    "updated_at",
}
TRANSFORMATION_FIELDS = {
    "id",
    "user_id",
    "dataset_id",
    "version",
    "report",
    "created_at",
    "updated_at",
}
XAI_FIELDS = {
    "user_id",
    "dataset_id",
    "dataset_version",
    "model_id",
    "model_version",
    "report_type",
    "level",
    "file_path",
    "file_size",
    "file_hash",
    "custom_metadata",
    "created_at",
    "updated_at",
}
HTML = b"<html><body><h1>Why</h1><script>alert(1)</script></body></html>"


def _datasets(user: UserClient, versions: int = 2) -> None:
    for _ in range(versions):
        assert upload_csv(user.http, user.user_id, "loans").status_code == 201


def test_bias_report_as_the_detector_posts_it(user: UserClient) -> None:
    _datasets(user)
    u = user.user_id
    report = {"disparate_impact": {"sex": 0.71}}
    r = user.http.post(
        "/bias-reports/",
        json={
            "user_id": u,
            "dataset_id": "loans",
            "dataset_version": "v1",
            "report": report,
            "target_column_name": "label",
            "task_type": "classification",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == BIAS_FIELDS
    assert body["dataset_version"] == "v1" and body["report"] == report and body["id"]
    # Announced through the same service as Millrace's own bias agent.
    (event,) = outbox(user.api.backend, "bias-events", bias_report_id=body["id"])
    assert event.payload["target_column_name"] == "label"
    user.http.post(
        "/bias-reports/",
        json={"user_id": u, "dataset_id": "loans", "dataset_version": "v2", "report": [1, 2]},
    )
    latest = user.http.get(f"/bias-reports/{u}/loans").json()
    assert latest["dataset_version"] == "v2" and latest["report"] == [1, 2]
    v1 = user.http.get(f"/bias-reports/{u}/loans", params={"version": "v1"}).json()
    assert v1 == body
    every = user.http.get(f"/bias-reports/{u}/loans/all").json()
    assert [b["dataset_version"] for b in every] == ["v2", "v1"]
    gone = user.http.delete(f"/bias-reports/{u}/loans", params={"version": "v1"})
    assert gone.json() == {"message": "Bias report for version v1 deleted successfully"}
    assert user.http.get(f"/bias-reports/{u}/loans", params={"version": "v1"}).status_code == 404
    assert user.http.delete(f"/bias-reports/{u}/loans").status_code == 200
    assert user.http.get(f"/bias-reports/{u}/loans").status_code == 404


def test_bias_report_needs_a_report_and_a_real_dataset_version(user: UserClient) -> None:
    _datasets(user, 1)
    base = {"user_id": user.user_id, "dataset_id": "loans"}
    assert user.http.post("/bias-reports/", json=base).status_code == 422
    assert user.http.post("/bias-reports/", json={**base, "report": None}).status_code == 422
    missing = {**base, "dataset_version": "v5", "report": {}}
    assert user.http.post("/bias-reports/", json=missing).status_code == 404
    assert outbox(user.api.backend, "bias-events", user_id=user.user_id) == []


@pytest.mark.parametrize("report", [[{"step": "impute"}, {"step": "scale"}], {"a": 1}, "text", 3])
def test_transformation_report_takes_any_json(user: UserClient, report: object) -> None:
    _datasets(user)
    u = user.user_id
    r = user.http.post(
        "/transformation-reports/",
        json={"user_id": u, "dataset_id": "loans", "version": "v2", "report": report},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == TRANSFORMATION_FIELDS
    assert body["version"] == "v2" and body["report"] == report
    got = user.http.get(f"/transformation-reports/{u}/loans/v2")
    assert got.json() == body
    # Millrace's own API reads the same report (a list stays a list).
    assert user.http.get(f"/api/v1/transformation-reports/{body['id']}").json()["content"] == report
    assert user.http.get(f"/transformation-reports/{u}/loans/v1").status_code == 404
    gone = user.http.delete(f"/transformation-reports/{u}/loans/v2")
    assert gone.json() == {"message": "Transformation report deleted successfully"}
    assert user.http.get(f"/transformation-reports/{u}/loans/v2").status_code == 404


def _model(user: UserClient, times: int = 1) -> None:
    for _ in range(times):
        r = user.http.post(
            f"/ai-models/upload/single/{user.user_id}",
            files={"file": ("m.pt", b"m")},
            data={"model_id": "clf", "name": "clf", "framework": "sklearn"},
        )
        assert r.status_code == 200, r.text


def _xai(user: UserClient, level: str = "beginner", **versions: str) -> dict:
    r = user.http.post(
        f"/xai-reports/upload/{user.user_id}",
        files={"file": ("report.html", HTML, "text/html")},
        data={
            "dataset_id": "loans",
            "model_id": "clf",
            "report_type": "model_explanation",
            "level": level,
            **versions,
        },
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_xai_reports_by_dataset_model_type_and_level(user: UserClient) -> None:
    _datasets(user)
    _model(user, 2)
    u = user.user_id
    first = _xai(user, dataset_version="v1", model_version="v1")
    assert set(first) == XAI_FIELDS
    assert first["dataset_version"] == "v1" and first["model_version"] == "v1"
    assert (
        first["file_size"] == len(HTML) and first["file_hash"] == hashlib.sha256(HTML).hexdigest()
    )
    latest = _xai(user)  # no versions: the newest of each
    assert latest["dataset_version"] == "v2" and latest["model_version"] == "v2"
    _xai(user, level="expert")
    assert len(outbox(user.api.backend, "xai-events", user_id=u)) == 3
    listed = user.http.get(f"/xai-reports/{u}/loans/clf").json()
    assert len(listed) == 3 and all(set(x) == XAI_FIELDS for x in listed)
    only_v1 = user.http.get(f"/xai-reports/{u}/loans/clf", params={"model_version": "v1"}).json()
    assert [x["model_version"] for x in only_v1] == ["v1"]
    one = f"/xai-reports/{u}/loans/clf/model_explanation/beginner"
    assert user.http.get(one).json()["model_version"] == "v2"
    assert user.http.get(one, params={"dataset_version": "v1"}).json() == first
    view = user.http.get(one + "/view")
    assert view.status_code == 200 and view.content == HTML
    assert view.headers["content-type"].startswith("text/html")
    assert "sandbox" in view.headers["content-security-policy"]
    assert user.http.get(f"/xai-reports/{u}/loans/clf/data_explanation/expert").status_code == 404
    assert user.http.get(f"/xai-reports/{u}/loans/clf/model_explanation/guru").status_code == 422
    gone = user.http.delete(one, params={"dataset_version": "v1"})
    assert gone.status_code == 200 and gone.json()["message"] == "XAI report deleted successfully"
    assert len(user.http.get(f"/xai-reports/{u}/loans/clf").json()) == 2


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/bias-reports/{u}/loans"),
        ("GET", "/bias-reports/{u}/loans/all"),
        ("DELETE", "/bias-reports/{u}/loans"),
        ("GET", "/transformation-reports/{u}/loans/v1"),
        ("DELETE", "/transformation-reports/{u}/loans/v1"),
        ("GET", "/xai-reports/{u}/loans/clf"),
        ("GET", "/xai-reports/{u}/loans/clf/model_explanation/beginner"),
        ("GET", "/xai-reports/{u}/loans/clf/model_explanation/beginner/view"),
        ("DELETE", "/xai-reports/{u}/loans/clf/model_explanation/beginner"),
    ],
)
def test_owner_checks(user: UserClient, method: str, path: str) -> None:
    _datasets(user, 1)
    _model(user)
    _xai(user)
    user.http.post(
        "/bias-reports/", json={"dataset_id": "loans", "dataset_version": "v1", "report": {}}
    )
    url = path.format(u=user.user_id)
    with user.api.client(None) as anonymous:
        assert anonymous.request(method, url).status_code == 401
    _, token = user.api.new_user("intruder")
    with user.api.client(token) as other:
        assert other.request(method, url).status_code == 403
        planted = other.post(
            "/bias-reports/",
            json={"user_id": user.user_id, "dataset_id": "loans", "report": {"x": 1}},
        )
        assert planted.status_code == 403
    assert user.http.get(f"/bias-reports/{user.user_id}/loans").json()["report"] == {}
