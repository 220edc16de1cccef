"""Bad payloads and strangers get a clear 4xx, never a 500."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.serving.conftest import ServedWorld, patients


def _rows(n: int = 2) -> list[dict[str, object]]:
    return json.loads(patients().drop(columns=["high_risk"]).iloc[:n].to_json(orient="records"))


def _problem(r: httpx.Response, status: int, *needles: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    for needle in needles:
        assert needle in r.json()["detail"], r.json()


def test_missing_column_names_it(served: ServedWorld) -> None:
    rows = _rows()
    for row in rows:
        del row["bmi"]
    with served.client() as c:
        _problem(c.post("/api/v1/models/credit/predict", json=rows), 422, "'bmi'")
        ragged = _rows()
        del ragged[1]["s1"]
        _problem(c.post("/api/v1/models/credit/predict", json=ragged), 422, "record 1", "'s1'")


def test_wrong_types_are_refused(served: ServedWorld) -> None:
    rows = _rows()
    rows[1]["age"] = "old"
    rows[0]["sex"] = {"nested": True}
    with served.client() as c:
        _problem(c.post("/api/v1/models/credit/predict", json=rows), 422, "'age'", "row 1")
        rows[1]["age"] = 50
        _problem(c.post("/api/v1/models/credit/predict", json=rows), 422, "'sex'", "categorical")
        tensors = [
            {"name": col, "shape": [1], "datatype": "FP64", "data": [str(v)]}
            for col, v in _rows(1)[0].items()
        ]
        _problem(c.post("/v2/models/credit/infer", json={"inputs": tensors}), 422, "BYTES")
        shape = [{**t, "shape": [3]} for t in tensors]
        _problem(c.post("/v2/models/credit/infer", json={"inputs": shape}), 422, "shape")


@pytest.mark.parametrize(
    "body",
    [[], {"records": []}, {"columns": {}}, {"inputs": []}],
    ids=["bare", "records", "columns", "oip"],
)
def test_empty_batches_are_refused(served: ServedWorld, body: object) -> None:
    path = "/v2/models/credit/infer" if isinstance(body, dict) and "inputs" in body else None
    with served.client() as c:
        r = c.post(path or "/api/v1/models/credit/predict", json=body)
    assert r.status_code == 422, r.text


def test_non_json_and_unknown_fields(served: ServedWorld) -> None:
    with served.client() as c:
        for path in ("/api/v1/models/credit/predict", "/v2/models/credit/infer", "/predict"):
            r = c.post(path, content=b"age=3&bmi=4", headers={"content-type": "text/plain"})
            assert r.status_code == 422, (path, r.text)
            r = c.post(path, content=b"{not json", headers={"content-type": "application/json"})
            assert r.status_code == 422, (path, r.text)
        _problem(c.post("/api/v1/models/credit/predict", json={"rows": _rows()}), 422, "rows")
        tabular = c.post("/predict", json={"data": _rows(), "model": "credit"})
        _problem(tabular, 422, "tabular model")


def test_a_50_mb_body_is_refused_without_reading_it_all(served: ServedWorld) -> None:
    big = b'{"records": [' + b'{"age": 1},' * (50 * 1024 * 1024 // 11) + b'{"age": 1}]}'
    with served.client() as c:
        r = c.post(
            "/api/v1/models/credit/predict",
            content=big,
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 413
    assert "larger than the limit" in r.json()["detail"]


def test_forecast_history_problems_are_422(served: ServedWorld) -> None:
    with served.client() as c:
        r = c.post("/predict", json={"data": [{"time": "2020-01-01", "y": 1}], "model": "air"})
        _problem(r, 422, "'promo'")
        rows = [{"time": f"2020-{m:02d}-01", "y": m, "promo": 0.0} for m in range(1, 13)]
        rows[4]["y"] = "lots"
        _problem(c.post("/predict", json={"data": rows}), 422, "not a number")
        _problem(c.post("/predict", json={"data": rows[:5]}), 422, "at least 12")
        _problem(c.post("/predict", json={"data": []}), 422)
        _problem(c.post("/predict", json={"data": rows, "inference_length": 0}), 422)


def test_tokens_and_ownership(served: ServedWorld) -> None:
    rows = _rows()
    with served.client(None) as anonymous:
        _problem(anonymous.post("/api/v1/models/credit/predict", json=rows), 401, "bearer")
        _problem(anonymous.get("/v2/models/credit"), 401)
        bad = anonymous.post(
            "/v2/models/credit/infer",
            json={"inputs": []},
            headers={"Authorization": "Bearer mr_not-a-token"},
        )
        _problem(bad, 401, "not valid")
        assert anonymous.get("/v2/health/ready").status_code == 200
    with served.client("bob") as bob:
        # bob has a model of the same id: he gets his, never alice's
        assert bob.get("/v2/models/credit").json()["parameters"]["owner"] == "bob"
        _problem(bob.get("/v2/models/stream"), 404)
        _problem(bob.post("/api/v1/models/air/predict", json=rows), 404)
        _problem(bob.get("/v2/models/stream", params={"user_id": "alice"}), 403)
        _problem(bob.post("/predict", json={"data": rows}), 404, "no forecasting model")
    with served.client("root") as admin:
        r = admin.post("/api/v1/models/stream/predict", params={"user_id": "alice"}, json=rows)
        assert r.status_code == 200, r.text
        _problem(admin.get("/v2/models/stream"), 404)
