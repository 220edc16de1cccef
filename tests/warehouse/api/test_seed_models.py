"""Seed 004's AI model routes at the root: uploads with its form, reads with ``?version=``.

The expected field sets are the seed's ``ModelResponse`` and ``ModelFile``.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.conftest import UserClient
from tests.helpers import outbox, upload_csv, zip_bytes

MODEL_FIELDS = {
    "model_id",
    "user_id",
    "name",
    "description",
    "version",
    "framework",
    "model_type",
    "algorithm",
    "files",
    "primary_file_path",
    "input_shape",
    "output_shape",
    "num_parameters",
    "model_size_mb",
    "training_dataset",
    "training_accuracy",
    "validation_accuracy",
    "test_accuracy",
    "training_loss",
    "python_version",
    "dependencies",
    "hardware_requirements",
    "tags",
    "custom_metadata",
    "created_at",
    "updated_at",
    "is_active",
    "is_production_ready",
}
MODEL_FILE_FIELDS = {
    "filename",
    "file_path",
    "file_size",
    "file_type",
    "file_hash",
    "content_type",
    "is_primary",
    "description",
}
SEED_FORM = {
    "model_id": "test-model-1",
    "name": "Test Model",
    "version": "v1",
    "framework": "pytorch",
    "model_type": "classification",
    "algorithm": "ResNet50",
    "training_dataset": "people",
    "training_accuracy": "0.95",
    "training_loss": "0.12",
    "python_version": "3.11",
}


def _upload(user: UserClient, weights: bytes = b"\x00" * 2048, with_path: bool = True) -> dict:
    path = f"/ai-models/upload/single/{user.user_id}" if with_path else "/ai-models/upload/single"
    form = SEED_FORM if with_path else {"user_id": user.user_id, **SEED_FORM}
    r = user.http.post(path, files={"file": ("model.pt", weights)}, data=form)
    assert r.status_code == 200, r.text
    return r.json()


def test_upload_answers_the_seeds_model_response_and_announces_it(user: UserClient) -> None:
    upload_csv(user.http, user.user_id, "people")
    body = _upload(user, with_path=False)  # the seed document's curl: user_id in the form
    assert set(body) == MODEL_FIELDS
    assert body["model_id"] == "test-model-1" and body["version"] == "v1"
    assert body["framework"] == "pytorch" and body["model_type"] == "classification"
    assert body["algorithm"] == "ResNet50" and body["training_dataset"] == "people"
    assert body["training_accuracy"] == 0.95 and body["training_loss"] == 0.12
    assert body["python_version"] == "3.11" and body["dependencies"] == []
    assert body["is_active"] is True and body["is_production_ready"] is False
    (f,) = body["files"]
    assert set(f) == MODEL_FILE_FIELDS and f["filename"] == "model.pt" and f["file_size"] == 2048
    assert f["file_path"] == f"models/{user.user_id}/test-model-1/v1/model.pt"
    assert body["primary_file_path"] == f["file_path"]
    # Through the same service as Millrace's own uploads: model.uploaded with the dataset.
    (event,) = outbox(
        user.api.backend, "automl-events", user_id=user.user_id, model_id="test-model-1"
    )
    assert event.key == f"{user.user_id}_test-model-1"
    assert event.payload["dataset_id"] == "people" and event.payload["version"] == "v1"
    assert _upload(user)["version"] == "v2"


def test_reads_default_to_v1_as_the_seed_does(user: UserClient) -> None:
    u = user.user_id
    _upload(user, b"one")
    _upload(user, b"two")
    assert user.http.get(f"/ai-models/{u}/test-model-1").json()["version"] == "v1"
    v2 = user.http.get(f"/ai-models/{u}/test-model-1", params={"version": "v2"}).json()
    assert set(v2) == MODEL_FIELDS and v2["version"] == "v2"
    every = user.http.get(f"/ai-models/{u}").json()
    assert sorted(m["version"] for m in every) == ["v1", "v2"]
    found = user.http.get(f"/ai-models/search/{u}", params={"query": "resnet"}).json()
    assert len(found) == 2
    assert user.http.get(f"/ai-models/search/{u}", params={"framework": "onnx"}).json() == []
    files = user.http.get(f"/ai-models/{u}/test-model-1/files", params={"version": "v2"}).json()
    assert [set(f) for f in files] == [MODEL_FILE_FIELDS]
    one = user.http.get(
        f"/ai-models/{u}/test-model-1/download", params={"version": "v2", "filename": "model.pt"}
    )
    assert one.content == b"two"
    whole = user.http.get(f"/ai-models/{u}/test-model-1/download")
    assert "test-model-1_v1.zip" in whole.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(whole.content)) as zf:
        assert zf.read("model.pt") == b"one"
    assert (
        user.http.get(f"/ai-models/{u}/test-model-1", params={"version": "v7"}).status_code == 404
    )


def test_folder_upload(user: UserClient) -> None:
    entries = {"m/weights.bin": b"w" * 10, "m/config.json": b"{}"}
    r = user.http.post(
        f"/ai-models/upload/folder/{user.user_id}",
        files={"zip_file": ("m.zip", zip_bytes(entries))},
        data={"model_id": "bundle", "name": "B", "framework": "onnx", "model_type": "regression"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == MODEL_FIELDS
    assert sorted(f["filename"] for f in body["files"]) == sorted(entries)


def test_update_and_delete_one_version(user: UserClient) -> None:
    u = user.user_id
    _upload(user)
    _upload(user)
    r = user.http.put(
        f"/ai-models/{u}/test-model-1",
        params={"version": "v2"},
        json={"description": "tuned", "test_accuracy": 0.9, "dependencies": ["torch"]},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == "v2" and body["description"] == "tuned"
    assert body["test_accuracy"] == 0.9 and body["dependencies"] == ["torch"]
    bad = user.http.put(f"/ai-models/{u}/test-model-1", json={"training_accuracy": 3})
    assert bad.status_code == 422
    gone = user.http.delete(f"/ai-models/{u}/test-model-1", params={"version": "v1"})
    assert gone.status_code == 200 and gone.json() == {"message": "Model deleted successfully"}
    assert user.http.get(f"/ai-models/{u}/test-model-1").status_code == 404  # v1 is gone
    assert user.http.get(f"/ai-models/{u}/test-model-1", params={"version": "v2"}).is_success


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/ai-models/{u}"),
        ("GET", "/ai-models/search/{u}"),
        ("GET", "/ai-models/{u}/test-model-1"),
        ("PUT", "/ai-models/{u}/test-model-1"),
        ("DELETE", "/ai-models/{u}/test-model-1"),
        ("GET", "/ai-models/{u}/test-model-1/download"),
        ("GET", "/ai-models/{u}/test-model-1/files"),
    ],
)
def test_owner_checks(user: UserClient, method: str, path: str) -> None:
    _upload(user)
    url = path.format(u=user.user_id)
    body = {"json": {"name": "x"}} if method == "PUT" else {}
    with user.api.client(None) as anonymous:
        assert anonymous.request(method, url, **body).status_code == 401
    _, token = user.api.new_user("intruder")
    with user.api.client(token) as other:
        assert other.request(method, url, **body).status_code == 403
        planted = other.post(
            f"/ai-models/upload/single/{user.user_id}",
            files={"file": ("m.pt", b"x")},
            data={"model_id": "planted"},
        )
        assert planted.status_code == 403
    assert user.http.get(f"/ai-models/{user.user_id}/test-model-1").json()["name"] == "Test Model"
