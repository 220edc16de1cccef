"""Every forecaster behind one small interface (as statsforecast does for its models).

``fit`` learns from the training part; ``forecast(series, origin, h)`` predicts the ``h``
points after ``origin`` using only data before it. Each model saves itself in a safe form:
PyTorch weights as safetensors (no pickle), Prophet's JSON, or, for the
statistical baselines (cheap and deterministic to refit), their spec in JSON.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from millrace.exceptions import InvalidInputError

__all__ = [
    "MODELS",
    "Ensemble",
    "Forecaster",
    "SeriesArrays",
    "model_files",
    "save_model",
    "season_length",
]

_STATS_HISTORY = 3000  # statistical models see at most this many recent points
_INIT_LOCK = threading.Lock()

# ARIMA's optimiser warns on every hard fit, from whichever thread trains it (where
# catch_warnings cannot scope it); the evaluation judges the fit instead.
warnings.filterwarnings("ignore", message="possible convergence problem", category=UserWarning)


@dataclass
class SeriesArrays:
    """The whole prepared series; models read only what lies before an origin."""

    y: np.ndarray  # original scale
    y_scaled: np.ndarray
    x: np.ndarray  # scaled features (exogenous + time), aligned with y
    times: pd.DatetimeIndex
    train_end: int
    val_end: int
    season: int
    target_mean: float
    target_std: float
    target_log: bool = False  # y_scaled is standardised log1p(y)

    def unscale(self, scaled: np.ndarray) -> np.ndarray:
        """A scaled target back on the original scale."""
        out = scaled * self.target_std + self.target_mean
        return np.expm1(out) if self.target_log else out


def season_length(step: pd.Timedelta) -> int:
    """The natural season for the step, bounded so seasonal models stay fast."""
    seconds = step.total_seconds()
    table = {60 * 60: 24, 30 * 60: 48, 24 * 3600: 7, 7 * 24 * 3600: 52}
    if seconds in table:
        return table[seconds]
    if 28 * 86400 <= seconds <= 31 * 86400:
        return 12
    if 89 * 86400 <= seconds <= 92 * 86400:
        return 4
    if seconds < 3600:
        return int(86400 // seconds)  # one day of steps; only seasonal naive uses it whole
    return 1


def model_files(folder: Path) -> dict[str, bytes]:
    """A saved model's files by relative path (an ensemble keeps members in subfolders)."""
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in paths}


def save_model(model: Forecaster, folder: Path) -> None:
    """Write ``model.save()`` under ``folder``, which ``model_files`` reads back."""
    for name, data in model.save().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


class Forecaster(ABC):
    name: ClassVar[str]

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.log: dict[str, Any] = {}

    @abstractmethod
    def fit(self, s: SeriesArrays, seed: int = 0, budget_s: float | None = None) -> None: ...

    @abstractmethod
    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray: ...

    def save(self) -> dict[str, bytes]:
        return {"spec.json": json.dumps({"name": self.name, "params": self.params}).encode()}

    def load_state(self, files: dict[str, bytes], s: SeriesArrays) -> None:
        """Restore from ``save()``; by default refit (deterministic and cheap)."""
        self.fit(s)

    @property
    def restores_by_refit(self) -> bool:
        """Whether ``load_state`` needs the training series (it refits on it)."""
        return type(self).load_state is Forecaster.load_state


class Naive(Forecaster):
    name = "naive"

    def fit(self, s: SeriesArrays, seed: int = 0, budget_s: float | None = None) -> None:
        pass

    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray:
        return np.repeat(s.y[origin - 1], h)


class SeasonalNaive(Forecaster):
    name = "seasonal_naive"

    def fit(self, s: SeriesArrays, seed: int = 0, budget_s: float | None = None) -> None:
        pass

    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray:
        m = s.season if s.season > 1 and origin >= s.season else 1
        last = s.y[origin - m : origin]
        return np.resize(last, h)


class _StatsForecast(Forecaster):
    """statsforecast models: fitted once on training data, then ``forward`` over history."""

    max_season: ClassVar[int] = 48

    def _model(self, season: int) -> Any:
        raise NotImplementedError

    def fit(self, s: SeriesArrays, seed: int = 0, budget_s: float | None = None) -> None:
        season = s.season if s.season <= self.max_season else 1
        self.params.setdefault("season_length", season)
        y = s.y[: s.train_end][-_STATS_HISTORY:]
        self._fitted = self._model(self.params["season_length"]).fit(y=y)

    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray:
        history = s.y[:origin][-_STATS_HISTORY:]
        return np.asarray(self._fitted.forward(y=history, h=h)["mean"], dtype=float)


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

    def fit(self, s: SeriesArrays, seed: int = 0, budget_s: float | None = None) -> None:
        from prophet import Prophet

        logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
        frame = pd.DataFrame({"ds": s.times[: s.train_end], "y": s.y[: s.train_end]})
        self._model = Prophet(uncertainty_samples=0)
        self._model.fit(frame.tail(_STATS_HISTORY * 2), seed=seed)

    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray:
        future = pd.DataFrame({"ds": s.times[origin : origin + h]})
        return np.asarray(self._model.predict(future)["yhat"], dtype=float)

    def components(self, s: SeriesArrays, start: int, end: int) -> pd.DataFrame:
        return self._model.predict(pd.DataFrame({"ds": s.times[start:end]}))

    def save(self) -> dict[str, bytes]:
        from prophet.serialize import model_to_json

        return {**super().save(), "prophet.json": model_to_json(self._model).encode()}

    def load_state(self, files: dict[str, bytes], s: SeriesArrays) -> None:
        from prophet.serialize import model_from_json

        self._model = model_from_json(files["prophet.json"].decode())


class _Recurrent(Forecaster):
    """GRU/LSTM over windows of ``input_seq_len`` steps, predicting ``h`` steps at once."""

    cell: ClassVar[str]

    def _net(self, n_in: int, h: int) -> Any:
        import torch
        from torch import nn

        cell = nn.GRU if self.cell == "gru" else nn.LSTM
        hidden = int(self.params.get("hidden", 32))

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.rnn = cell(n_in, hidden, batch_first=True)
                self.head = nn.Linear(hidden, h)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                out, _ = self.rnn(x)
                return self.head(out[:, -1, :])

        return Net()

    def _inputs(self, s: SeriesArrays) -> np.ndarray:
        return np.column_stack([s.y_scaled, s.x]).astype(np.float32)

    def _windows(
        self, s: SeriesArrays, start: int, end: int, h: int
    ) -> tuple[np.ndarray, np.ndarray]:
        feats, w = self._inputs(s), int(self.params["input_seq_len"])
        idx = np.arange(max(start, w), end - h + 1)
        x = np.stack([feats[i - w : i] for i in idx]) if len(idx) else np.empty((0, w, 1))
        y = np.stack([s.y_scaled[i : i + h] for i in idx]) if len(idx) else np.empty((0, h))
        return x.astype(np.float32), y.astype(np.float32)

    def fit(self, s: SeriesArrays, seed: int = 0, budget_s: float | None = None) -> None:
        import torch

        # One intra-op thread: trainers already run side by side, and a fixed thread count
        # keeps reductions in one order, so a seed gives the same weights every time.
        torch.set_num_threads(1)
        h = int(self.params["horizon"])
        device = "cuda" if torch.cuda.is_available() else "cpu"
        xt, yt = self._windows(s, 0, s.train_end, h)
        xv, yv = self._windows(s, s.train_end - int(self.params["input_seq_len"]), s.val_end, h)
        # Weight init draws from torch's global generator, which trainers running side by
        # side share: seed and build under a lock, or the seed decides nothing.
        with _INIT_LOCK:
            torch.manual_seed(seed)
            self._net_ = self._net(xt.shape[2], h).to(device)
        opt = torch.optim.Adam(self._net_.parameters(), lr=float(self.params.get("lr", 3e-3)))
        loss_fn = torch.nn.MSELoss()
        gen = torch.Generator().manual_seed(seed)
        best, best_state, patience, epochs = float("inf"), None, 0, []
        started = time.monotonic()
        for epoch in range(int(self.params.get("epochs", 30))):
            self._net_.train()
            order = torch.randperm(len(xt), generator=gen)
            for i in range(0, len(xt), 256):
                batch = order[i : i + 256]
                opt.zero_grad()
                loss = loss_fn(
                    self._net_(torch.from_numpy(xt[batch]).to(device)),
                    torch.from_numpy(yt[batch]).to(device),
                )
                loss.backward()
                opt.step()
            self._net_.eval()
            with torch.no_grad():
                val = float(
                    loss_fn(
                        self._net_(torch.from_numpy(xv).to(device)), torch.from_numpy(yv).to(device)
                    )
                )
            epochs.append({"epoch": epoch, "train_loss": float(loss.detach()), "val_loss": val})
            if val < best - 1e-6:
                best, patience = val, 0
                best_state = {
                    k: v.detach().cpu().clone() for k, v in self._net_.state_dict().items()
                }
            else:
                patience += 1
            if patience >= 4 or (budget_s and time.monotonic() - started > budget_s):
                break
        if best_state is not None:
            self._net_.load_state_dict(best_state)
        self._net_ = self._net_.cpu().eval()
        self.log = {"epochs": epochs, "best_val_loss": best, "n_inputs": int(xt.shape[2])}

    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray:
        import torch

        w = int(self.params["input_seq_len"])
        window = self._inputs(s)[origin - w : origin][None, :, :]
        with torch.no_grad():
            scaled = self._net_(torch.from_numpy(window)).numpy()[0][:h]
        return s.unscale(scaled)

    def save(self) -> dict[str, bytes]:
        from safetensors.torch import save

        # safetensors, not torch.save: plain tensors with no pickle inside, so the
        # warehouse stores the weights as a safe file and any agent may load them.
        spec = {"name": self.name, "params": self.params, "n_inputs": self.log["n_inputs"]}
        state = {k: v.contiguous() for k, v in self._net_.state_dict().items()}
        return {"spec.json": json.dumps(spec).encode(), "model.safetensors": save(state)}

    def load_state(self, files: dict[str, bytes], s: SeriesArrays) -> None:
        from safetensors.torch import load

        spec = json.loads(files["spec.json"])
        self._net_ = self._net(int(spec["n_inputs"]), int(self.params["horizon"]))
        state = load(files["model.safetensors"])
        self._net_.load_state_dict(state)
        self._net_.eval()
        self.log = {"n_inputs": spec["n_inputs"]}


class GRU(_Recurrent):
    name = "gru"
    cell = "gru"


class LSTM(_Recurrent):
    name = "lstm"
    cell = "lstm"


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
        if name not in MODELS or name == self.name:
            raise InvalidInputError(f"an ensemble cannot hold {name!r}")
        return MODELS[name](
            horizon=self.params["horizon"], input_seq_len=self.params["input_seq_len"]
        )

    @property
    def restores_by_refit(self) -> bool:
        return any(self._member(m).restores_by_refit for m in self.params["members"])

    def fit(self, s: SeriesArrays, seed: int = 0, budget_s: float | None = None) -> None:
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

    def load_state(self, files: dict[str, bytes], s: SeriesArrays) -> None:
        self.params["members"] = json.loads(files["spec.json"])["params"]["members"]
        for name in self.params["members"]:
            prefix = f"{name}/"
            member = self._member(name)
            member.load_state(
                {k.removeprefix(prefix): v for k, v in files.items() if k.startswith(prefix)}, s
            )
            self.members[name] = member


MODELS: dict[str, type[Forecaster]] = {
    m.name: m for m in (Naive, SeasonalNaive, ETS, Theta, ARIMA, ProphetModel, GRU, LSTM, Ensemble)
}
