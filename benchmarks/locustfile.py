"""Load tests for ``millrace serve`` with Locust (``locust==2.46.6``, in the dev extra).

Pick a user class for the endpoint to load:

- ``PredictUser``: ``POST /api/v1/models/<model>/predict`` with records;
- ``InferUser``: ``POST /v2/models/<model>/infer`` (Open Inference Protocol v2);
- ``ForecastUser``: seed 000's ``POST /predict`` with a history CSV.

Settings come from the environment:

    MILLRACE_TOKEN    a bearer token (``millrace users create``)            required
    MILLRACE_MODEL    the model id to call                                  required
    MILLRACE_ROWS     a JSON file of records to send; default: one row made
                      from the model's own signature (GET /v2/models/<model>)
    MILLRACE_BATCH    rows per request (default 1)
    MILLRACE_HISTORY  the history CSV for ForecastUser (its time column and
                      value columns); MILLRACE_LENGTH points to forecast

Headless, 32 users for a minute, statistics as CSV:

    MILLRACE_TOKEN=mr_... MILLRACE_MODEL=credit-automl \\
    .venv/bin/locust -f benchmarks/locustfile.py --headless -u 32 -r 32 -t 60s \\
        -H http://127.0.0.1:8080 --csv serve PredictUser

On one small machine Locust's own client can cost more CPU than the server it loads;
``benchmarks/serving.py`` uses a lighter load generator for its figures. Run Locust from
another machine to load a real deployment.
"""

from __future__ import annotations

import csv
import json
import os
from typing import Any

from locust import FastHttpUser, between, events, task

__all__ = ["ForecastUser", "InferUser", "PredictUser"]


def _settings() -> tuple[str, str]:
    token, model = os.environ.get("MILLRACE_TOKEN"), os.environ.get("MILLRACE_MODEL")
    if not token or not model:
        raise SystemExit("set MILLRACE_TOKEN and MILLRACE_MODEL (see benchmarks/locustfile.py)")
    return token, model


def _row_from_signature(meta: dict[str, Any]) -> dict[str, Any]:
    """A valid row for any tabular model: a number per numeric input, text per other."""
    return {t["name"]: 0.5 if t["datatype"] != "BYTES" else "a" for t in meta["inputs"]}


class _MillraceUser(FastHttpUser):
    abstract = True
    wait_time = between(0, 0)  # closed loop: the next request as soon as the answer is in

    def on_start(self) -> None:
        self.token, self.model = _settings()
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self.batch = int(os.environ.get("MILLRACE_BATCH", "1"))
        self.rows = self._rows()

    def _rows(self) -> list[dict[str, Any]]:
        path = os.environ.get("MILLRACE_ROWS")
        if path:
            with open(path, encoding="utf-8") as f:
                rows: list[dict[str, Any]] = json.load(f)
        else:
            with self.client.get(
                f"/v2/models/{self.model}",
                headers=self.headers,
                name="metadata",
                catch_response=True,
            ) as r:
                if r.status_code != 200:
                    r.failure(f"cannot read the model's signature: {r.status_code} {r.text}")
                    raise SystemExit(1)
                rows = [_row_from_signature(r.json())]
        return (rows * (self.batch // len(rows) + 1))[: self.batch]


class PredictUser(_MillraceUser):
    @task
    def predict(self) -> None:
        self.client.post(
            f"/api/v1/models/{self.model}/predict",
            json={"records": self.rows},
            headers=self.headers,
            name="/api/v1/models/[model]/predict",
        )


class InferUser(_MillraceUser):
    def on_start(self) -> None:
        super().on_start()
        names = list(self.rows[0])
        self.body = {
            "inputs": [
                {
                    "name": c,
                    "shape": [len(self.rows)],
                    "datatype": "BYTES" if isinstance(self.rows[0][c], str) else "FP64",
                    "data": [r[c] for r in self.rows],
                }
                for c in names
            ]
        }

    @task
    def infer(self) -> None:
        self.client.post(
            f"/v2/models/{self.model}/infer",
            json=self.body,
            headers=self.headers,
            name="/v2/models/[model]/infer",
        )


class ForecastUser(FastHttpUser):
    wait_time = between(0, 0)

    def on_start(self) -> None:
        token, self.model = _settings()
        self.headers = {"Authorization": f"Bearer {token}"}
        path = os.environ.get("MILLRACE_HISTORY")
        if not path:
            raise SystemExit("ForecastUser needs MILLRACE_HISTORY, a CSV of recent history")
        with open(path, encoding="utf-8", newline="") as f:
            data = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
        self.body: dict[str, Any] = {"model": self.model, "data": data}
        if os.environ.get("MILLRACE_LENGTH"):
            self.body["inference_length"] = int(os.environ["MILLRACE_LENGTH"])

    @task
    def forecast(self) -> None:
        self.client.post("/predict", json=self.body, headers=self.headers, name="/predict")


def _number(value: str) -> Any:
    try:
        return float(value) if value != "" else None
    except ValueError:
        return value  # the time column


@events.quitting.add_listener
def _fail_on_errors(environment: Any, **_: Any) -> None:
    """Headless runs exit non-zero when any request failed."""
    if environment.stats.total.num_failures:
        environment.process_exit_code = 1
