"""Serving real champions: answers equal each model's own predictions, in every protocol."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from millrace.pipelines import steps
from tests.serving.conftest import ServedWorld, patients


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return json.loads(frame.to_json(orient="records"))


def test_lightgbm_champion_answers_like_its_own_predict(served: ServedWorld) -> None:
    rows = patients().drop(columns=["high_risk"]).iloc[:25]
    expected = served.credit.expected(rows)
    with served.client() as c:
        by_records = c.post("/api/v1/models/credit/predict", json={"records": _records(rows)})
        assert by_records.status_code == 200, by_records.text
        body = by_records.json()
        assert body["predictions"] == expected
        assert body["version"] == served.credit.version
        bare = c.post("/api/v1/models/credit/predict", json=_records(rows.iloc[:3]))
        assert bare.json()["predictions"] == expected[:3]
        columns = {k: list(v.values()) for k, v in json.loads(rows.to_json()).items()}
        by_columns = c.post(
            "/api/v1/models/credit/predict", json={"columns": columns, "proba": True}
        )
        assert by_columns.json()["predictions"] == expected
        proba = served.credit.estimator.predict_proba(served.credit.encoder.transform(rows))
        np.testing.assert_allclose(by_columns.json()["probabilities"], proba, rtol=1e-12)
        oip = c.post(
            "/v2/models/credit/infer",
            json={
                "id": "r1",
                "inputs": [
                    {
                        "name": col,
                        "shape": [len(rows)],
                        "datatype": "BYTES" if col == "sex" else "FP64",
                        "data": columns[col],
                    }
                    for col in rows.columns
                ],
            },
        )
        assert oip.status_code == 200, oip.text
        out = oip.json()
        assert (out["model_name"], out["model_version"], out["id"]) == ("credit", "1", "r1")
        assert out["outputs"] == [
            {"name": "predict", "datatype": "INT64", "shape": [25], "data": expected}
        ]


def test_unseen_category_and_missing_values_are_served_as_in_training(
    served: ServedWorld,
) -> None:
    rows = patients().drop(columns=["high_risk"]).iloc[:4].astype({"bmi": object})
    rows.loc[0, "sex"] = "unknown"
    rows.loc[1, "bmi"] = None
    with served.client() as c:
        r = c.post("/api/v1/models/credit/predict", json=_records(rows))
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == served.credit.expected(rows)


def test_forecasting_champion_answers_like_the_pipeline(served: ServedWorld) -> None:
    run = served.forecast
    assert run.evaluation is not None and run.evaluation.final is not None
    # What is registered and served: the champion refitted on every row, with the
    # prediction intervals of its CV errors.
    log = served.settings.home / "expected.jsonl"
    steps.infer(run.prepared, run.evaluation.final, log, next_horizon=True)
    expected = [json.loads(line) for line in log.read_text().splitlines()]
    history = pd.read_csv(served.forecast_data)
    data = _records(history)
    with served.client() as c:
        seed = c.post("/predict", json={"data": data, "index_col": "time", "inference_length": 6})
        assert seed.status_code == 200, seed.text
        got = seed.json()["predictions"]
        assert [p["ts"] for p in got] == [e["ts"] for e in expected]
        np.testing.assert_allclose(
            [p["value"] for p in got], [e["prediction"] for e in expected], rtol=1e-9
        )
        intervals = seed.json()["intervals"]
        assert set(intervals) == {"80", "95"}
        for level, bounds in intervals.items():
            for side in ("lower", "upper"):
                want = [e[f"{side}_{level}"] for e in expected]
                np.testing.assert_allclose(bounds[side], want, rtol=1e-9)
        shorter = c.post("/api/v1/models/air/predict", json={"data": data, "inference_length": 2})
        assert [p["value"] for p in shorter.json()["predictions"]] == [p["value"] for p in got[:2]]
        oip = c.post(
            "/v2/models/air/infer",
            json={
                "parameters": {"inference_length": 6},
                "inputs": [
                    {
                        "name": "time",
                        "shape": [len(history)],
                        "datatype": "BYTES",
                        "data": history["time"].tolist(),
                    },
                    {
                        "name": "y",
                        "shape": [len(history)],
                        "datatype": "FP64",
                        "data": [None if np.isnan(v) else v for v in history["y"]],
                    },
                    {
                        "name": "promo",
                        "shape": [len(history)],
                        "datatype": "FP64",
                        "data": history["promo"].tolist(),
                    },
                ],
            },
        )
        assert oip.status_code == 200, oip.text
        outputs = {o["name"]: o["data"] for o in oip.json()["outputs"]}
        assert outputs["ts"] == [p["ts"] for p in got]
        assert outputs["lower_80"] == intervals["80"]["lower"]
        np.testing.assert_allclose(outputs["value"], [p["value"] for p in got], rtol=1e-12)
        too_long = c.post("/predict", json={"data": data, "inference_length": 7})
        assert too_long.status_code == 422
        assert "between 1 and 6" in too_long.json()["detail"]


def test_metadata_shows_the_live_version_and_contract(served: ServedWorld) -> None:
    with served.client() as c:
        meta = c.get("/v2/models/credit").json()
        assert meta["versions"] == ["1"]
        assert meta["platform"] == "lightgbm_sklearn"
        assert meta["parameters"]["live_version"] == "1"
        assert {"name": "sex", "datatype": "BYTES", "shape": [-1]} in meta["inputs"]
        assert c.get("/v2/models/credit/ready").json()["ready"] is True
        assert c.get("/v2/models/credit/versions/1/ready").status_code == 200
        stale = c.post("/v2/models/credit/versions/7/infer", json={"inputs": []})
        assert stale.status_code in (404, 422)
        missing = c.get("/v2/models/credit/versions/7")
        assert missing.status_code == 404 and "v1" in missing.json()["detail"]
        forecast = c.get("/v2/models/air").json()
        assert forecast["platform"] == "millrace_forecast_gru"
        assert [i["name"] for i in forecast["inputs"]] == ["time", "y", "promo"]
        mine = c.get("/api/v1/models").json()["models"]
        assert {m["name"] for m in mine} == {"credit", "stream", "air"}
    assert httpx_get(served, "/v2/health/live") == {"live": True}
    schema = httpx_get(served, "/openapi.json")
    assert isinstance(schema, dict)
    assert {
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
        "/api/v1/models/{name}/predict",
        "/predict",
    } <= set(schema["paths"])


def httpx_get(served: ServedWorld, path: str) -> object:
    with served.client(None) as c:
        return c.get(path).json()


def test_request_log_is_written_off_the_request_path(served: ServedWorld) -> None:
    rows = _records(patients().drop(columns=["high_risk"]).iloc[:3])
    with served.client() as c:
        for _ in range(3):
            assert c.post("/api/v1/models/credit/predict", json=rows).status_code == 200
    log: RequestLogProbe = RequestLogProbe(served.log_dir)
    entry = log.wait_for(lambda e: e.get("model") == "millrace.alice.credit" and e.get("rows") == 3)
    assert entry["status"] == 200 and entry["latency_ms"] > 0
    assert entry["inputs"]["rows"] == 3 and "bmi" in entry["inputs"]["mean"]
    assert entry["prediction"]["n"] == 3


class RequestLogProbe:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def wait_for(self, match: object, timeout: float = 10) -> dict[str, object]:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in sorted(self.folder.glob("requests-*.jsonl")):
                for line in path.read_text().splitlines():
                    entry = json.loads(line)
                    if match(entry):  # type: ignore[operator]
                        return entry  # type: ignore[no-any-return]
            time.sleep(0.05)
        raise AssertionError("no matching request log entry")
