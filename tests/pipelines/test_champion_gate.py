"""The forecasting pipeline's promote step goes through the champion/challenger gate:
a worse second run is recorded as the challenger, in ``current.json`` and in MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from millrace.exceptions import InvalidInputError
from millrace.ml import registry
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines import steps
from millrace.pipelines.runners.local import run_local

CFG = PreprocessConfig(target="y", horizon=6, input_seq_len=12)


@pytest.mark.parametrize("with_mlflow", [False, True], ids=["current.json", "mlflow"])
def test_a_worse_second_run_is_the_challenger(air: Path, tmp_path: Path, with_mlflow: bool) -> None:
    work = tmp_path / "work"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}" if with_mlflow else None
    first = run_local(air, CFG, work, name="air", models=["seasonal_naive"], tracking_uri=uri)
    assert first.promotion is not None and first.promotion.challenger is None
    # The naive forecast ignores the airline's yearly season: a worse model on purpose.
    second = run_local(air, CFG, work, name="air", models=["naive"], tracking_uri=uri)
    promotion = second.promotion
    assert promotion is not None
    assert promotion.champion == "seasonal_naive"  # still live
    assert [h["champion"] for h in promotion.history] == ["seasonal_naive"]
    assert promotion.challenger is not None and promotion.challenger["champion"] == "naive"
    verdict = promotion.challenger["verdict"]
    assert verdict["promoted"] is False
    assert verdict["metric"] == "mase"
    assert verdict["challenger_score"] > verdict["champion_score"]
    assert verdict["challenger_score"] == promotion.latest["test"]["mase"]
    assert "not promoted, kept as challenger" in verdict["reason"]
    current = json.loads((work / "registry" / "air" / "current.json").read_text())
    assert current["champion"] == "seasonal_naive"
    assert current["challenger"]["champion"] == "naive"
    # The same series and config: in MLflow the runs' config hash shows the test window is
    # the same; current.json keeps no such record.
    assert verdict["basis"] == ("same held-out data" if uri else "own test scores")
    if uri is not None:
        name = registry.registered_name("forecast", "air")
        live = registry.champion(uri, name)
        assert live is not None and live.version == "1"
        aliases = registry.mlflow_client(uri).get_registered_model(name).aliases
        assert str(aliases[registry.CHALLENGER]) == "2"
        assert promotion.latest["mlflow_version"] == "2"
    # A rollback walks champions only: there is none before seasonal_naive.
    with pytest.raises(InvalidInputError, match="no earlier champion"):
        steps.rollback("air", work / "registry", uri)
