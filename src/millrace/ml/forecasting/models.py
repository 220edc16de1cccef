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

import hashlib
import json
import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
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

_STATS_HISTORY = 3000  # statistical models see at most this many recent points

# ARIMA's optimiser warns on every hard fit, from whichever thread trains it (where
# catch_warnings cannot scope it); the evaluation judges the fit instead.
warnings.filterwarnings("ignore", message="possible convergence problem", category=UserWarning)


class Naive(Forecaster):
    name = "naive"

    def fit(self, data: Data, seed: int = 0, budget_s: float | None = None) -> None:
        pass

    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray:
        return np.repeat(s.y[origin - 1], h)


class SeasonalNaive(Forecaster):
    name = "seasonal_naive"

    def fit(self, data: Data, seed: int = 0, budget_s: float | None = None) -> None:
        pass

    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray:
        m = s.season if s.season > 1 and origin >= s.season else 1
        last = s.y[origin - m : origin]
        return np.resize(last, h)


class _StatsForecast(Forecaster):
    """statsforecast models: fitted once per series on its training rows, then ``forward``
    over the history before each origin (the fitted parameters, the latest state)."""

    max_season: ClassVar[int] = 48

    def _model(self, season: int) -> Any:
        raise NotImplementedError

    def fit(self, data: Data, seed: int = 0, budget_s: float | None = None) -> None:
        units = as_units(data)
        season = units[0].season if units[0].season <= self.max_season else 1
        self.params.setdefault("season_length", season)
        histories = [s.y[: s.train_end][-_STATS_HISTORY:] for s in units]
        key = (self.name, json.dumps(self.params, sort_keys=True), _digest(histories))
        fitted = _FITS.get(key)
        if fitted is None:
            fitted = _fit_many(lambda: self._model(self.params["season_length"]), histories)
            _FITS.put(key, fitted)
        self._fitted = {s.unit: f for s, f in zip(units, fitted, strict=True)}
        self._histories = {s.unit: y for s, y in zip(units, histories, strict=True)}

    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray:
        fitted = _fitted_for(self._fitted, s)
        history = s.y[:origin][-_STATS_HISTORY:]
        if np.array_equal(history, self._histories.get(s.unit)):
            # The very rows it was fitted on: its state already ends there.
            return np.asarray(fitted.predict(h=h)["mean"], dtype=float)
        return np.asarray(fitted.forward(y=history, h=h)["mean"], dtype=float)


# Series from which a fit is spread over every core with statsforecast's own process
# pool; below it the pool's start-up costs more than it saves.
_PARALLEL_FROM = 64


def _fit_many(make: Callable[[], Any], histories: list[np.ndarray]) -> list[Any]:
    """One fitted model per history. A panel goes through ``StatsForecast`` (vectorised
    over series, on every core, a series whose fit fails falls back to the naive model)."""
    if len(histories) < _PARALLEL_FROM or (os.cpu_count() or 1) == 1:
        return [make().fit(y=y) for y in histories]
    from statsforecast import StatsForecast
    from statsforecast.models import Naive as SFNaive

    width = len(str(len(histories)))
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(
                [f"{i:0{width}d}" for i in range(len(histories))], [len(y) for y in histories]
            ),
            "ds": np.concatenate([np.arange(len(y)) for y in histories]),
            "y": np.concatenate(histories),
        }
    )
    sf = StatsForecast(models=[make()], freq=1, n_jobs=-1, fallback_model=SFNaive())
    sf.fit(frame)
    return list(sf.fitted_[:, 0])  # in the order of the sorted, zero-padded ids


def _digest(histories: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for y in histories:
        h.update(np.ascontiguousarray(y, dtype=float).tobytes())
        h.update(b"|")
    return h.hexdigest()


class _FitCache:
    """The last few statistical fits in this process, by model, params and data.

    A fit is deterministic, and the statistical models restore by refitting: without this
    the local runner would fit each one again to evaluate it, and again to infer. A few
    entries bound the memory (a panel's fitted models are small)."""

    def __init__(self, size: int = 16) -> None:
        self._items: OrderedDict[tuple[str, str, str], list[Any]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> list[Any] | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: tuple[str, str, str], value: list[Any]) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_FITS = _FitCache()


def _fitted_for(fitted: dict[tuple[str, str], Any], s: SeriesArrays) -> Any:
    if s.unit in fitted:
        return fitted[s.unit]
    if len(fitted) == 1:  # one series served under another name (a request's history)
        return next(iter(fitted.values()))
    raise InvalidInputError(f"no model was fitted for series {s.key!r}, target {s.target!r}")


class ETS(_StatsForecast):
    name = "ets"
    max_season = 24

    def _model(self, season: int) -> Any:
        from statsforecast.models import AutoETS

        return AutoETS(season_length=season)


class Theta(_StatsForecast):
    name = "theta"

    def _model(self, season: int) -> Any:
        from statsforecast.models import AutoTheta

        return AutoTheta(season_length=season)


class DynamicTheta(_StatsForecast):
    """Dynamic optimised Theta (Fiorucci et al., 2016): Theta with its drift and level
    re-estimated as the series goes. Alone it beat AutoETS, AutoARIMA and AutoTheta on M3
    (sMAPE 12.53 against 12.84, 13.63, 13.30), and it adds to any combination of them."""

    name = "dot"

    def _model(self, season: int) -> Any:
        from statsforecast.models import DynamicOptimizedTheta

        return DynamicOptimizedTheta(season_length=season)


class ARIMA(_StatsForecast):
    name = "arima"
    max_season = 24  # long seasons make AutoARIMA search for minutes

    def _model(self, season: int) -> Any:
        from statsforecast.models import AutoARIMA

        return AutoARIMA(
            season_length=season,
            max_p=3,
            max_q=3,
            max_P=1,
            max_Q=1,
            stepwise=True,
            approximation=True,
        )


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
        return np.asarray(_fitted_for(self._models, s).predict(future)["yhat"], dtype=float)

    def components(self, s: SeriesArrays, start: int, end: int) -> pd.DataFrame:
        return _fitted_for(self._models, s).predict(pd.DataFrame({"ds": s.times[start:end]}))

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


class StatsMean(Ensemble):
    """The plain mean of ETS, ARIMA, Theta and dynamic Theta: on M3 it beat the trio's mean
    on sMAPE (12.36 against 12.52) and MASE (1.320 against 1.328), every frequency."""

    name = "stats_mean"


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
