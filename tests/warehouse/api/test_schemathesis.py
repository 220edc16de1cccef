"""Schemathesis over both OpenAPI documents, in process (ASGI, no network), authenticated.

Every operation of the warehouse API and of the inference server gets schema-valid and
schema-violating requests, derandomized and bounded (a few hundred in all). Two checks:
no answer is a 5xx, and every status code is one the document lists for the operation.
Requests also go with their ids pinned to real objects (a dataset, a model, a served
champion), so that they get past the 404s into the code that does the work.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import status_code_conformance

from millrace.serving import ServeOptions, create_serving_app
from millrace.settings import Settings
from millrace.warehouse.api.app import create_app
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.users import create_user
from tests.helpers import csv_bytes
from tests.serving.conftest import log_lightgbm

CHECKS = [not_a_server_error, status_code_conformance]
OWNER = "alice"


@dataclass
class Target:
    """An app, a token for ``alice``, and what to pin each path parameter to."""

    app: Any
    token: str
    pins: dict[str, str] = field(default_factory=dict)
    examples: dict[GenerationMode, int] = field(default_factory=dict)
    pinned_examples: int = 0


@dataclass
class Outcome:
    calls: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def world(home: Path) -> tuple[Warehouse, str]:
    wh = Warehouse.open(Settings(home=home))
    with session_scope(wh.sessions) as session:
        token = create_user(session, user_id=OWNER, is_admin=False)[1]
    return wh, token


@pytest.fixture(scope="module")
def warehouse_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    wh, token = world(tmp_path_factory.mktemp("st-warehouse"))
    app = create_app(wh.settings, warehouse=wh)
    auth = {"Authorization": f"Bearer {token}"}
    with asgi.get_client(app) as client:
        for path, part, form in (
            (f"/api/v1/datasets/upload/{OWNER}", "file", {"dataset_id": "people"}),
            ("/api/v1/ai-models/upload/single", "file", {"model_id": "model", "framework": "onnx"}),
        ):
            files = {part: ("data.csv", csv_bytes())}
            r = client.post(path, files=files, data=form, headers=auth)
            assert r.status_code == 201, r.text
    try:
        yield Target(
            app,
            token,
            pins={"user_id": OWNER, "version": "1", "path": "data.csv"},
            examples={GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 3},
            pinned_examples=4,
        )
    finally:
        asgi.shutdown_lifespans()
        wh.close()


@pytest.fixture(scope="module")
def inference_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    home = tmp_path_factory.mktemp("st-serving")
    wh, token = world(home)
    model = log_lightgbm(wh.settings, OWNER, "credit", "classification", 10)
    options = ServeOptions(poll_interval_s=0.2, log_dir=home / "log", log_flush_s=0.1)
    app = create_serving_app(wh.settings, warehouse=wh, options=options)
    with asgi.get_client(app) as client:  # starts the lifespan: the registry watcher
        deadline = time.monotonic() + 60
        while client.get("/v2/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "the champion was not loaded"
            time.sleep(0.1)
    try:
        yield Target(
            app,
            token,
            pins={"name": model.model_id, "version": model.version, "user_id": OWNER},
            examples={GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 4},
            pinned_examples=8,
        )
    finally:
        asgi.shutdown_lifespans()
        wh.close()


def variants(op: Any, target: Target) -> Iterator[tuple[str, dict[str, Any], int]]:
    """(label, strategy arguments, examples): free generation in each mode, then with the
    ids pinned to real objects. An operation without inputs has nothing to break."""
    has_inputs = any(True for _ in op.iter_parameters()) or bool(list(op.body))
    for mode, n in target.examples.items():
        if mode is GenerationMode.POSITIVE or has_inputs:
            yield mode.value, {"generation_mode": mode}, n
    names = {p.name for p in op.path_parameters}
    pinned = {k: v for k, v in target.pins.items() if k in names}
    if not pinned or op.method.upper() == "DELETE":  # keep the pinned objects alive
        return
    query = {"user_id": OWNER} if any(p.name == "user_id" for p in op.query) else None
    yield "pinned", {"path_parameters": pinned, "query": query}, target.pinned_examples


def exercise(target: Target) -> Outcome:
    schema = schemathesis.openapi.from_asgi("/openapi.json", target.app)
    auth = {"Authorization": f"Bearer {target.token}"}
    outcome = Outcome()
    for result in schema.get_all_operations():
        op = result.ok()
        for label, kwargs, n in variants(op, target):

            @given(case=op.as_strategy(**kwargs))
            @settings(
                max_examples=n,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                response = case.call_and_validate(headers=auth, checks=CHECKS)
                outcome.calls += 1
                code = response.status_code
                outcome.statuses[code] = outcome.statuses.get(code, 0) + 1

            try:
                run()
            except (Exception, ExceptionGroup) as exc:
                outcome.failures.append(f"{op.label} [{label}]: {exc}")
    return outcome


def assert_clean(outcome: Outcome, at_least: int) -> None:
    assert not outcome.failures, "\n\n".join(outcome.failures)
    assert outcome.calls >= at_least, outcome
    assert not any(code >= 500 for code in outcome.statuses), outcome.statuses
    assert any(200 <= code < 300 for code in outcome.statuses), "nothing got through"


def test_warehouse_api_conforms_and_never_fails(warehouse_api: Target) -> None:
    assert_clean(exercise(warehouse_api), at_least=300)


def test_inference_server_conforms_and_never_fails(inference_server: Target) -> None:
    assert_clean(exercise(inference_server), at_least=100)
