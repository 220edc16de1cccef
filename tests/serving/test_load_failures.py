"""A champion that cannot be loaded is reported, counted, and never half-served."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import mlflow

from millrace.ml import registry
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines.runners.local import run_local
from tests.serving.conftest import ServedWorld, air_with_exog


def _first_attempt(client: httpx.Client, model: str) -> httpx.Response:
    """The model's status once the registry watcher has tried to load the new champion."""
    deadline = time.monotonic() + 30
    while (r := client.get(f"/v2/models/{model}")).status_code == 404 or (
        r.status_code == 503 and r.json()["title"] == "Not ready"  # still loading it
    ):
        assert time.monotonic() < deadline, "the watcher never tried the new champion"
        time.sleep(0.1)
    return r


def test_an_unloadable_champion_is_a_503_with_the_reason(served: ServedWorld) -> None:
    uri = served.tracking_uri
    name = registry.register_model(uri, owner="alice", model_id="broken", kind="tabular")
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run() as run:  # a run that logged no model at all
        mlflow.log_metric("score", 1.0)
    version = registry.mlflow_client(uri).create_model_version(
        name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
    registry.promote(uri, name, version.version, reason="test")
    with served.client() as c:
        r = _first_attempt(c, "broken")
        assert r.status_code == 503, r.text
        assert "could not be loaded" in r.json()["detail"]
        assert c.get("/v2/health/ready").status_code == 200  # the others are served
        assert c.get("/v2/models/credit").status_code == 200
    with served.client("prometheus") as c:
        metrics = c.get("/metrics").text
    assert 'millrace_model_load_failures_total{model="millrace.alice.broken"} 1.0' in metrics


def test_a_multi_target_forecaster_is_refused_with_the_reason(
    served: ServedWorld, tmp_path: Path
) -> None:
    """A request holds one series and gets one forecast back; a forecaster of several
    targets is batch-only, and says so instead of forecasting the wrong shape."""
    data = tmp_path / "air.csv"
    air_with_exog().assign(promo=lambda f: f["promo"] + 20).to_csv(data, index=False)
    cfg = PreprocessConfig(target="y", extra_targets=("promo",), horizon=6, input_seq_len=12)
    run_local(
        data,
        cfg,
        tmp_path / "pipeline",
        name="air2",
        models=["naive"],
        tracking_uri=served.tracking_uri,
        owner="alice",
    )
    with served.client() as c:
        r = _first_attempt(c, "air2")
        assert r.status_code == 503, r.text
        assert "forecasts several targets" in r.json()["detail"]
        assert c.get("/v2/models/air").status_code == 200
