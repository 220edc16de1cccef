"""The ensemble candidate: the mean of the best candidates, its members chosen on CV
windows other than the one it is scored on, kept only when that honest score wins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines import steps
from millrace.pipelines.runners.local import run_local


def test_a_built_combination_wins_and_is_served_like_any_champion(
    air: Path, tmp_path: Path
) -> None:
    """The mean of ETS, Theta and ARIMA (``trio_mean``, built by evaluate from trained
    candidates) wins a year ahead on the validation window; it is saved with its members,
    registered in MLflow and served like a trained champion."""
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = PreprocessConfig(target="y", horizon=12, input_seq_len=12, folds=1)
    models = ["naive", "seasonal_naive", "ets", "theta", "arima"]
    run = run_local(air, cfg, tmp_path / "w", name="air", models=models, tracking_uri=tracking)
    evaluation = run.evaluation
    assert evaluation is not None and evaluation.ensemble is None  # one CV window: no top-k
    assert evaluation.champion == "trio_mean"
    ensemble = evaluation.candidates["trio_mean"]
    assert ensemble["members"] == ["ets", "theta", "arima"]
    assert ensemble["score"] == 1.0 and all(evaluation.candidates[m]["score"] > 1 for m in models)
    built = evaluation.champion_of(run.trained)
    assert built in evaluation.combinations

    # Saved and reloaded, it forecasts the mean of its members' forecasts.
    [s] = steps.series(run.prepared)
    reloaded = steps.load_model(run.prepared, built, [s])
    members = [steps.load_model(run.prepared, t, [s]) for t in run.trained]
    by_name = {t.name: m for t, m in zip(run.trained, members, strict=True)}
    origin = run.prepared.val_end
    expected = np.mean([by_name[m].forecast(s, origin, 12) for m in ensemble["members"]], axis=0)
    np.testing.assert_allclose(reloaded.forecast(s, origin, 12), expected)

    # Promoted and inferred like any champion: registered in MLflow with its members' files.
    assert run.promotion is not None and run.promotion.champion == "trio_mean"
    client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    version = client.get_model_version_by_alias("millrace.forecast.air", "champion")
    files = {f.path for f in client.list_artifacts(version.run_id, "model")}
    assert {f"model/{m}" for m in ensemble["members"]} | {"model/spec.json"} <= files
    log = (tmp_path / "w" / "inference" / "air.jsonl").read_text()
    assert log.count('"model": "trio_mean"') == run.inferred > 0

    # The inference server loads it from MLflow: restored from the training series where
    # it is at hand, else refitting its baselines per request; both forecast alike.
    import pandas as pd

    from millrace.ml.registry import champion
    from millrace.serving.loading import load_champion

    live = champion(tracking, "millrace.forecast.air")
    assert live is not None
    local = load_champion(tracking, live)
    history = pd.read_csv(air)
    near = local.forecast(history, 6, "time")  # type: ignore[union-attr]
    for prepared in (tmp_path / "w" / "prepared").iterdir():
        (prepared / "series.npz").rename(prepared / "moved.npz")
    remote = load_champion(tracking, live)
    assert remote.refit_per_request and not local.refit_per_request  # type: ignore[union-attr]
    far = remote.forecast(history, 6, "time")  # type: ignore[union-attr]
    assert near.times == far.times
    assert np.isfinite(far.values).all() and len(far.values) == 6


def test_a_single_candidate_keeps_the_crown_when_the_mean_is_worse(
    air: Path, tmp_path: Path
) -> None:
    cfg = PreprocessConfig(target="y", horizon=3, input_seq_len=12)
    run = run_local(air, cfg, tmp_path / "w", name="air", models=["naive", "theta", "arima"])
    assert run.evaluation is not None
    assert run.evaluation.champion == "arima"
    assert run.evaluation.candidates["ensemble"]["score"] > 1.0  # scored, shown, not chosen
    assert run.promotion is not None and run.promotion.champion == "arima"
    # Evaluated again with other candidates, the saved ensemble holds only its new members.
    assert set(run.evaluation.candidates["ensemble"]["members"]) == {"theta", "arima"}
    again = steps.evaluate(run.prepared, run.trained[:2], tmp_path / "w")
    assert again.ensemble is not None
    saved = {p.name for p in Path(again.ensemble.uri).iterdir() if p.is_dir()}
    assert saved == set(again.candidates["ensemble"]["members"]) == {"naive", "theta"}


def test_an_ensemble_is_built_not_trained(air: Path, tmp_path: Path) -> None:
    prepared = steps.preprocess(air, PreprocessConfig(target="y"), tmp_path / "w")
    with pytest.raises(InvalidInputError, match="built by evaluate"):
        steps.train(prepared, "ensemble", tmp_path / "w")
    one = [steps.train(prepared, "naive", tmp_path / "w")]
    evaluation = steps.evaluate(prepared, one, tmp_path / "w")
    assert evaluation.ensemble is None and set(evaluation.candidates) == {"naive"}
