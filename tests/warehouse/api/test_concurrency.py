"""Concurrent uploads to one dataset: distinct, gapless versions and one event per version.

Each upload runs in its own thread with its own HTTP client (its own connection), released
together by a barrier so the requests really overlap on the server.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from millrace.warehouse.models import OutboxEvent
from tests.conftest import Backend, LiveApi, UserClient

PARALLEL = 20
DATASET_TOPIC = "dataset-events"


@dataclass(frozen=True)
class Upload:
    """One upload as sent: who sent it, under which file name, with which bytes."""

    user_id: str
    token: str
    filename: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class Answer:
    upload: Upload
    status_code: int
    body: Any


def _csv(tag: str, n: int) -> bytes:
    rows = "".join(f"{r},{n * 100 + r},{tag}-{r}\n" for r in range(1, 4))
    return f"id,value,label\n{rows}".encode()


def _upload_all(api: LiveApi, dataset_id: str, uploads: list[Upload]) -> list[Answer]:
    """Send every upload at once: one thread and one client each, released by a barrier."""
    barrier = threading.Barrier(len(uploads))

    def send(up: Upload) -> Answer:
        with api.client(up.token) as http:
            http.get("/health").raise_for_status()  # connect before the barrier
            barrier.wait(timeout=60)
            r = http.post(
                f"/api/v1/datasets/upload/{up.user_id}",
                files={"file": (up.filename, up.content, "text/csv")},
                data={"dataset_id": dataset_id},
            )
            body = r.json() if r.headers.get("content-type", "").endswith("json") else r.text
            return Answer(up, r.status_code, body)

    with ThreadPoolExecutor(max_workers=len(uploads)) as pool:
        return list(pool.map(send, uploads))


def _dataset_events(backend: Backend, user_id: str, dataset_id: str) -> list[dict[str, Any]]:
    engine = backend.engine()
    try:
        with Session(engine) as session:
            rows = session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.topic == DATASET_TOPIC)
                .order_by(OutboxEvent.offset)
            ).all()
            return [
                dict(row.payload)
                for row in rows
                if row.payload.get("user_id") == user_id
                and row.payload.get("dataset_id") == dataset_id
            ]
    finally:
        engine.dispose()


def _failures(answers: list[Answer]) -> str:
    def why(a: Answer) -> str:
        detail = a.body.get("detail", a.body) if isinstance(a.body, dict) else a.body
        return f"{a.upload.filename}: {a.status_code} {detail}"

    failed = [why(a) for a in answers if a.status_code != 201]
    return f"{len(failed)}/{len(answers)} uploads failed: " + "; ".join(failed)


def test_parallel_uploads_get_distinct_gapless_versions(user: UserClient, backend: Backend) -> None:
    dataset_id = f"race-{uuid.uuid4().hex[:8]}"
    uploads = [
        Upload(user.user_id, user.token, f"part-{i:02d}.csv", _csv(f"w{i}", i))
        for i in range(PARALLEL)
    ]
    assert len({u.sha256 for u in uploads}) == PARALLEL  # distinct content

    answers = _upload_all(user.api, dataset_id, uploads)

    assert all(a.status_code == 201 for a in answers), _failures(answers)
    numbers = [a.body["version"]["version"] for a in answers]
    assert sorted(numbers) == list(range(1, PARALLEL + 1)), f"versions handed out: {numbers}"
    for a in answers:
        assert a.body["id"] == dataset_id
        assert a.body["user_id"] == user.user_id
        (stored,) = a.body["version"]["files"]
        assert stored["path"] == a.upload.filename
        assert stored["sha256"] == a.upload.sha256
        assert stored["size_bytes"] == len(a.upload.content)

    # What each upload was told is what the warehouse now lists, version by version.
    expected = {a.body["version"]["version"]: a.upload for a in answers}
    r = user.http.get(f"/api/v1/datasets/{dataset_id}/versions")
    assert r.status_code == 200, r.text
    listed = r.json()
    assert [v["version"] for v in listed] == list(range(1, PARALLEL + 1))
    for v in listed:
        up = expected[v["version"]]
        assert v["version_label"] == f"v{v['version']}"
        assert v["file_count"] == 1
        assert [(f["path"], f["sha256"]) for f in v["files"]] == [(up.filename, up.sha256)]

    r = user.http.get(f"/api/v1/datasets/{dataset_id}")
    assert r.status_code == 200, r.text
    assert r.json()["versions"] == list(range(1, PARALLEL + 1))
    assert r.json()["latest_version"] == PARALLEL

    # Exactly one dataset.uploaded per version, announcing that version's own file.
    events = _dataset_events(backend, user.user_id, dataset_id)
    labels = [e["version"] for e in events]
    assert len(events) == PARALLEL, f"{len(events)} events: {labels}"
    assert sorted(labels, key=lambda s: int(s[1:])) == [f"v{n}" for n in range(1, PARALLEL + 1)]
    for e in events:
        up = expected[int(e["version"][1:])]
        assert e["event_type"] == "dataset.uploaded"
        assert e["files"] == [up.filename]
        assert e["size_bytes"] == len(up.content)
    assert len({e["event_id"] for e in events}) == PARALLEL


def test_two_users_racing_on_one_dataset_id_each_get_their_own_v1(
    user: UserClient, live_api: LiveApi, backend: Backend
) -> None:
    dataset_id = f"shared-{uuid.uuid4().hex[:8]}"
    other_id, other_token = live_api.new_user()
    uploads = [
        Upload(user.user_id, user.token, "mine.csv", _csv("first", 1)),
        Upload(other_id, other_token, "theirs.csv", _csv("second", 2)),
    ]

    answers = _upload_all(live_api, dataset_id, uploads)

    assert all(a.status_code == 201 for a in answers), _failures(answers)
    for a in answers:
        owner = a.upload.user_id
        assert a.body["id"] == dataset_id
        assert a.body["user_id"] == owner
        assert a.body["version"]["version"] == 1
        assert a.body["versions"] == [1]

        # Each owner sees only their own upload, and downloads their own bytes.
        with live_api.client(a.upload.token) as http:
            r = http.get(f"/api/v1/datasets/{dataset_id}/versions")
            assert r.status_code == 200, r.text
            assert [(v["version"], v["files"][0]["sha256"]) for v in r.json()] == [
                (1, a.upload.sha256)
            ]
            r = http.get(f"/api/v1/datasets/{dataset_id}/versions/1/files/{a.upload.filename}")
            assert r.status_code == 200, r.text
            assert r.content == a.upload.content

        events = _dataset_events(backend, owner, dataset_id)
        assert [(e["version"], e["files"]) for e in events] == [("v1", [a.upload.filename])]
