"""Seed 000's flags pick the runner; every runner gives the same champion, owned by the
journey's user in the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from millrace.exceptions import ConfigError
from millrace.ml import registry
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines.runners import run_pipeline, runner_kind
from millrace.pipelines.runners.local import run_local
from millrace.settings import Settings

MODELS = ["naive", "seasonal_naive", "ets"]
CFG = PreprocessConfig(target="y", horizon=6, input_seq_len=12)


def _settings(monkeypatch: pytest.MonkeyPatch, home: Path, **env: str) -> Settings:
    for key in ("USE_KFP", "USE_KAFKA", "MILLRACE_KFP_HOST", "MILLRACE_EVENT_BUS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MILLRACE_HOME", str(home))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def test_flags_pick_the_runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert runner_kind(_settings(monkeypatch, tmp_path)) == "local"  # USE_KFP=1, no cluster
    assert runner_kind(_settings(monkeypatch, tmp_path, MILLRACE_KFP_HOST="local")) == ("kfp-local")
    kafka = _settings(
        monkeypatch, tmp_path, USE_KFP="0", USE_KAFKA="1", MILLRACE_EVENT_BUS="kafka://k:9092"
    )
    assert runner_kind(kafka) == "kafka"
    with pytest.raises(ConfigError, match="MILLRACE_EVENT_BUS=kafka"):
        runner_kind(_settings(monkeypatch, tmp_path, USE_KFP="0", USE_KAFKA="1"))
    with pytest.raises(ConfigError, match="remote KFP"):
        runner_kind(_settings(monkeypatch, tmp_path, MILLRACE_KFP_HOST="http://kfp:8080"))


def _same_as_local(tmp_path: Path, air: Path, settings: Settings, expect: str) -> None:
    local = run_local(air, CFG, tmp_path / "local-work", name="air", models=MODELS)
    assert local.evaluation is not None
    kind, run = run_pipeline(settings, air, CFG, name="air", owner="ann", models=MODELS)
    assert kind == expect
    assert run.evaluation is not None
    assert run.evaluation.champion == local.evaluation.champion
    ours = run.evaluation.candidates[run.evaluation.champion]["test"]
    theirs = local.evaluation.candidates[local.evaluation.champion]["test"]
    assert ours == pytest.approx(theirs)
    live = registry.champion(settings.resolved_mlflow_uri, registry.registered_name("ann", "air"))
    assert live is not None
    assert (live.owner, live.kind) == ("ann", "forecasting")


@pytest.mark.filterwarnings("ignore:You may be attemping:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:.*have no effect in the current local runner:UserWarning")
def test_kfp_local_runner_gives_the_local_champion(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, air: Path
) -> None:
    settings = _settings(monkeypatch, tmp_path / "home", MILLRACE_KFP_HOST="local")
    _same_as_local(tmp_path, air, settings, "kfp-local")


def test_kafka_chain_gives_the_local_champion(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, air: Path, kafka_bootstrap: str
) -> None:
    settings = _settings(
        monkeypatch,
        tmp_path / "home",
        USE_KFP="0",
        USE_KAFKA="1",
        MILLRACE_EVENT_BUS=f"kafka://{kafka_bootstrap}",
    )
    _same_as_local(tmp_path, air, settings, "kafka")
