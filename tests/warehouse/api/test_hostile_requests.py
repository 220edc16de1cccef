"""Hostile requests (not files) through the live API, on both backends: numbers past what a
column holds, forged cursors, nesting past any parser, NaN, NUL, booleans for numbers,
wrong methods. Each gets a 4xx problem document, never a 500, and writes nothing."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from millrace.serving import ServeOptions, create_serving_app
from millrace.settings import Settings
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import Asset, AssetVersion, Journey, OutboxEvent, Report
from millrace.warehouse.users import create_user
from tests.conftest import UserClient
from tests.helpers import upload_csv
from tests.serving.conftest import wait_ready
from tests.support import free_port
from tests.warehouse.api.test_hostile import assert_problem

HUGE = ["9" * 30, str(2**31), str(2**63), "9" * 5000]
PROBLEM_STATUSES = ("401", "403", "404", "409", "422")


def written(user: UserClient) -> dict[str, int]:
    """What a request could have written for this user, counted in the database."""
    queries = {
        "versions": select(func.count(AssetVersion.pk))
        .join(Asset)
        .where(Asset.owner_id == user.user_id),
        "reports": select(func.count(Report.pk)).where(Report.owner_id == user.user_id),
        "journeys": select(func.count(Journey.id)).where(Journey.owner_id == user.user_id),
        "events": select(func.count(OutboxEvent.offset)),  # only the API writes: no agents
    }
    engine = user.api.backend.engine()
    try:
        with Session(engine) as s:
            return {name: int(s.scalar(query) or 0) for name, query in queries.items()}
    finally:
        engine.dispose()


@pytest.fixture
def people(user: UserClient) -> UserClient:
    """The user with one dataset, ``people`` v1, to aim the hostile requests at."""
    assert upload_csv(user.http, user.user_id, "people").status_code == 201
    return user


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def nested(depth: int) -> dict[str, Any]:
    top: dict[str, Any] = {}
    inner = top
    for _ in range(depth - 1):
        inner["a"] = {}
        inner = inner["a"]
    return top


# --- numbers past a version column -----------------------------------------------------


@pytest.mark.parametrize("huge", HUGE, ids=["30-digits", "2^31", "2^63", "5000-digits"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/datasets/people/versions/{v}"),
        ("GET", "/api/v1/datasets/people/versions/{v}/files"),
        ("GET", "/api/v1/datasets/people/versions/{v}/files/data.csv"),
        ("GET", "/api/v1/datasets/people/versions/{v}/download"),
        ("DELETE", "/api/v1/datasets/people/versions/{v}"),
        ("GET", "/api/v1/datasets/people?version={v}"),
    ],
    ids=["get", "files", "file", "download", "delete", "query"],
)
def test_huge_version_in_the_url_is_refused(
    people: UserClient, method: str, path: str, huge: str
) -> None:
    before = written(people)
    assert_problem(people.http.request(method, path.format(v=huge)), 422, "out of range")
    assert written(people) == before


@pytest.mark.parametrize(
    "version",
    [10**30, 2**31, "9" * 5000, "v99999999999", True, 0, 3.0],
    ids=["int-30-digits", "int-2^31", "str-5000-digits", "v-str", "true", "zero", "float"],
)
@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/api/v1/journeys", {}),
        ("/api/v1/bias-reports/", {"report": {"x": 1}}),
        ("/api/v1/transformation-reports/", {"report": {"x": 1}}),
    ],
    ids=["journey", "bias-report", "transformation-report"],
)
def test_bad_version_in_a_json_body_is_refused(
    people: UserClient, path: str, extra: dict[str, Any], version: object
) -> None:
    before = written(people)
    r = people.http.post(path, json={"dataset_id": "people", "version": version, **extra})
    assert_problem(r, 422)
    assert written(people) == before


@pytest.mark.parametrize("forged", ["9" * 30, str(2**63), "9" * 5000, "-1", "0", "\u0663", "1.5"])
@pytest.mark.parametrize(
    "listing",
    ["datasets", "ai-models", "bias-reports", "transformation-reports", "xai-reports"],
)
def test_forged_cursor_is_refused(people: UserClient, listing: str, forged: str) -> None:
    r = people.http.get(f"/api/v1/{listing}", params={"cursor": cursor_of(forged)})
    assert_problem(r, 422, "cursor is not valid")


def test_a_real_cursor_still_pages(people: UserClient) -> None:
    for name in ("second", "third"):
        assert upload_csv(people.http, people.user_id, name).status_code == 201
    first = people.http.get("/api/v1/datasets", params={"limit": 2}).json()
    rest = people.http.get("/api/v1/datasets", params={"cursor": first["next_cursor"]}).json()
    assert [a["id"] for a in first["items"] + rest["items"]] == ["third", "second", "people"]


# --- report content ---------------------------------------------------------------------


@pytest.mark.parametrize("depth", [65, 900])
def test_report_nested_too_deep_is_refused_and_listing_survives(
    people: UserClient, depth: int
) -> None:
    before = written(people)
    r = people.http.post(
        "/api/v1/bias-reports/", json={"dataset_id": "people", "report": nested(depth)}
    )
    assert_problem(r, 422, "nested more than 64 levels deep")
    assert written(people) == before
    assert people.http.get("/api/v1/bias-reports").status_code == 200
    ok = people.http.post(
        "/api/v1/bias-reports/", json={"dataset_id": "people", "report": nested(64)}
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["content_truncated"] is False


def test_body_nested_past_the_json_parser_is_a_400(people: UserClient) -> None:
    before = written(people)
    body = b'{"dataset_id": "people", "report": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = people.http.post(
        "/api/v1/bias-reports/", content=body, headers={"content-type": "application/json"}
    )
    assert_problem(r, 400)
    assert written(people) == before


def test_report_stored_deep_before_the_limit_is_listed_cut(people: UserClient) -> None:
    """A row from before the limit existed (written here straight to the database) must
    not break its owner's listing forever: it is shown cut at 64 levels, and says so."""
    report_id = uuid.uuid4().hex
    engine = people.api.backend.engine()
    try:
        with Session(engine) as s, s.begin():
            s.add(
                Report(
                    report_id=report_id,
                    kind="bias",
                    owner_id=people.user_id,
                    dataset_id="people",
                    dataset_version=1,
                    content=nested(900),
                    size_bytes=0,
                )
            )
    finally:
        engine.dispose()
    listing = people.http.get("/api/v1/bias-reports")
    assert listing.status_code == 200, listing.text
    (item,) = listing.json()["items"]
    assert item["content_truncated"] is True
    one = people.http.get(f"/api/v1/bias-reports/{report_id}")
    assert one.status_code == 200 and one.json()["content_truncated"] is True
    depth, inner = 0, one.json()["content"]
    while isinstance(inner, dict):
        depth, inner = depth + 1, inner["a"]
    assert depth == 64


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_report_with_nan_is_refused(people: UserClient, token: str) -> None:
    before = written(people)
    body = f'{{"dataset_id": "people", "report": {{"score": {token}}}}}'
    r = people.http.post(
        "/api/v1/bias-reports/", content=body, headers={"content-type": "application/json"}
    )
    assert_problem(r, 422, "NaN or Infinity")
    assert written(people) == before


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("POST", "/api/v1/journeys", {"dataset_id": "people", "target_column": "a\x00"}),
        ("POST", "/api/v1/bias-reports/", {"dataset_id": "people\x00", "report": {"x": 1}}),
        ("PATCH", "/api/v1/datasets/people", {"description": "a\x00b"}),
        ("GET", "/api/v1/datasets?q=a%00b", None),
        ("GET", "/api/v1/journeys/j%00x", None),
    ],
    ids=["journey-target", "report-dataset", "description", "search", "journey-id"],
)
def test_nul_characters_never_cause_a_500(
    people: UserClient, method: str, path: str, payload: dict[str, Any] | None
) -> None:
    """PostgreSQL cannot hold NUL in text; SQLite can. Either way: no 5xx, and on
    PostgreSQL a 422 naming the reason, with nothing written."""
    before = written(people)
    r = people.http.request(method, path, json=payload)
    assert r.status_code < 500, r.text
    if people.api.backend.name == "postgres_s3":
        assert_problem(r, 422, "cannot contain NUL")
        assert written(people) == before


# --- downloads --------------------------------------------------------------------------


def test_download_of_a_non_latin1_file_name(user: UserClient) -> None:
    data = b"a,b\n1,2\n"
    r = upload_csv(user.http, user.user_id, "cn", data=data, filename="数据.csv")
    assert r.status_code == 201, r.text
    got = user.http.get("/api/v1/datasets/cn/versions/1/files/数据.csv")
    assert got.status_code == 200, got.text
    assert got.content == data
    disposition = got.headers["content-disposition"]
    assert disposition.isascii()
    assert 'attachment; filename="__.csv"' in disposition
    star = disposition.split("filename*=", 1)[1]
    assert star.startswith("UTF-8''") and unquote(star.removeprefix("UTF-8''")) == "数据.csv"
    plain = user.http.get("/api/v1/datasets/cn/versions/1/download")
    assert plain.headers["content-disposition"] == 'attachment; filename="cn-v1.zip"'


# --- methods, strict numbers and the OpenAPI document -----------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/v1/datasets/people", "GET, PATCH, DELETE"),
        ("POST", "/api/v1/datasets/people/versions/1", "GET, DELETE"),
        ("DELETE", "/api/v1/users/me", "GET"),
        ("GET", "/api/v1/journeys/x/retry", "POST"),
        ("PATCH", "/api/v1/datasets/upload/someone", "POST"),
    ],
)
def test_405_names_every_allowed_method(
    people: UserClient, method: str, path: str, allow: str
) -> None:
    before = written(people)
    r = people.http.request(method, path, json={"description": "x"})
    assert_problem(r, 405)
    assert r.headers["allow"] == allow
    assert written(people) == before


@pytest.mark.parametrize(
    "hints",
    [{"time_budget_s": True}, {"time_budget_s": "60"}, {"sensitive_columns": "a,b"}],
    ids=["bool-budget", "string-budget", "string-for-list"],
)
def test_journey_hints_are_strict(people: UserClient, hints: dict[str, Any]) -> None:
    before = written(people)
    assert_problem(
        people.http.post("/api/v1/journeys", json={"dataset_id": "people", **hints}), 422
    )
    assert written(people) == before
    made = people.http.post("/api/v1/journeys", json={"dataset_id": "people"})
    assert made.status_code == 201, made.text
    journey = made.json()
    after = written(people)
    r = people.http.patch(f"/api/v1/journeys/{journey['id']}", json=hints)
    assert_problem(r, 422, "body.")
    assert written(people) == after
    again = people.http.get(f"/api/v1/journeys/{journey['id']}").json()
    assert again["time_budget_s"] == journey["time_budget_s"] == 60.0
    assert again["updated_at"] == journey["updated_at"]


def test_warehouse_openapi_documents_problems(people: UserClient) -> None:
    assert_documents_problems(people.http.get("/openapi.json").json(), skip={"health"})


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """``millrace serve``'s app on a uvicorn thread, with no models: nothing here needs one."""
    home = tmp_path_factory.mktemp("serve-hostile")
    settings = Settings(home=home)
    wh = Warehouse.open(settings)
    with session_scope(wh.sessions) as session:
        token = create_user(session, user_id="alice", is_admin=False)[1]
    app = create_serving_app(settings, warehouse=wh, options=ServeOptions(log_dir=home / "log"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="serve-hostile", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
            yield c
    finally:
        server.should_exit = True
        thread.join(30)
        wh.close()


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v2/models/credit/infer", "POST"),
        ("PUT", "/predict", "POST"),
        ("DELETE", "/api/v1/models", "GET"),
        ("POST", "/v2/health/live", "GET"),
    ],
)
def test_serving_405_names_every_allowed_method(
    serving: httpx.Client, method: str, path: str, allow: str
) -> None:
    r = serving.request(method, path)
    assert_problem(r, 405)
    assert r.headers["allow"] == allow


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/predict", {"data": [{"t": 1}], "inference_length": True}, "inference_length"),
        (
            "/api/v1/models/air/predict",
            {"data": [{"t": 1}], "inference_length": 6.0},
            "inference_length",
        ),
        (
            "/v2/models/credit/infer",
            {"inputs": [{"name": "a", "shape": [True], "datatype": "FP64", "data": [1]}]},
            "shape",
        ),
    ],
    ids=["seed-bool", "predict-float", "oip-bool-shape"],
)
def test_serving_numbers_are_strict(
    serving: httpx.Client, path: str, body: dict[str, Any], field: str
) -> None:
    """Refused as input, naming the field, before any model is looked up (there is none)."""
    assert_problem(serving.post(path, json=body), 422, field)


def test_serving_openapi_documents_problems(serving: httpx.Client) -> None:
    doc = serving.get("/openapi.json").json()
    assert_documents_problems(doc, skip={"health"}, probes=frozenset({"/v2"}))


def assert_documents_problems(
    doc: dict[str, Any], skip: set[str], probes: frozenset[str] = frozenset()
) -> None:
    """Every operation but the token-less probes lists the problem statuses, each as
    ``application/problem+json`` with the one ``ProblemDetails`` schema."""
    problem = doc["components"]["schemas"]["ProblemDetails"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    checked = 0
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            if skip & set(op.get("tags", [])) or path in probes:
                continue
            for status in PROBLEM_STATUSES:
                content = op["responses"][status]["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)
                schema = content["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ProblemDetails"}
            checked += 1
    assert checked > 5
