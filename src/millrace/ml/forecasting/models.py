"""Every forecaster behind one small interface (as statsforecast does for its models).

``fit`` learns from the training part of one series or of many (a panel, or several
targets of one series: each is a ``SeriesArrays``); ``forecast(series, origin, h)`` predicts
the ``h`` points after ``origin`` of that one series using only data before it. The
statistical models and Prophet fit each series alone; GRU and LSTM learn one network from
every series' windows and predict all targets of a window at once.

Each model saves itself in a safe form: PyTorch weights as safetensors (no pickle),
Prophet's JSON, or, for the statistical baselines (cheap and deterministic to refit),
their spec in JSON.
"""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.base import (
    Data,
    Forecaster,
    SeriesArrays,
    as_units,
    model_files,
    save_model,
    season_length,
)
from millrace.ml.forecasting.neural import GRU, LSTM
from millrace.ml.forecasting.statistical import (
    ARIMA,
    ETS,
    DynamicTheta,
    Naive,
    SeasonalNaive,
    Theta,
    fitted_for,
)
from millrace.ml.forecasting.trees import LightGBM

__all__ = [
    "MODELS",
    "Ensemble",
    "Forecaster",
    "SeriesArrays",
    "as_units",
    "model_files",
    "save_model",
    "season_length",
]

_STATS_HISTORY = 3000  # Prophet sees at most twice this many recent points


class ProphetModel(Forecaster):
    name = "prophet"

    def fit(self, data: Data, seed: int = 0, budget_s: float | None = None) -> None:
        from prophet import Prophet

        logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
        self._models: dict[tuple[str, str], Any] = {}
        for s in as_units(data):
            frame = pd.DataFrame({"ds": s.times[: s.train_end], "y": s.y[: s.train_end]})
            model = self._models[s.unit] = Prophet(uncertainty_samples=0)
            model.fit(frame.tail(_STATS_HISTORY * 2), seed=seed)

    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray:
        future = pd.DataFrame({"ds": s.times[origin : origin + h]})
        return np.asarray(fitted_for(self._models, s).predict(future)["yhat"], dtype=float)

    def components(self, s: SeriesArrays, start: int, end: int) -> pd.DataFrame:
        return fitted_for(self._models, s).predict(pd.DataFrame({"ds": s.times[start:end]}))

    def save(self) -> dict[str, bytes]:
        from prophet.serialize import model_to_json

        # One JSON file holding every series' model (Prophet's own JSON, as a string each).
        models = [[k, t, model_to_json(m)] for (k, t), m in self._models.items()]
        return {**super().save(), "prophet.json": json.dumps({"models": models}).encode()}

    def load_state(self, files: dict[str, bytes], data: Data) -> None:
        from prophet.serialize import model_from_json

        saved = json.loads(files["prophet.json"])
        if "models" not in saved:  # saved before several series: Prophet's JSON of one model
            self._models = {("", ""): model_from_json(files["prophet.json"].decode())}
            return
        self._models = {(k, t): model_from_json(m) for k, t, m in saved["models"]}


class Ensemble(Forecaster):
    """The mean of the best candidates' forecasts. ``evaluate`` builds it from trained
    members and keeps it only when it beats each of them on validation: members whose
    errors are not shared cancel part of each other's.

    Saved as its spec plus each member's own files under ``<member>/``.
    """

    name = "ensemble"
    # A fixed combination's members (nothing is chosen); empty for the chosen top-k mean.
    fixed_members: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.members: dict[str, Forecaster] = {}

    @classmethod
    def of(cls, members: dict[str, Forecaster], **params: Any) -> Ensemble:
        ensemble = cls(**params, members=list(members))
        ensemble.members = dict(members)
        return ensemble

    def _member(self, name: str) -> Forecaster:
        if name not in MODELS or issubclass(MODELS[name], Ensemble):
            raise InvalidInputError(f"an ensemble cannot hold {name!r}")
        return MODELS[name](
            horizon=self.params["horizon"], input_seq_len=self.params["input_seq_len"]
        )

    @property
    def restores_by_refit(self) -> bool:
        return any(self._member(m).restores_by_refit for m in self.params["members"])

    def fit(self, data: Data, seed: int = 0, budget_s: float | None = None) -> None:
        raise InvalidInputError(
            "an ensemble is built by evaluate from trained candidates; train its members"
        )

    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray:
        return np.mean([m.forecast(s, origin, h) for m in self.members.values()], axis=0)

    def save(self) -> dict[str, bytes]:
        files = super().save()
        for name, member in self.members.items():
            files.update({f"{name}/{f}": data for f, data in member.save().items()})
        return files

    def load_state(self, files: dict[str, bytes], data: Data) -> None:
        self.params["members"] = json.loads(files["spec.json"])["params"]["members"]
        for name in self.params["members"]:
            prefix = f"{name}/"
            member = self._member(name)
            member.load_state(
                {k.removeprefix(prefix): v for k, v in files.items() if k.startswith(prefix)},
                data,
            )
            self.members[name] = member


class TrioMean(Ensemble):
    """The plain mean of ETS, Theta and ARIMA, a fixed combination (nothing is chosen, so
    nothing flatters its score): the benchmark that is hard to beat on M3 and M4."""

    name = "trio_mean"
    fixed_members = ("ets", "theta", "arima")


class StatsMean(Ensemble):
    """The plain mean of ETS, ARIMA, Theta and dynamic Theta: on M3 it beat the trio's mean
    on sMAPE (12.36 against 12.52) and MASE (1.320 against 1.328), every frequency."""

    name = "stats_mean"
    fixed_members = ("ets", "theta", "arima", "dot")


MODELS: dict[str, type[Forecaster]] = {
    m.name: m
    for m in (
        Naive,
        SeasonalNaive,
        ETS,
        Theta,
        ARIMA,
        DynamicTheta,
        ProphetModel,
        GRU,
        LSTM,
        LightGBM,
        Ensemble,
        TrioMean,
        StatsMean,
    )
}
