"""``Idempotency-Key``: a retried POST returns the first answer and creates nothing new."""

from __future__ import annotations

from tests.conftest import UserClient
from tests.helpers import outbox, upload_csv


def test_retry_with_same_key_replays_without_a_second_version(user: UserClient) -> None:
    headers = {"Idempotency-Key": "upload-42"}
    first = user.http.post(
        f"/api/v1/datasets/upload/{user.user_id}",
        headers=headers,
        files={"file": ("a.csv", b"x,y\n1,2\n")},
        data={"dataset_id": "idem"},
    )
    again = user.http.post(
        f"/api/v1/datasets/upload/{user.user_id}",
        headers=headers,
        files={"file": ("a.csv", b"x,y\n1,2\n")},
        data={"dataset_id": "idem"},
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert user.http.get("/api/v1/datasets/idem").json()["versions"] == [1]
    assert len(outbox(user.api.backend, "dataset-events", user_id=user.user_id)) == 1
    # A new key is a new request.
    third = upload_csv(user.http, user.user_id, "idem", headers={"Idempotency-Key": "other"})
    assert third.json()["version"]["version"] == 2


def test_failed_request_releases_its_key(user: UserClient) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    bad = user.http.post(
        f"/api/v1/datasets/upload/{user.user_id}",
        headers=headers,
        files={"file": ("a.csv", b"")},
        data={"dataset_id": "fixme"},
    )
    assert bad.status_code == 422
    good = user.http.post(
        f"/api/v1/datasets/upload/{user.user_id}",
        headers=headers,
        files={"file": ("a.csv", b"a\n1\n")},
        data={"dataset_id": "fixme"},
    )
    assert good.status_code == 201


def test_key_reused_on_another_path_is_refused(user: UserClient) -> None:
    headers = {"Idempotency-Key": "k1"}
    assert upload_csv(user.http, user.user_id, "one", headers=headers).status_code == 201
    r = user.http.post(
        "/api/v1/transformation-reports/",
        headers=headers,
        json={"dataset_id": "one", "report": {"a": 1}},
    )
    assert r.status_code == 422 and "k1" in r.json()["detail"]


def test_keys_are_per_user(user: UserClient) -> None:
    headers = {"Idempotency-Key": "shared"}
    assert upload_csv(user.http, user.user_id, "mine", headers=headers).status_code == 201
    other_id, token = user.api.new_user()
    with user.api.client(token) as other:
        r = upload_csv(other, other_id, "mine", headers=headers)
        assert r.status_code == 201 and r.json()["user_id"] == other_id
