"""A served world: users with tokens, real champions in MLflow, and ``millrace serve``'s app
on a real uvicorn server (in a thread, on a free loopback port).

Champions are made the way the product makes them: LightGBM models logged with
``millrace.ml.tracking.log_tabular_model`` (skops + encoder.json, promoted through the
registry), and a GRU forecaster trained, evaluated and promoted by the local pipeline.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import uvicorn
from fastapi import FastAPI
from sklearn.datasets import load_diabetes
from statsforecast.utils import AirPassengersDF

from millrace.ml.forecasting.data import PreprocessConfig
from millrace.ml.registry import registered_name
from millrace.ml.tabular.encoding import FeatureEncoder
from millrace.ml.tabular.persist import trusted_types
from millrace.ml.tracking import log_tabular_model
from millrace.pipelines import steps
from millrace.pipelines.artifacts import Prepared
from millrace.pipelines.runners.local import PipelineRun, run_local
from millrace.serving import ServeOptions, create_serving_app
from millrace.settings import Settings
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.users import create_user
from tests.support import free_port

with warnings.catch_warnings():
    # mlflow.pyfunc warns about its own type hints on import; log_model imports it.
    warnings.simplefilter("ignore", UserWarning)
    import mlflow.pyfunc  # noqa: F401


SCRAPE_TOKEN = "scrape-token-for-tests"


def air_with_exog() -> pd.DataFrame:
    """AirPassengers plus a deterministic exogenous column, so exog and lags both matter."""
    frame = AirPassengersDF.rename(columns={"ds": "time"})[["time", "y"]].copy()
    frame["promo"] = np.sin(np.arange(len(frame)) / 3.0) * 10
    frame.loc[5, "y"] = np.nan  # a gap preprocess interpolates
    return frame


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Prepared, Path]:
    work = tmp_path_factory.mktemp("online")
    data = work / "air.csv"
    air_with_exog().to_csv(data, index=False)
    cfg = PreprocessConfig(  # monthly: the GRU is asked for though it sits out by default
        target="y",
        exog=("promo",),
        horizon=6,
        input_seq_len=12,
        lags=2,
        test_share=0.1,
        only_suited=False,
    )
    return data, steps.preprocess(data, cfg, work), work


def patients() -> pd.DataFrame:
    """scikit-learn's diabetes study with ``sex`` as text, so a column is categorical."""
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["sex"] = frame["sex"].map({1.0: "F", 2.0: "M"})
    frame["high_risk"] = (frame.pop("target") > 140).astype(int)
    return frame


@dataclass
class Tabular:
    model_id: str
    estimator: Any
    encoder: FeatureEncoder
    version: str

    def expected(self, frame: pd.DataFrame) -> list[Any]:
        """What the model itself predicts for raw rows."""
        codes = self.estimator.predict(self.encoder.transform(frame))
        return self.encoder.decode_target(np.asarray(codes))


def log_lightgbm(
    settings: Settings, owner: str, model_id: str, task: str, n_estimators: int
) -> Tabular:
    frame = patients()
    target = "high_risk"
    if task == "regression":  # blood pressure from the same columns as the classifier
        frame, target = frame.drop(columns=["high_risk"]), "bp"
    encoder = FeatureEncoder.fit(frame, target, task)
    x, y = encoder.transform(frame), encoder.encode_target(frame[target])
    cls = lgb.LGBMClassifier if task == "classification" else lgb.LGBMRegressor
    estimator = cls(n_estimators=n_estimators, num_leaves=15, verbose=-1, random_state=0)
    estimator.fit(x, y)
    tracked = log_tabular_model(
        settings,
        owner_id=owner,
        model_id=model_id,
        key=f"test:{uuid.uuid4().hex}",  # each call is a new version
        estimator=estimator,
        trusted_types=trusted_types(sio.dumps(estimator)),
        params={"n_estimators": n_estimators},
        metrics={},
        artifacts={"encoder.json": encoder.to_json()},
        tags={},
    )
    return Tabular(model_id, estimator, encoder, tracked.registered_version)


@dataclass
class ServedWorld:
    settings: Settings
    wh: Warehouse
    tokens: dict[str, str]
    credit: Tabular
    stream: list[Tabular]
    forecast: PipelineRun
    forecast_data: Path
    url: str = ""
    app: FastAPI | None = None
    log_dir: Path = field(default_factory=Path)

    @property
    def tracking_uri(self) -> str:
        return self.settings.resolved_mlflow_uri

    def client(self, user: str | None = "alice") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedWorld]:
    home = tmp_path_factory.mktemp("serve-home")
    settings = Settings(home=home, metrics_token=SCRAPE_TOKEN)
    wh = Warehouse.open(settings)
    tokens = {}
    with session_scope(wh.sessions) as session:
        for user, admin in (("alice", False), ("bob", False), ("root", True)):
            tokens[user] = create_user(session, user_id=user, is_admin=admin)[1]
    tokens["prometheus"] = SCRAPE_TOKEN  # not a user: the scrape token /metrics accepts
    credit = log_lightgbm(settings, "alice", "credit", "classification", 40)
    stream = [log_lightgbm(settings, "alice", "stream", "regression", n) for n in (5, 60)]
    from millrace.ml.registry import promote

    promote(settings.resolved_mlflow_uri, registered_name("alice", "stream"), "1")
    log_lightgbm(settings, "bob", "credit", "classification", 10)
    data = home / "air.csv"
    air_with_exog().to_csv(data, index=False)
    forecast = run_local(
        data,
        PreprocessConfig(
            target="y", exog=("promo",), horizon=6, input_seq_len=12, lags=2, only_suited=False
        ),
        home / "pipeline",
        name="air",
        models=["gru"],
        tracking_uri=settings.resolved_mlflow_uri,
        owner="alice",
    )
    world = ServedWorld(settings, wh, tokens, credit, stream, forecast, data)
    world.log_dir = home / "inference-log"
    app = create_serving_app(
        settings,
        warehouse=wh,
        options=ServeOptions(
            poll_interval_s=0.2, log_dir=world.log_dir, log_flush_s=0.1, max_body_bytes=8 << 20
        ),
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="serve", daemon=True)
    thread.start()
    world.url, world.app = f"http://127.0.0.1:{port}", app
    try:
        wait_ready(world.url)
        yield world
    finally:
        server.should_exit = True
        thread.join(30)
        wh.close()


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 120) -> None:
    """Until ``/v2/health/ready`` says the first registry pass is done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} was not ready within {timeout}s")
