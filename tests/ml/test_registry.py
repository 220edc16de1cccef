"""The champion alias and its history: promote, roll back twice, and who owns what."""

from __future__ import annotations

from pathlib import Path

import pytest

from millrace.exceptions import InvalidInputError, NotFoundError
from millrace.ml import registry


def _versions(uri: str, owner: str, model_id: str, n: int) -> str:
    # The client alone, not mlflow.start_run(): the fluent API keeps the active experiment
    # of whatever store an earlier test in this process used.
    name = registry.register_model(uri, owner=owner, model_id=model_id, kind="tabular")
    client = registry.mlflow_client(uri)
    experiment = client.get_experiment_by_name(name) or client.get_experiment(
        client.create_experiment(name)
    )
    for i in range(n):
        run = client.create_run(experiment.experiment_id)
        client.log_metric(run.info.run_id, "score", float(i))
        client.set_terminated(run.info.run_id)
        version = client.create_model_version(
            name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
        )
        registry.promote(uri, name, version.version, reason="automl")
    return name


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_rollback_walks_back_through_history_not_back_and_forth(uri: str) -> None:
    name = _versions(uri, "a.b", "credit", 3)
    live = registry.champion(uri, name)
    assert live is not None
    assert (live.version, live.owner, live.model_id) == ("3", "a.b", "credit")
    assert registry.rollback(uri, name, actor="a.b").version == "2"
    assert registry.rollback(uri, name).version == "1"
    with pytest.raises(InvalidInputError, match="no earlier champion"):
        registry.rollback(uri, name)
    assert registry.promote(uri, name, "3").version == "3"
    assert registry.rollback(uri, name).version == "1"
    history = registry.champion(uri, name).history  # type: ignore[union-attr]
    assert [h["reason"] for h in history][-3:] == ["rollback", "promoted", "rollback"]


def test_champions_are_listed_per_owner_with_metrics(uri: str) -> None:
    _versions(uri, "alice", "m1", 2)
    _versions(uri, "bob", "m2", 1)
    assert [c.model_id for c in registry.list_champions(uri, owner="alice")] == ["m1"]
    assert {c.owner for c in registry.list_champions(uri)} == {"alice", "bob"}
    rows = registry.versions(uri, registry.registered_name("alice", "m1"))
    assert [(r["version"], r["champion"], r["metrics"]["score"]) for r in rows] == [
        ("2", True, 1.0),
        ("1", False, 0.0),
    ]


def test_unknown_models_and_versions_are_not_found(uri: str) -> None:
    name = _versions(uri, "alice", "m1", 1)
    with pytest.raises(NotFoundError):
        registry.promote(uri, name, "9")
    with pytest.raises(NotFoundError):
        registry.versions(uri, "millrace.alice.nope")
    assert registry.champion(uri, "millrace.alice.nope") is None


def test_colliding_names_get_separate_models_found_by_tags(uri: str) -> None:
    first = registry.register_model(uri, owner="alice", model_id="x.m", kind="tabular")
    second = registry.register_model(uri, owner="alice.x", model_id="m", kind="tabular")
    assert first == "millrace.alice.x.m"
    assert second != first
    assert registry.find_registered(uri, "alice", "x.m") == first
    assert registry.find_registered(uri, "alice.x", "m") == second
    assert registry.register_model(uri, owner="alice.x", model_id="m", kind="tabular") == second
    assert registry.find_registered(uri, "bob", "m") is None
    assert registry.find_registered(uri, "alice", "it's") is None  # not an id: no filter built
