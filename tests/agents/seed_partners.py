"""Partner agents written the way seed 004's consumer examples are, for the Kafka test.

Each is a plain Kafka consumer on one trigger topic that reads only the fields seed 004's
agentic core sent, and calls only seed 004's routes, over HTTP, with ``requests``. The one
thing a seed partner adds to work against Millrace is the ``Authorization`` header. A
message a partner cannot handle is logged and skipped, as the seed's examples do.

Written from the seed's contracts (topics, fields, routes), not copied from its code.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import requests
from confluent_kafka import Consumer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

log = logging.getLogger("seed_partner")

Handler = Callable[["Partner", dict[str, Any]], None]


@dataclass
class Partner:
    """One partner consumer: a topic, an API base, a token and what it did."""

    name: str
    topic: str
    handle: Handler
    bootstrap: str
    api_base: str
    token: str
    only_user: str  # the broker is shared by the test session: other users' work is not ours
    done: list[dict[str, Any]] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)  # the triggers it acted on
    errors: list[str] = field(default_factory=list)

    def get(self, path: str, **params: Any) -> requests.Response:
        r = requests.get(f"{self.api_base}{path}", params=params, headers=self._auth(), timeout=60)
        r.raise_for_status()
        return r

    def post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        r = requests.post(f"{self.api_base}{path}", headers=self._auth(), timeout=120, **kwargs)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def run(self, stop: threading.Event) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"{self.name}-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": True,
            }
        )
        consumer.subscribe([self.topic])
        try:
            while not stop.is_set():
                msg = consumer.poll(0.5)
                if msg is None or msg.error() is not None:
                    continue
                value = json.loads(msg.value())
                try:
                    self.handle(self, value)
                except Exception as exc:  # a partner logs and goes on, like the seed's
                    log.exception("%s: cannot handle %s", self.name, msg.key())
                    self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            consumer.close()


def _frame(p: Partner, user_id: str, dataset_id: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(p.get(f"/datasets/{user_id}/{dataset_id}/download").content))


def bias_detector(p: Partner, event: dict[str, Any]) -> None:
    """The seed's bias detector takes the ids from ``metadata`` (the dataset's GET body)."""
    dataset = event.get("metadata", {})
    user_id, dataset_id = dataset.get("user_id"), dataset.get("dataset_id")
    if not user_id or not dataset_id or user_id != p.only_user:
        return
    p.seen.append(event)
    meta = p.get(f"/datasets/{user_id}/{dataset_id}").json()
    frame = _frame(p, user_id, dataset_id)
    report = {
        "shape": [int(frame.shape[0]), int(frame.shape[1])],
        "columns": [str(c) for c in frame.columns],
        "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},
        "record_count": event.get("record_count"),
        "declared_row_count": meta.get("row_count"),
    }
    saved = p.post(
        "/bias-reports/",
        json={
            "user_id": user_id,
            "dataset_id": dataset_id,
            "report": report,
            "target_column_name": event.get("target_column_name"),
            "task_type": event.get("task_type"),
        },
    )
    p.done.append(saved)


def automl_trainer(p: Partner, event: dict[str, Any]) -> None:
    """Trains within ``time_budget`` (minutes, as text) and uploads with ``training_dataset``."""
    user_id, dataset_id = event.get("user_id"), event.get("dataset_id")
    if not user_id or not dataset_id or user_id != p.only_user:
        return
    p.seen.append(event)
    target, task = event.get("target_column_name"), event.get("task_type")
    budget_s = float(event.get("time_budget", "10")) * 60
    frame = _frame(p, user_id, dataset_id)
    x, y = frame.drop(columns=[target]), frame[target]
    started = time.monotonic()
    forest = RandomForestClassifier if task == "classification" else RandomForestRegressor
    model = forest(n_estimators=50, random_state=0).fit(x, y)
    assert time.monotonic() - started < budget_s + 30
    model_id = f"automl_{dataset_id}_{int(time.time())}"
    saved = p.post(
        f"/ai-models/upload/single/{user_id}",
        files={"file": ("model.pkl", pickle.dumps(model))},
        data={
            "model_id": model_id,
            "name": f"AutoML Model - {model_id}",
            "description": f"AutoML trained model for {task}",
            "framework": "sklearn",
            "model_type": task,
            "training_dataset": dataset_id,
            "training_accuracy": str(round(float(model.score(x, y)), 4)),
        },
    )
    p.done.append(saved)


def xai_explainer(p: Partner, event: dict[str, Any]) -> None:
    """Explains the model at the ``level`` asked: a model and a data explanation."""
    user_id, dataset_id, model_id = (
        event.get("user_id"),
        event.get("dataset_id"),
        event.get("model_id"),
    )
    if not user_id or not dataset_id or not model_id or user_id != p.only_user:
        return
    p.seen.append(event)
    level = event.get("level", "beginner")
    meta = p.get(f"/ai-models/{user_id}/{model_id}", version=event.get("version", "v1")).json()
    frame = _frame(p, user_id, dataset_id)
    pages = {
        "model_explanation": f"<html><h1>{meta['name']}</h1><p>{meta['framework']}</p></html>",
        "data_explanation": f"<html><h1>{dataset_id}</h1>{frame.describe().to_html()}</html>",
    }
    for report_type, html in pages.items():
        saved = p.post(
            f"/xai-reports/upload/{user_id}",
            files={"file": (f"{report_type}-{level}.html", html.encode(), "text/html")},
            data={
                "dataset_id": dataset_id,
                "model_id": model_id,
                "report_type": report_type,
                "level": level,
            },
        )
        p.done.append(saved)
