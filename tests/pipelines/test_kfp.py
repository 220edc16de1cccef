"""The compiled KFP pipeline runs Millrace's own step code and agrees with the local runner."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml
from kfp import local
from statsforecast.utils import AirPassengersDF

from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines.runners.kfp import build_pipeline
from millrace.pipelines.runners.local import run_local
from tests.conftest import millrace_cli
from tests.pipelines.conftest import write_lte_panel

MODELS = ["naive", "seasonal_naive", "ets", "theta", "arima"]


def test_compile_writes_a_pipeline_whose_components_call_millrace(tmp_path: Path) -> None:
    out = tmp_path / "pipeline.yaml"
    done = millrace_cli(
        {"MILLRACE_HOME": str(tmp_path)},
        "pipeline",
        "compile",
        "--output",
        str(out),
        "--models",
        "naive,gru",
        "--image",
        "registry.local/millrace:1.2",
    )
    assert done.returncode == 0, done.stderr
    spec = yaml.safe_load(out.read_text())
    tasks = spec["root"]["dag"]["tasks"]
    assert {"preprocess-op", "train-op", "train-op-2", "evaluate-op", "infer-op"} <= set(tasks)
    executors = spec["deploymentSpec"]["executors"].values()
    bodies = [e["container"]["command"][-1] for e in executors]
    assert all("millrace.pipelines.runners.kfp_ops" in body for body in bodies)
    assert not any(body.strip().endswith("pass") for body in bodies)  # seed 000's flaw
    assert {e["container"]["image"] for e in executors} == {"registry.local/millrace:1.2"}
    # The image has kfp already; an offline cluster could not pip-install it per task.
    assert not any("pip install" in " ".join(e["container"]["command"]) for e in executors)


# kfp.local warns that our components name a container image; the subprocess runner runs
# them in this environment instead, which is the point here.
@pytest.mark.filterwarnings("ignore:You may be attemping:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:.*have no effect in the current local runner:UserWarning")
def test_kfp_local_run_picks_the_same_champion_as_the_local_runner(tmp_path: Path) -> None:
    data = tmp_path / "air.csv"
    AirPassengersDF.rename(columns={"ds": "time"})[["time", "y"]].to_csv(data, index=False)
    cfg = PreprocessConfig(target="y", horizon=12, input_seq_len=12, folds=1)
    local_run = run_local(data, cfg, tmp_path / "work", name="air", models=MODELS)
    assert local_run.evaluation is not None

    local.init(
        runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp-root")
    )
    config = {k: v for k, v in asdict(cfg).items() if k != "exog"}
    task = build_pipeline(MODELS)(data_uri=str(data), config_json=json.dumps(config))
    # The mean of ETS, Theta and ARIMA wins here: the KFP infer task must find it inside
    # the evaluation artifact, where no candidate's model artifact holds it.
    assert local_run.evaluation.champion == "trio_mean"
    assert task.output == local_run.evaluation.champion
    evaluations = list((tmp_path / "kfp-root").rglob("evaluation/artifact.json"))
    assert len(evaluations) == 1
    kfp_eval = json.loads(evaluations[0].read_text())
    for name in MODELS:
        assert kfp_eval["candidates"][name]["test"] == local_run.evaluation.candidates[name]["test"]
    forecasts = list((tmp_path / "kfp-root").rglob("forecasts.jsonl"))
    assert len(forecasts) == 1
    assert forecasts[0].read_text().count("\n") == local_run.inferred


def test_submit_to_an_unreachable_endpoint_is_one_clear_line(tmp_path: Path) -> None:
    out = tmp_path / "p.yaml"
    millrace_cli(
        {"MILLRACE_HOME": str(tmp_path)},
        "pipeline",
        "compile",
        "--output",
        str(out),
        "--models",
        "naive",
    )
    done = millrace_cli(
        {"MILLRACE_HOME": str(tmp_path)},
        "pipeline",
        "submit",
        "--host",
        "http://127.0.0.1:9",
        "--data-uri",
        "x.csv",
        "--target",
        "y",
        "--package",
        str(out),
    )
    assert done.returncode == 2
    assert "cannot submit to KFP at http://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.filterwarnings("ignore:You may be attemping:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:.*have no effect in the current local runner:UserWarning")
def test_kfp_local_run_agrees_on_a_panel_of_two_targets_with_folds(tmp_path: Path) -> None:
    """Panels, several targets and backtest folds travel through KFP's artifacts intact."""
    data = write_lte_panel(tmp_path / "panel.csv", rows=300)
    cfg = PreprocessConfig(
        target="down",
        extra_targets=("up",),
        id_col="station",
        horizon=2,
        input_seq_len=8,
        folds=2,
    )
    models = ["naive", "theta"]
    local_run = run_local(data, cfg, tmp_path / "work", name="panel", models=models)
    assert local_run.evaluation is not None

    local.init(
        runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp-root")
    )
    task = build_pipeline(models)(data_uri=str(data), config_json=json.dumps(asdict(cfg)))
    assert task.output == local_run.evaluation.champion
    [evaluation] = (tmp_path / "kfp-root").rglob("evaluation/artifact.json")
    kfp_eval = json.loads(evaluation.read_text())
    assert kfp_eval["windows"]["folds"] == 2 and kfp_eval["windows"]["series"] == 4
    for name in models:
        ours = local_run.evaluation.candidates[name]
        assert kfp_eval["candidates"][name]["series"] == ours["series"]
        assert kfp_eval["candidates"][name]["score"] == ours["score"]
    [forecasts] = (tmp_path / "kfp-root").rglob("forecasts.jsonl")
    assert forecasts.read_text().count("\n") == local_run.inferred
