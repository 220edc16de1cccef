"""AI models: the seed's upload form, versions, latest-by-default, downloads, pickle safety."""

from __future__ import annotations

import hashlib
import pickle

from tests.conftest import UserClient
from tests.helpers import outbox, zip_bytes

SEED_FORM = {
    "model_id": "test-model-1",
    "name": "Test Model",
    "version": "v1",
    "framework": "pytorch",
    "model_type": "classification",
    "training_dataset": "dataset123",
    "training_accuracy": "0.95",
    "validation_accuracy": "0.93",
    "test_accuracy": "0.92",
    "algorithm": "ResNet50",
}


def test_seed_curl_example_with_a_token(user: UserClient) -> None:
    """Seed 004's curl form, plus the Authorization header, on Millrace's own route
    (test_seed_models.py holds the seed's root route to its response)."""
    weights = b"\x00" * 2048
    r = user.http.post(
        "/api/v1/ai-models/upload/single",
        files={"file": ("model.onnx", weights)},
        data={"user_id": user.user_id, **SEED_FORM},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == "test-model-1" and body["version"]["version"] == 1
    attrs = body["version"]["attributes"]
    assert attrs["framework"] == "pytorch" and attrs["training_accuracy"] == 0.95
    (event,) = outbox(user.api.backend, "automl-events", user_id=user.user_id)
    assert event.key == f"{user.user_id}_test-model-1"
    expected = {
        "event_type": "model.uploaded",
        "user_id": user.user_id,
        "model_id": "test-model-1",
        "dataset_id": "dataset123",
        "version": "v1",
        "framework": "pytorch",
        "model_type": "classification",
        "algorithm": "ResNet50",
        "training_accuracy": 0.95,
        "validation_accuracy": 0.93,
        "test_accuracy": 0.92,
    }
    assert {k: event.payload[k] for k in expected} == expected
    assert set(event.payload) >= {"event_id", "timestamp", "model_size_mb"}


def test_get_returns_latest_not_v1_and_versions_list(user: UserClient) -> None:
    for acc in ("0.5", "0.6", "0.7"):
        r = user.http.post(
            f"/api/v1/ai-models/upload/single/{user.user_id}",
            files={"file": ("m.txt", f"weights {acc}".encode())},
            data={"model_id": "m", "validation_accuracy": acc},
        )
        assert r.status_code == 201, r.text
    got = user.http.get("/api/v1/ai-models/m").json()
    assert got["version"]["version"] == 3
    assert got["version"]["attributes"]["validation_accuracy"] == 0.7
    assert [v["version"] for v in user.http.get("/api/v1/ai-models/m/versions").json()] == [1, 2, 3]
    one = user.http.get("/api/v1/ai-models/m/versions/v1/files/m.txt")
    assert one.content == b"weights 0.5"


def test_folder_upload_and_zip_download(user: UserClient) -> None:
    entries = {"model/weights.bin": b"w" * 100, "model/config.json": b"{}"}
    r = user.http.post(
        "/api/v1/ai-models/upload/folder",
        files={"zip_file": ("m.zip", zip_bytes(entries))},
        data={"user_id": user.user_id, "model_id": "bundle"},
    )
    assert r.status_code == 201, r.text
    files = {f["path"]: f for f in r.json()["version"]["files"]}
    assert files["model/weights.bin"]["sha256"] == hashlib.sha256(b"w" * 100).hexdigest()
    archive = user.http.get("/api/v1/ai-models/bundle/versions/latest/download")
    assert archive.status_code == 200 and archive.content[:2] == b"PK"


def test_pickles_are_flagged_and_only_admins_can_trust_them(user: UserClient) -> None:
    blob = pickle.dumps({"not": "loaded"})
    r = user.http.post(
        "/api/v1/ai-models/upload/single",
        files={"file": ("model.bin", blob)},
        data={"model_id": "pk"},
    )
    version = r.json()["version"]
    assert version["has_unsafe_files"] is True and version["trusted"] is False
    assert version["files"][0]["unsafe"] is True
    assert user.http.post("/api/v1/ai-models/pk/versions/1/trust").status_code == 403
    with user.api.client(user.api.admin_token) as admin:
        r = admin.post("/api/v1/ai-models/pk/versions/1/trust", params={"user_id": user.user_id})
        assert r.status_code == 200 and r.json()["trusted"] is True


def test_accuracy_out_of_range_is_422(user: UserClient) -> None:
    r = user.http.post(
        "/api/v1/ai-models/upload/single",
        files={"file": ("m.txt", b"x")},
        data={"model_id": "bad", "training_accuracy": "1.5"},
    )
    assert r.status_code == 422
    assert "training_accuracy" in r.json()["detail"]
    assert user.http.get("/api/v1/ai-models/bad").status_code == 404
