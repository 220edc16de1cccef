"""Prediction intervals served beside the forecasts, and none for models saved without.

Two versions of one naive forecaster are registered by their own user: one saved with an
``intervals.json`` calibrated on the naive forecast's scaled errors over AirPassengers, one
without (as every model saved before intervals existed).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from millrace.ml.forecasting import intervals as intervals_file
from millrace.ml.forecasting.intervals import Intervals, scale_of
from millrace.ml.forecasting.models import MODELS, save_model
from millrace.ml.forecasting.online import ForecastSpec
from millrace.ml.registry import Champion
from millrace.ml.tracking import log_forecaster, register_champion
from millrace.pipelines.artifacts import Prepared
from millrace.serving.loading import _intervals
from millrace.serving.models import ForecastModel
from millrace.warehouse.db import session_scope
from millrace.warehouse.users import create_user
from tests.serving.conftest import ServedWorld

H = 6


@dataclass
class IntervalWorld:
    served: ServedWorld
    token: str
    history: pd.DataFrame  # the request's rows, as read from the CSV
    intervals: Intervals
    season: int

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.served.url, headers=headers, timeout=60)

    def expected_scale(self, history: pd.DataFrame) -> float:
        """The MASE scale of the history's target, gaps interpolated as preprocess does."""
        y = history["y"].interpolate(limit_direction="both").to_numpy(float)
        return scale_of(y, self.season)


def _naive_scaled_errors(y: np.ndarray, season: int) -> np.ndarray:
    """|actual - last value| / MASE scale of the rows before, over every origin: what the
    pipeline's evaluation would calibrate a naive champion on."""
    rows = [
        np.abs(y[o : o + H] - y[o - 1]) / scale_of(y[:o], season)
        for o in range(2 * season + 1, len(y) - H + 1)
    ]
    return np.stack(rows)


def _register(world: ServedWorld, prep: Prepared, owner: str, model_id: str, folder: Path) -> None:
    run_id = log_forecaster(
        world.tracking_uri,
        experiment="millrace/forecasting/intervals-test",
        name="naive",
        params={"horizon": H},
        epochs=[],
        files={
            "model": folder,
            "preprocess": Path(prep.uri) / "scaler.json",
            "config": Path(prep.uri) / "prepared.json",
        },
    )
    register_champion(world.tracking_uri, owner=owner, model_id=model_id, run_id=run_id, metrics={})


def _wait_served(client: httpx.Client, model_id: str) -> None:
    deadline = time.monotonic() + 60
    while (r := client.get(f"/v2/models/{model_id}")).status_code != 200:
        # Not yet seen, or being loaded; anything else is a failure.
        assert r.status_code == 404 or r.json()["title"] == "Not ready", r.text
        assert time.monotonic() < deadline, f"{model_id} was never served"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def world(served: ServedWorld, prepared: tuple[Path, Prepared, Path]) -> IntervalWorld:
    data, prep, work = prepared
    owner = f"carol{uuid.uuid4().hex[:8]}"  # a user of her own: the others' model lists stay
    with session_scope(served.wh.sessions) as session:
        token = create_user(session, user_id=owner)[1]
    history = pd.read_csv(data)
    y = history["y"].interpolate(limit_direction="both").to_numpy(float)
    intervals = Intervals.from_residuals(_naive_scaled_errors(y, prep.season), prep.season)

    plain = work / "naive-plain"
    save_model(MODELS["naive"](horizon=H, input_seq_len=12), plain)
    with_intervals = work / "naive-intervals"
    shutil.copytree(plain, with_intervals, dirs_exist_ok=True)
    (with_intervals / intervals_file.FILE).write_bytes(intervals.to_json())
    _register(served, prep, owner, "air-intervals", with_intervals)
    _register(served, prep, owner, "air-plain", plain)
    out = IntervalWorld(served, token, history, intervals, prep.season)
    with out.client() as c:
        _wait_served(c, "air-intervals")
        _wait_served(c, "air-plain")
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records"))


def _v2_inputs(history: pd.DataFrame) -> list[dict[str, Any]]:
    n = len(history)
    return [
        {"name": "time", "shape": [n], "datatype": "BYTES", "data": history["time"].tolist()},
        {
            "name": "y",
            "shape": [n],
            "datatype": "FP64",
            "data": [None if np.isnan(v) else v for v in history["y"]],
        },
        {"name": "promo", "shape": [n], "datatype": "FP64", "data": history["promo"].tolist()},
    ]


def test_forecasts_carry_intervals_scaled_by_the_history_sent(world: IntervalWorld) -> None:
    hw = world.intervals.halfwidths
    assert set(hw) == {80, 95} and all(len(v) == H for v in hw.values())
    with world.client() as c:
        for history in (world.history, world.history.tail(40)):
            r = c.post(
                "/api/v1/models/air-intervals/predict",
                json={"data": _records(history), "inference_length": H + 3},
            )
            assert r.status_code == 200, r.text
            body = r.json()
            values = np.array([p["value"] for p in body["predictions"]])
            assert set(body["intervals"]) == {"80", "95"}
            scale = world.expected_scale(history)
            widths = {}
            for level, bounds in body["intervals"].items():
                lower, upper = np.array(bounds["lower"]), np.array(bounds["upper"])
                assert len(lower) == len(upper) == H + 3
                assert np.all(lower < values) and np.all(values < upper)
                # Beyond the calibrated horizon the last step's width carries on.
                steps = np.array([*hw[int(level)], *[hw[int(level)][-1]] * 3])
                np.testing.assert_allclose(upper - values, steps * scale, rtol=1e-9)
                np.testing.assert_allclose(values - lower, steps * scale, rtol=1e-9)
                widths[level] = upper - lower
            assert np.all(widths["95"] > widths["80"])
        # Each history is its own scale: the same model, other widths.
        assert world.expected_scale(world.history.tail(40)) != world.expected_scale(world.history)

        seed = c.post(
            "/predict",
            json={"data": _records(world.history), "model": "air-intervals", "inference_length": H},
        )
        assert seed.status_code == 200, seed.text
        full = c.post(
            "/api/v1/models/air-intervals/predict", json={"data": _records(world.history)}
        )
        assert seed.json()["predictions"] == full.json()["predictions"]
        assert seed.json()["intervals"] == full.json()["intervals"]


def test_open_inference_protocol_returns_the_bounds_as_extra_outputs(
    world: IntervalWorld,
) -> None:
    with world.client() as c:
        meta = c.get("/v2/models/air-intervals").json()
        assert [o["name"] for o in meta["outputs"]] == [
            "ts",
            "value",
            "lower_80",
            "upper_80",
            "lower_95",
            "upper_95",
        ]
        simple = c.post(
            "/api/v1/models/air-intervals/predict", json={"data": _records(world.history)}
        ).json()
        r = c.post(
            "/v2/models/air-intervals/infer",
            json={"parameters": {"inference_length": H}, "inputs": _v2_inputs(world.history)},
        )
        assert r.status_code == 200, r.text
        outputs = {o["name"]: o for o in r.json()["outputs"]}
    assert list(outputs) == ["ts", "value", "lower_80", "upper_80", "lower_95", "upper_95"]
    assert outputs["ts"]["data"] == [p["ts"] for p in simple["predictions"]]
    assert outputs["value"]["data"] == [p["value"] for p in simple["predictions"]]
    for level in ("80", "95"):
        for side in ("lower", "upper"):
            out = outputs[f"{side}_{level}"]
            assert (out["datatype"], out["shape"]) == ("FP64", [H])
            assert out["parameters"] == {"level": int(level)}
            assert out["data"] == simple["intervals"][level][side]


def test_a_model_saved_without_intervals_answers_as_before(world: IntervalWorld) -> None:
    with world.client() as c:
        plain = c.post("/api/v1/models/air-plain/predict", json={"data": _records(world.history)})
        assert plain.status_code == 200, plain.text
        assert set(plain.json()) == {"model", "version", "predictions"}
        assert set(plain.json()["predictions"][0]) == {"ts", "value"}
        with_intervals = c.post(
            "/api/v1/models/air-intervals/predict", json={"data": _records(world.history)}
        )
        assert plain.json()["predictions"] == with_intervals.json()["predictions"]
        r = c.post("/v2/models/air-plain/infer", json={"inputs": _v2_inputs(world.history)})
        assert [o["name"] for o in r.json()["outputs"]] == ["ts", "value"]
        meta = c.get("/v2/models/air-plain").json()
        assert [o["name"] for o in meta["outputs"]] == ["ts", "value"]


def test_refit_per_request_models_get_intervals_too(
    world: IntervalWorld, prepared: tuple[Path, Prepared, Path]
) -> None:
    """A model restored by refitting on the history sent (its training series not at hand)
    takes its intervals from the same file."""
    _, prep, _ = prepared
    spec = ForecastSpec.from_run(
        "naive",
        json.loads((Path(prep.uri) / "prepared.json").read_text()),
        json.loads((Path(prep.uri) / "scaler.json").read_text()),
    )
    champion = Champion("millrace.a.m", "a", "m", "1", "forecasting", "run", "source")
    model = ForecastModel(
        champion=champion,
        load_seconds=0.0,
        spec=spec,
        params={"horizon": H, "input_seq_len": 12},
        refit_per_request=True,
        intervals=world.intervals,
    )
    got = model.forecast(world.history, None, None)
    assert sorted(got.intervals) == [80, 95]
    scale = world.expected_scale(world.history)
    lower, upper = got.intervals[80]
    half = np.array(world.intervals.halfwidths[80]) * scale
    np.testing.assert_allclose(np.array(upper) - got.values, half)
    np.testing.assert_allclose(got.values - np.array(lower), half)
    assert model.levels == [80, 95]


def test_an_unreadable_intervals_file_is_served_without_intervals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    champion = Champion("millrace.a.m", "a", "m", "3", "forecasting", "run", "source")
    assert _intervals(champion, {"spec.json": b"{}"}) is None
    with caplog.at_level(logging.WARNING, logger="millrace.serving"):
        assert _intervals(champion, {intervals_file.FILE: b"{not json"}) is None
        assert _intervals(champion, {intervals_file.FILE: b"[]"}) is None
    assert "served without intervals" in caplog.text
    empty = Intervals.from_residuals(np.empty((0, H)), 12)
    read = _intervals(champion, {intervals_file.FILE: empty.to_json()})
    assert read == empty
