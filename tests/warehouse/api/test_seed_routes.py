"""Seed 004's dataset and user routes at the root: its paths, fields, shapes and codes.

The expected field sets are the seed's response models (``DatasetResponse``,
``DatasetFile``, ``UserResponse``), written out here from its contract.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import datetime

import pytest

from tests.conftest import UserClient
from tests.helpers import csv_bytes, outbox, zip_bytes

DATASET_FIELDS = {
    "dataset_id",
    "user_id",
    "name",
    "description",
    "version",
    "file_type",
    "file_size",
    "original_filename",
    "files",
    "is_folder",
    "columns",
    "row_count",
    "data_types",
    "tags",
    "custom_metadata",
    "created_at",
    "updated_at",
    "file_hash",
}
FILE_FIELDS = {"filename", "file_path", "file_size", "file_type", "file_hash", "content_type"}
USER_FIELDS = {
    "user_id",
    "username",
    "email",
    "full_name",
    "is_active",
    "is_admin",
    "created_at",
    "updated_at",
}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _upload(user: UserClient, dataset_id: str, rows: int = 5, **form: str) -> dict:
    r = user.http.post(
        f"/datasets/upload/{user.user_id}",
        files={"file": ("people.csv", csv_bytes(rows), "text/csv")},
        data={"dataset_id": dataset_id, **form},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_upload_answers_the_seeds_dataset_response(user: UserClient) -> None:
    data = csv_bytes(7)
    body = _upload(user, "people", rows=7, name="People", description="d", tags="a, b")
    assert set(body) == DATASET_FIELDS
    assert body["dataset_id"] == "people" and body["user_id"] == user.user_id
    assert body["version"] == "v1" and body["name"] == "People" and body["tags"] == ["a", "b"]
    assert body["file_type"] == "csv" and body["original_filename"] == "people.csv"
    assert body["file_size"] == len(data) and body["is_folder"] is False
    assert body["files"] is None and body["file_hash"] == hashlib.sha256(data).hexdigest()
    assert body["columns"] == ["age", "income", "sex", "label"] and body["row_count"] == 7
    assert body["data_types"] == {
        "age": "int64",
        "income": "float64",
        "sex": "object",
        "label": "int64",
    }
    # The upload's dataset-events message carries the same values this route answers.
    (event,) = [
        e
        for e in outbox(user.api.backend, "dataset-events")
        if e.payload.get("dataset", {}).get("user_id") == user.user_id
    ]
    announced = event.payload["dataset"]
    for key in DATASET_FIELDS - {"files", "created_at", "updated_at"}:
        assert announced[key] == body[key], key
    for key in ("created_at", "updated_at"):
        assert _when(announced[key]) == _when(body[key])
    assert _upload(user, "people")["version"] == "v2"


def test_folder_upload_lists_its_files(user: UserClient) -> None:
    entries = {"train/a.csv": csv_bytes(3), "train/b.csv": csv_bytes(4)}
    r = user.http.post(
        f"/datasets/upload/folder/{user.user_id}",
        files={"zip_file": ("bundle.zip", zip_bytes(entries))},
        data={"dataset_id": "bundle"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == DATASET_FIELDS and body["is_folder"] is True
    assert body["file_hash"] is None and body["columns"] is None
    assert body["custom_metadata"]["file_count"] == 2
    files = {f["filename"]: f for f in body["files"]}
    assert set(files) == set(entries)
    one = files["train/a.csv"]
    assert set(one) == FILE_FIELDS and one["file_type"] == "csv"
    assert one["file_size"] == len(entries["train/a.csv"])
    assert one["file_path"] == f"datasets/{user.user_id}/bundle/v1/train/a.csv"
    listed = user.http.get(f"/datasets/{user.user_id}/bundle/files").json()
    assert sorted(f["filename"] for f in listed) == sorted(entries)
    whole = user.http.get(f"/datasets/{user.user_id}/bundle/download")
    assert whole.headers["content-type"] == "application/zip"
    assert "bundle_v1.zip" in whole.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(whole.content)) as zf:
        assert sorted(zf.namelist()) == sorted(entries)
    one_file = user.http.get(
        f"/datasets/{user.user_id}/bundle/download", params={"filename": "train/b.csv"}
    )
    assert one_file.content == entries["train/b.csv"]


def test_split_downloads_keep_one_folder(user: UserClient) -> None:
    """The seed's later partners ask ``split=train`` of a train/test/drift folder."""
    entries = {f"{part}/data.csv": csv_bytes(n) for n, part in enumerate(("train", "test"), 2)}
    r = user.http.post(
        f"/datasets/upload/folder/{user.user_id}",
        files={"zip_file": ("split.zip", zip_bytes(entries))},
        data={"dataset_id": "split"},
    )
    assert r.status_code == 200, r.text
    url = f"/datasets/{user.user_id}/split/version/v1/download"
    train = user.http.get(url, params={"split": "train"})
    assert "split_v1_train.zip" in train.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(train.content)) as zf:
        assert zf.namelist() == ["train/data.csv"]
    for ignored in ("drift", "other"):  # no such folder, or no such split: everything
        whole = user.http.get(url, params={"split": ignored})
        with zipfile.ZipFile(io.BytesIO(whole.content)) as zf:
            assert sorted(zf.namelist()) == sorted(entries)


def test_read_routes_with_the_user_in_the_path(user: UserClient) -> None:
    u = user.user_id
    _upload(user, "people", rows=3)
    _upload(user, "people", rows=4)
    _upload(user, "other", rows=2, description="quarterly sales")
    latest = user.http.get(f"/datasets/{u}/people").json()
    assert set(latest) == DATASET_FIELDS and latest["version"] == "v2"
    assert latest["row_count"] == 4
    v1 = user.http.get(f"/datasets/{u}/people/version/v1").json()
    assert v1["version"] == "v1" and v1["row_count"] == 3
    versions = user.http.get(f"/datasets/{u}/people/versions").json()
    assert [v["version"] for v in versions] == ["v1", "v2"]
    every = user.http.get(f"/datasets/{u}").json()  # one entry per version, as the seed
    assert sorted((d["dataset_id"], d["version"]) for d in every) == [
        ("other", "v1"),
        ("people", "v1"),
        ("people", "v2"),
    ]
    assert len(user.http.get(f"/datasets/{u}", params={"limit": 1}).json()) == 1
    found = user.http.get(f"/datasets/search/{u}", params={"query": "quarterly"}).json()
    assert [d["dataset_id"] for d in found] == ["other"]
    assert user.http.get(f"/datasets/search/{u}", params={"file_type": "parquet"}).json() == []
    files = user.http.get(f"/datasets/{u}/people/files", params={"version": "v1"}).json()
    assert [set(f) for f in files] == [FILE_FIELDS] and files[0]["filename"] == "people.csv"
    raw = user.http.get(f"/datasets/{u}/people/version/v1/download")
    assert raw.content == csv_bytes(3)
    assert "people.csv" in raw.headers["content-disposition"]
    assert user.http.get(f"/datasets/{u}/people/download").content == csv_bytes(4)
    assert user.http.get(f"/datasets/{u}/people/version/v9").status_code == 404
    assert user.http.get(f"/datasets/{u}/nothing").status_code == 404


def test_update_and_delete(user: UserClient) -> None:
    u = user.user_id
    _upload(user, "people")
    _upload(user, "people")
    r = user.http.put(
        f"/datasets/{u}/people",
        json={"name": "Renamed", "tags": ["x"], "custom_metadata": {"source": "survey"}},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Renamed" and body["tags"] == ["x"]
    assert body["custom_metadata"] == {"source": "survey"}
    gone = user.http.delete(f"/datasets/{u}/people/version/v1")
    assert gone.status_code == 200
    assert gone.json() == {
        "message": "Dataset deleted successfully",
        "files_deleted": 1,
        "metadata_deleted": True,
    }
    assert [v["version"] for v in user.http.get(f"/datasets/{u}/people/versions").json()] == ["v2"]
    r = user.http.delete(f"/datasets/{u}/people")
    assert r.status_code == 200
    assert r.json()["versions_deleted"] == 1 and r.json()["files_deleted"] == 1
    assert set(r.json()) == {"message", "versions_deleted", "files_deleted", "files_failed"}
    assert user.http.get(f"/datasets/{u}/people").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/datasets/{u}"),
        ("GET", "/datasets/{u}/people"),
        ("PUT", "/datasets/{u}/people"),
        ("DELETE", "/datasets/{u}/people"),
        ("GET", "/datasets/{u}/people/download"),
        ("GET", "/datasets/{u}/people/versions"),
        ("GET", "/datasets/{u}/people/version/v1"),
        ("GET", "/datasets/{u}/people/version/v1/download"),
        ("DELETE", "/datasets/{u}/people/version/v1"),
        ("GET", "/datasets/{u}/people/files"),
        ("GET", "/datasets/search/{u}"),
        ("GET", "/users/{u}"),
        ("GET", "/users/username/{u}"),
    ],
)
def test_owner_checks_hold_on_every_read(user: UserClient, method: str, path: str) -> None:
    """No token is a 401; another user's path is a 403 and leaves the data as it was."""
    _upload(user, "people")
    url = path.format(u=user.user_id)
    body = {"json": {"name": "x"}} if method == "PUT" else {}
    with user.api.client(None) as anonymous:
        assert anonymous.request(method, url, **body).status_code == 401
    _, token = user.api.new_user("intruder")
    with user.api.client(token) as other:
        assert other.request(method, url, **body).status_code == 403
    assert user.http.get(f"/datasets/{user.user_id}/people").json()["name"] == "people"


def test_uploads_for_someone_else_are_refused(user: UserClient) -> None:
    _, token = user.api.new_user("intruder")
    with user.api.client(token) as other:
        r = other.post(
            f"/datasets/upload/{user.user_id}",
            files={"file": ("x.csv", csv_bytes())},
            data={"dataset_id": "planted"},
        )
    assert r.status_code == 403
    assert user.http.get(f"/datasets/{user.user_id}/planted").status_code == 404


def test_users_routes(user: UserClient) -> None:
    me = user.http.get(f"/users/{user.user_id}")
    assert me.status_code == 200
    body = me.json()
    assert set(body) == USER_FIELDS
    assert body["user_id"] == user.user_id and body["username"] == user.user_id
    assert body["is_active"] is True and body["is_admin"] is False
    assert user.http.get(f"/users/username/{user.user_id}").json() == body
    assert user.http.post("/users/", json={"user_id": "x1", "username": "x"}).status_code == 403
    with user.api.client(user.api.admin_token) as admin:
        made = admin.post(
            "/users/",
            json={"user_id": f"{user.user_id}b", "username": "b", "email": "b@example.org"},
        )
        assert made.status_code == 200, made.text
        created = made.json()
        assert set(created) == USER_FIELDS | {"token"}
        assert admin.get(f"/users/{user.user_id}").json()["user_id"] == user.user_id
        assert admin.get("/users/nobody-here").status_code == 404
    with user.api.client(created["token"]) as new:
        me = new.get(f"/users/{created['user_id']}").json()
        assert (me["username"], me["email"], me["full_name"]) == ("b", "b@example.org", None)
        assert new.get("/users/username/b").json() == me


def test_a_user_updates_their_own_profile(user: UserClient) -> None:
    """``PUT /users/{user_id}``: the fields sent change, the others stay; a username is
    unique; another user's profile and ``is_active`` are an admin's."""
    r = user.http.put(
        f"/users/{user.user_id}", json={"full_name": "Ada L", "email": "ada@example.org"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == USER_FIELDS
    assert (body["full_name"], body["email"], body["username"]) == (
        "Ada L",
        "ada@example.org",
        user.user_id,
    )
    assert body["updated_at"] >= body["created_at"]
    renamed = user.http.put(f"/users/{user.user_id}", json={"username": "ada"}).json()
    assert renamed["username"] == "ada" and renamed["full_name"] == "Ada L"
    assert user.http.get("/users/username/ada").json()["user_id"] == user.user_id
    assert user.http.put(f"/users/{user.user_id}", json={"is_active": False}).status_code == 403
    assert user.http.put("/users/someone-else", json={"full_name": "x"}).status_code == 403
    with user.api.client(user.api.admin_token) as admin:
        other = admin.post("/users/", json={"user_id": f"{user.user_id}c"}).json()
        taken = admin.put(f"/users/{other['user_id']}", json={"username": "ada"})
        assert taken.status_code == 409
        off = admin.put(f"/users/{other['user_id']}", json={"is_active": False})
        assert off.status_code == 200 and off.json()["is_active"] is False
    assert user.http.put(f"/users/{user.user_id}", json={"username": ""}).status_code == 422
    assert user.http.get(f"/users/{user.user_id}").json()["username"] == "ada"


def test_root_uploads_keep_millraces_journey_hints(user: UserClient) -> None:
    """What a Millrace user sends beside the seed's form reaches the journey, as on /api/v1."""
    _upload(
        user,
        "hinted",
        target_column="label",
        task_type="classification",
        sensitive_columns="sex",
        favorable_label="1",
        privileged_groups="sex=m",
    )
    got = user.http.get("/api/v1/datasets/hinted").json()
    journey = got["version"]["attributes"]["journey"]
    assert journey["target_column"] == "label" and journey["sensitive_columns"] == ["sex"]
    assert journey["favorable_label"] == "1" and journey["privileged_groups"] == {"sex": "m"}
    bad = user.http.post(
        f"/datasets/upload/{user.user_id}",
        files={"file": ("x.csv", csv_bytes())},
        data={"dataset_id": "bad", "task_type": "clustering"},
    )
    assert bad.status_code == 422
