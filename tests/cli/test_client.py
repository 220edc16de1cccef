"""``millrace.client.Client`` against the real API process, on both backends.

``millrace api`` runs no agents, so journeys here move only as far as the API itself
takes them: opened, answered, started (bias), failed at setup, retried.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from millrace.client import Client, UnreachableError
from millrace.exceptions import AuthError, ConflictError, MillraceError, NotFoundError
from tests.conftest import UserClient
from tests.helpers import csv_bytes
from tests.support import free_port


@pytest.fixture
def client(user: UserClient) -> Iterator[Client]:
    with Client(user.api.url, user.token, timeout=60) as c:
        yield c


def _csv(tmp_path: Path, data: bytes, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_upload_then_read_the_dataset_back(
    client: Client, user: UserClient, tmp_path: Path
) -> None:
    path = _csv(tmp_path, csv_bytes(30))
    first = client.upload_dataset(path, user_id=user.user_id, description="thirty people")
    assert (first["id"], first["version"]["version"]) == ("people", 1)
    schema = first["version"]["files"][0]["table_schema"]
    assert schema["row_count"] == 30
    second = client.upload_dataset(path, user_id=user.user_id, dataset_id="people")
    assert second["versions"] == [1, 2]
    assert client.dataset("people")["version"]["version"] == 2
    assert client.dataset("people", version=1)["description"] == "thirty people"
    assert [d["id"] for d in client.datasets()] == ["people"]
    assert client.datasets(query="nobody") == []
    assert client.me()["user_id"] == user.user_id


def test_a_journey_waits_for_its_target_then_starts_when_answered(
    client: Client, user: UserClient, tmp_path: Path
) -> None:
    client.upload_dataset(_csv(tmp_path, csv_bytes(40)), user_id=user.user_id)
    waiting = client.start_journey("people")
    assert waiting["state"] == "needs_input"
    assert "label" in waiting["reason"]  # it lists the columns to choose from
    answered = client.answer_journey(
        waiting["id"], target_column="label", sensitive_columns=["sex"], time_budget_s=5
    )
    assert answered["state"] == "bias"  # started: the bias agent would take it from here
    assert answered["target_column"] == "label"
    assert answered["task_type"] == "classification"
    assert answered["task_type_inferred"] is True
    assert answered["sensitive_columns"] == ["sex"]
    assert answered["time_budget_s"] == 5
    assert [j["id"] for j in client.journeys("people")] == [waiting["id"]]
    assert client.journey(waiting["id"])["state"] == "bias"
    with pytest.raises(ConflictError, match="its spec is fixed now"):
        client.answer_journey(waiting["id"], target_column="age")
    with pytest.raises(ConflictError, match="only failed ones retry"):
        client.retry_journey(waiting["id"])


def test_a_journey_failed_at_setup_is_checked_again_on_retry(
    client: Client, user: UserClient, tmp_path: Path
) -> None:
    rows = "\n".join(f"{i},{i * 2},yes" for i in range(30))
    client.upload_dataset(_csv(tmp_path, f"a,b,same\n{rows}\n".encode()), user_id=user.user_id)
    failed = client.start_journey("people", target_column="same")
    assert failed["state"] == "failed"
    assert "single class" in failed["reason"]
    again = client.retry_journey(failed["id"])
    assert again["state"] == "failed"  # the data did not change, so neither did the verdict
    assert again["reason"] == failed["reason"]
    assert client.wait_for_journey(failed["id"], timeout=5)["state"] == "failed"


def test_reports_are_listed_and_read_by_kind(client: Client, user: UserClient) -> None:
    user.http.post(
        "/api/v1/datasets/upload/" + user.user_id,
        files={"file": ("people.csv", csv_bytes(10))},
        data={"dataset_id": "people"},
    ).raise_for_status()
    made = user.http.post(
        "/api/v1/bias-reports/", json={"dataset_id": "people", "report": {"score": 0.9}}
    )
    assert made.status_code == 201, made.text
    listed = client.reports("bias", dataset_id="people")
    assert [r["id"] for r in listed] == [made.json()["id"]]
    assert client.report("bias", made.json()["id"])["content"] == {"score": 0.9}
    assert client.reports("xai", dataset_id="people") == []
    with pytest.raises(NotFoundError, match="has no HTML view"):
        client.view(f"/api/v1/bias-reports/{made.json()['id']}/view")


def test_refusals_are_millrace_errors_with_the_servers_reason(
    client: Client, user: UserClient
) -> None:
    with pytest.raises(NotFoundError, match="journey 'nope' not found"):
        client.journey("nope")
    with pytest.raises(NotFoundError):
        client.registry_model("nope")
    with Client(user.api.url, "mr_wrong") as wrong, pytest.raises(AuthError):
        wrong.datasets()
    with pytest.raises(MillraceError, match="no inference server URL"):
        client.predict("m", [{"a": 1}])


def test_an_unreachable_server_is_one_clear_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with Client(url, "t", serve_url=url) as c:
        with pytest.raises(UnreachableError) as api:
            c.journeys()
        with pytest.raises(UnreachableError) as serving:
            c.predict("m", [])
    assert str(api.value) == f"cannot reach the Millrace API at {url}: connection refused"
    assert str(serving.value).startswith(f"cannot reach the Millrace inference server at {url}")
    assert api.value.__cause__ is None and api.value.__suppress_context__
