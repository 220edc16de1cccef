"""Bad input on seed 004's root routes is a clear 4xx problem, never a 500."""

from __future__ import annotations

import json

import pytest

from tests.conftest import UserClient
from tests.helpers import csv_bytes, outbox


@pytest.fixture
def people(user: UserClient) -> UserClient:
    r = user.http.post(
        f"/datasets/upload/{user.user_id}",
        files={"file": ("people.csv", csv_bytes())},
        data={"dataset_id": "people"},
    )
    assert r.status_code == 200, r.text
    r = user.http.post(
        f"/ai-models/upload/single/{user.user_id}",
        files={"file": ("m.pt", b"m")},
        data={"model_id": "m"},
    )
    assert r.status_code == 200, r.text
    return user


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/datasets/{u}/people/version/v99999999999", {}, 422),
        ("/datasets/{u}/people/version/latest-ish", {}, 422),
        ("/datasets/{u}/people/download", {"filename": "../../etc/passwd"}, 404),
        ("/datasets/{u}/people/files", {"version": "v0"}, 422),
        ("/datasets/{u}", {"limit": 0}, 422),
        ("/datasets/{u}", {"skip": -1}, 422),
        ("/datasets/search/{u}", {"tags": "[not json"}, 422),
        ("/ai-models/{u}/m", {"version": "abc"}, 422),
        ("/ai-models/{u}/m/download", {"filename": "/etc/passwd"}, 404),
        ("/bias-reports/{u}/people", {"version": "v" + "9" * 40}, 422),
        ("/transformation-reports/{u}/people/vv", {}, 422),
        ("/xai-reports/{u}/people/m", {"model_version": "x"}, 422),
        ("/users/{u}x", {}, 403),
    ],
)
def test_bad_reads_are_clear_problems(
    people: UserClient, path: str, params: dict[str, object], status: int
) -> None:
    r = people.http.get(path.format(u=people.user_id), params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"]


def _deep(levels: int) -> dict[str, object]:
    value: dict[str, object] = {}
    for _ in range(levels):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"dataset_id": "people", "dataset_version": True, "report": {}}, 422),
        ({"dataset_id": "people", "report": {"x": float("nan")}}, 422),
        ({"dataset_id": "../people", "report": {}}, 404),
        ({"dataset_id": "people", "report": _deep(200)}, 422),
    ],
    ids=["true-version", "nan", "traversal-id", "deep"],
)
def test_bad_reports_are_refused(people: UserClient, body: dict[str, object], status: int) -> None:
    r = people.http.post(
        "/bias-reports/",
        content=json.dumps(body, allow_nan=True).encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert outbox(people.api.backend, "bias-events", user_id=people.user_id) == []


def test_bad_uploads_are_refused(people: UserClient) -> None:
    u = people.user_id
    not_zip = people.http.post(
        f"/datasets/upload/folder/{u}",
        files={"zip_file": ("x.zip", b"not a zip")},
        data={"dataset_id": "x"},
    )
    assert not_zip.status_code == 422, not_zip.text
    bad_id = people.http.post(
        f"/ai-models/upload/single/{u}",
        files={"file": ("m.pt", b"m")},
        data={"model_id": "../escape"},
    )
    assert bad_id.status_code == 422
    mismatch = people.http.post(
        f"/ai-models/upload/single/{u}",
        files={"file": ("m.pt", b"m")},
        data={"model_id": "m", "user_id": "someone-else"},
    )
    assert mismatch.status_code == 422
    accuracy = people.http.post(
        f"/ai-models/upload/single/{u}",
        files={"file": ("m.pt", b"m")},
        data={"model_id": "m", "training_accuracy": "7"},
    )
    assert accuracy.status_code == 422 and "training_accuracy" in accuracy.json()["detail"]
    xai = people.http.post(
        f"/xai-reports/upload/{u}",
        files={"file": ("r.html", b"")},
        data={"dataset_id": "people", "report_type": "model_explanation", "level": "beginner"},
    )
    assert xai.status_code == 422
