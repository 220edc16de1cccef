"""Hostile files through the live upload API (issue 15, items 6 and 7): a zip bomb made of
many entries each under the per-entry floor, and pickles of protocols 0 and 1 that carry
no header. Runs on both backends, like every API test."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import UserClient
from tests.warehouse.api.test_hostile import (
    GOOD_CSV,
    assert_nothing_left,
    assert_problem,
    new_id,
    post_zip,
    stored_under,
)

MiB = 1024 * 1024
MARKER = Path("/tmp") / f"millrace-upload-pickle-ran-{os.getpid()}"


def many_small_bombs(n: int = 150) -> bytes:
    """``n`` entries of 1 MiB - 1 zeros after one good CSV: ~150 KB expanding to ~157 MB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("good.csv", GOOD_CSV)
        for i in range(n):
            zf.writestr(f"part{i:03d}.csv", bytes(MiB - 1))
    return buf.getvalue()


def test_a_bomb_of_entries_under_the_per_entry_floor_is_refused(user: UserClient) -> None:
    bomb = many_small_bombs()
    assert len(bomb) < 200 * 1024
    ds = new_id()
    body = assert_problem(post_zip(user, bomb, ds), 413, "in total", "the limit is 200x")
    assert "zip bomb" in body["detail"]
    assert_nothing_left(user, ds)


def test_the_same_bomb_as_a_model_folder_is_refused(user: UserClient) -> None:
    r = user.http.post(
        "/api/v1/ai-models/upload/folder",
        files={"zip_file": ("m.zip", many_small_bombs(), "application/zip")},
        data={"user_id": user.user_id, "model_id": "bomb"},
    )
    assert_problem(r, 413, "in total", "zip bomb")
    assert user.http.get("/api/v1/ai-models/bomb").status_code == 404
    assert stored_under(user.api.backend, user.user_id) == []


def test_a_zip_of_three_small_csvs_is_stored(user: UserClient) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"part{i}.csv", GOOD_CSV * 50)
    ds = new_id()
    r = post_zip(user, buf.getvalue(), ds)
    assert r.status_code == 201, r.text
    assert {f["path"] for f in r.json()["version"]["files"]} == {
        "part0.csv",
        "part1.csv",
        "part2.csv",
    }


class Payload:
    """Pickles as ``os.system("touch MARKER")``; nothing here ever loads it."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {MARKER}",))


@pytest.mark.parametrize("protocol", [0, 1])
@pytest.mark.parametrize("obj", [{"weights": [0.1, 0.2]}, Payload()], ids=["dict", "os.system"])
def test_a_headerless_pickle_upload_is_stored_unsafe(
    user: UserClient, protocol: int, obj: Any
) -> None:
    blob = pickle.dumps(obj, protocol=protocol)
    assert blob[:1] != b"\x80"  # no PROTO header for the old two-byte check to see
    model_id = f"pk{protocol}-{type(obj).__name__.lower()}"
    r = user.http.post(
        "/api/v1/ai-models/upload/single",
        files={"file": ("model.bin", blob)},
        data={"model_id": model_id},
    )
    assert r.status_code == 201, r.text
    version = r.json()["version"]
    assert version["has_unsafe_files"] is True and version["trusted"] is False
    assert version["files"][0]["unsafe"] is True
    assert not MARKER.exists()


def test_a_text_model_file_is_not_flagged(user: UserClient) -> None:
    """A file of labels that starts with ``c`` (pickle's GLOBAL) is still just text."""
    r = user.http.post(
        "/api/v1/ai-models/upload/single",
        files={"file": ("labels.txt", b"cat\ndog\nbird\n")},
        data={"model_id": "labels"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["version"]["files"][0]["unsafe"] is False
