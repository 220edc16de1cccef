"""Dataset upload, versions, metadata, search, downloads and deletion over the live API."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pandas as pd

from tests.conftest import UserClient
from tests.helpers import csv_bytes, outbox, upload_csv, zip_bytes


def test_single_file_upload_records_schema_checksum_and_event(user: UserClient) -> None:
    data = csv_bytes(rows=7)
    r = upload_csv(
        user.http,
        user.user_id,
        "credit",
        data,
        name="Credit",
        tags="a,b",
        target_column="label",
        task_type="classification",
        sensitive_columns='["sex"]',
        time_budget_s="30",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == "credit" and body["name"] == "Credit" and body["tags"] == ["a", "b"]
    version = body["version"]
    assert version["version"] == 1 and version["version_label"] == "v1"
    (f,) = version["files"]
    assert f["sha256"] == hashlib.sha256(data).hexdigest()
    assert f["size_bytes"] == len(data)
    assert f["table_schema"]["columns"] == ["age", "income", "sex", "label"]
    assert f["table_schema"]["dtypes"] == {
        "age": "int64",
        "income": "float64",
        "sex": "object",
        "label": "int64",
    }
    assert f["table_schema"]["row_count"] == 7
    assert version["attributes"]["journey"] == {
        "target_column": "label",
        "task_type": "classification",
        "sensitive_columns": ["sex"],
        "time_budget_s": 30.0,
        "external_steps": [],
        "favorable_label": None,
        "privileged_groups": {},
        "metric": None,
    }
    (event,) = outbox(user.api.backend, "dataset-events", user_id=user.user_id, dataset_id="credit")
    assert event.key == "credit"
    assert event.payload["version"] == "v1"
    assert event.payload["event_type"] == "dataset.uploaded"
    assert event.payload["target_column_name"] == "label"
    assert event.payload["sensitive_columns"] == ["sex"]
    assert event.ce_type == "io.millrace.dataset.uploaded"
    assert event.ce_subject == f"datasets/{user.user_id}/credit/1"
    assert event.event_id == event.payload["event_id"]


def test_each_upload_is_a_new_version_and_get_returns_the_latest(user: UserClient) -> None:
    for rows in (3, 4, 5):
        assert upload_csv(user.http, user.user_id, "grow", csv_bytes(rows)).status_code == 201
    latest = user.http.get("/api/v1/datasets/grow").json()
    assert latest["versions"] == [1, 2, 3] and latest["latest_version"] == 3
    assert latest["version"]["files"][0]["table_schema"]["row_count"] == 5
    v2 = user.http.get("/api/v1/datasets/grow", params={"version": "v2"}).json()
    assert v2["version"]["files"][0]["table_schema"]["row_count"] == 4
    listed = user.http.get("/api/v1/datasets/grow/versions").json()
    assert [v["version"] for v in listed] == [1, 2, 3]
    files = user.http.get("/api/v1/datasets/grow/versions/1/files").json()
    assert [f["path"] for f in files] == ["data.csv"]


def test_parquet_and_xlsx_metadata(user: UserClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=50, freq="h"), "y": range(50)})
    pq, xl = tmp_path / "s.parquet", tmp_path / "s.xlsx"
    frame.to_parquet(pq)
    frame.to_excel(xl, index=False)
    r = upload_csv(user.http, user.user_id, "pq", pq.read_bytes(), filename="s.parquet")
    schema = r.json()["version"]["files"][0]["table_schema"]
    assert schema["format"] == "parquet" and schema["row_count"] == 50
    assert schema["columns"] == ["t", "y"]
    r = upload_csv(user.http, user.user_id, "xl", xl.read_bytes(), filename="s.xlsx")
    schema = r.json()["version"]["files"][0]["table_schema"]
    assert schema["format"] == "xlsx" and schema["row_count"] == 50
    assert schema["dtypes"]["y"] == "int64"


def test_folder_upload_preserves_structure_and_downloads_as_zip(user: UserClient) -> None:
    entries = {"train/a.csv": csv_bytes(3), "test/b.csv": csv_bytes(2), "README.txt": b"hi"}
    r = user.http.post(
        f"/api/v1/datasets/upload/folder/{user.user_id}",
        files={"zip_file": ("folder.zip", zip_bytes(entries), "application/zip")},
        data={"dataset_id": "folder", "preserve_structure": "true", "description": "d"},
    )
    assert r.status_code == 201, r.text
    paths = sorted(f["path"] for f in r.json()["version"]["files"])
    assert paths == ["README.txt", "test/b.csv", "train/a.csv"]
    one = user.http.get("/api/v1/datasets/folder/versions/1/files/train/a.csv")
    assert one.status_code == 200 and one.content == entries["train/a.csv"]
    assert one.headers["x-checksum-sha256"] == hashlib.sha256(entries["train/a.csv"]).hexdigest()
    archive = user.http.get("/api/v1/datasets/folder/download")
    assert archive.status_code == 200
    assert archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == entries


def test_folder_upload_can_flatten(user: UserClient) -> None:
    r = user.http.post(
        f"/api/v1/datasets/upload/folder/{user.user_id}",
        files={"zip_file": ("f.zip", zip_bytes({"deep/x/a.csv": csv_bytes(2)}))},
        data={"dataset_id": "flat", "preserve_structure": "false"},
    )
    assert r.status_code == 201, r.text
    assert [f["path"] for f in r.json()["version"]["files"]] == ["a.csv"]


def test_list_search_and_cursor_pagination(user: UserClient) -> None:
    for i in range(5):
        upload_csv(user.http, user.user_id, f"sales-{i}", description="quarterly sales")
    upload_csv(user.http, user.user_id, "weather", name="Weather")
    page1 = user.http.get("/api/v1/datasets", params={"limit": 2, "q": "sales"}).json()
    assert len(page1["items"]) == 2 and page1["next_cursor"]
    seen = [d["id"] for d in page1["items"]]
    cursor = page1["next_cursor"]
    while cursor:
        page = user.http.get(
            "/api/v1/datasets", params={"limit": 2, "q": "sales", "cursor": cursor}
        ).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == [f"sales-{i}" for i in range(5)]
    assert len(seen) == len(set(seen))
    assert [
        d["id"] for d in user.http.get("/api/v1/datasets", params={"q": "weath"}).json()["items"]
    ] == ["weather"]
    bad = user.http.get("/api/v1/datasets", params={"cursor": "not-a-cursor!"})
    assert bad.status_code == 422


def test_update_metadata(user: UserClient) -> None:
    upload_csv(user.http, user.user_id, "meta")
    r = user.http.patch("/api/v1/datasets/meta", json={"description": "new", "tags": ["x"]})
    assert r.status_code == 200
    got = user.http.get("/api/v1/datasets/meta").json()
    assert got["description"] == "new" and got["tags"] == ["x"] and got["name"] == "meta"


def test_delete_a_version_then_all(user: UserClient) -> None:
    for _ in range(3):
        upload_csv(user.http, user.user_id, "gone")
    assert user.http.delete("/api/v1/datasets/gone/versions/3").status_code == 204
    got = user.http.get("/api/v1/datasets/gone").json()
    assert got["versions"] == [1, 2] and got["version"]["version"] == 2
    assert user.http.get("/api/v1/datasets/gone/versions/3").status_code == 404
    # Version numbers are never reused after a delete.
    assert upload_csv(user.http, user.user_id, "gone").json()["version"]["version"] == 4
    assert user.http.delete("/api/v1/datasets/gone").status_code == 204
    assert user.http.get("/api/v1/datasets/gone").status_code == 404
    assert user.http.get("/api/v1/datasets/gone/versions/1/files/data.csv").status_code == 404


def test_unknown_things_are_404_problems(user: UserClient) -> None:
    for path in (
        "/api/v1/datasets/nope",
        "/api/v1/datasets/nope/versions/1",
        "/api/v1/datasets/nope/download",
    ):
        r = user.http.get(path)
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
    upload_csv(user.http, user.user_id, "here")
    r = user.http.get("/api/v1/datasets/here/versions/1/files/missing.csv")
    assert r.status_code == 404 and "missing.csv" in r.json()["detail"]
    assert user.http.get("/api/v1/datasets/here/versions/vx").status_code == 422
