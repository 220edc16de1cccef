"""The champion/challenger gate through real journeys: a worse second upload does not
replace the champion, the journey says why, a user's promote still works, and the gate
can be turned off."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from millrace.agents import automl
from millrace.ml import registry
from millrace.ml.gate import LOWER_IS_BETTER
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import Journey
from tests.agents.world import World, diabetes_frame

BUDGET_S = 3


def _automl_outputs(world: World, dataset_id: str, version: int) -> dict[str, Any]:
    """Run the agents up to the XAI step (the gate has spoken by then) for one version."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        world.run_agents(only=("core", "bias", "automl"))
        with session_scope(world.wh.sessions) as session:
            journey = session.scalars(
                select(Journey).where(
                    Journey.owner_id == world.user_id,
                    Journey.dataset_id == dataset_id,
                    Journey.dataset_version == version,
                )
            ).one_or_none()
            if journey is not None and journey.state in {"xai", "failed", "needs_input"}:
                assert journey.state == "xai", journey.reason
                return dict(journey.steps["automl"]["outputs"])
    raise TimeoutError(f"{dataset_id} v{version} never reached the XAI step")


def _worse(frame: pd.DataFrame) -> pd.DataFrame:
    """The same patients with the labels shuffled: nothing left to learn."""
    rng = np.random.default_rng(7)
    return frame.assign(high_risk=rng.permutation(frame["high_risk"].to_numpy()))


def _upload(world: World, dataset_id: str, frame: pd.DataFrame) -> None:
    world.upload(frame, dataset_id, target_column="high_risk", time_budget_s=BUDGET_S)


def test_a_worse_second_upload_is_the_challenger_and_the_journey_says_why(world: World) -> None:
    dataset_id = "gate-worse"
    _upload(world, dataset_id, diabetes_frame())
    first = _automl_outputs(world, dataset_id, 1)
    assert first["promotion"]["promoted"] is True
    assert first["promotion"]["basis"] == "no champion"

    _upload(world, dataset_id, _worse(diabetes_frame()))
    second = _automl_outputs(world, dataset_id, 2)
    verdict = second["promotion"]
    assert verdict["promoted"] is False, verdict
    assert verdict["basis"] == "own test scores"  # the labels differ, so the test rows do
    assert verdict["reason"].startswith("v2 not promoted, kept as challenger")
    assert verdict["champion_version"] == "1"
    metric = verdict["metric"]
    assert verdict["challenger_score"] != verdict["champion_score"]
    assert f"test {metric} " in verdict["reason"]

    uri = world.wh.settings.resolved_mlflow_uri
    name = registry.find_registered(uri, world.user_id, automl.model_id_for(dataset_id))
    assert name is not None
    live = registry.champion(uri, name)
    assert live is not None and live.version == "1"
    client = registry.mlflow_client(uri)
    assert str(client.get_registered_model(name).aliases[registry.CHALLENGER]) == "2"
    rows = {r["version"]: r for r in registry.versions(uri, name)}
    assert "not promoted" in rows["2"]["tags"][registry.VERDICT_TAG]
    # The run's own scores are what was compared: nothing is recomputed or made up.
    assert rows["2"]["metrics"][f"test_{metric}"] == verdict["challenger_score"]
    assert rows["1"]["metrics"][f"test_{metric}"] == verdict["champion_score"]

    # A user may still make the challenger live; it stops being the challenger.
    promoted = registry.promote(uri, name, "2", actor=world.user_id)
    assert promoted.version == "2"
    assert registry.CHALLENGER not in (client.get_registered_model(name).aliases or {})


def test_the_same_data_again_is_judged_on_the_same_held_out_rows(world: World) -> None:
    dataset_id = "gate-same"
    _upload(world, dataset_id, diabetes_frame())
    _automl_outputs(world, dataset_id, 1)
    _upload(world, dataset_id, diabetes_frame())
    verdict = _automl_outputs(world, dataset_id, 2)["promotion"]
    assert verdict["basis"] == "same held-out data", verdict
    assert "on the same held-out rows" in verdict["reason"]
    better = verdict["challenger_score"] != verdict["champion_score"] and (
        (verdict["challenger_score"] < verdict["champion_score"])
        == (verdict["metric"] in LOWER_IS_BETTER)
    )
    assert verdict["promoted"] is better  # strictly better, or it waits as challenger


def test_with_the_gate_off_every_new_version_is_promoted(world: World) -> None:
    off = World(
        replace(world.wh, settings=world.wh.settings.model_copy(update={"champion_gate": False})),
        world.user_id,
    )
    dataset_id = "gate-off"
    _upload(off, dataset_id, diabetes_frame())
    _automl_outputs(off, dataset_id, 1)
    _upload(off, dataset_id, _worse(diabetes_frame()))
    verdict = _automl_outputs(off, dataset_id, 2)["promotion"]
    assert verdict["promoted"] is True
    assert verdict["basis"] == "gate off"
    assert "MILLRACE_CHAMPION_GATE=false" in verdict["reason"]
    uri = off.wh.settings.resolved_mlflow_uri
    name = registry.find_registered(uri, off.user_id, automl.model_id_for(dataset_id))
    assert name is not None
    live = registry.champion(uri, name)
    assert live is not None and live.version == "2"
