"""LightGBM on windows of lagged inputs: the tree model of the candidates.

Each row is the last ``input_seq_len`` steps of every scaled column, flattened; one booster
per (target, step ahead) predicts that target's scaled value directly. Like the neural
models it learns from every series of a panel at once and stops early on the validation
windows. The loss is Huber's: on traffic-like series a few bursts otherwise decide the
whole fit. Boosters are saved in LightGBM's own text format, never pickled.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from millrace.ml.forecasting.base import (
    Data,
    Forecaster,
    SeriesArrays,
    as_units,
    holdout,
    input_window,
    normalise,
    too_short,
    windows,
)

__all__ = ["LightGBM"]


def _time_limit(seconds: float) -> Any:
    """A LightGBM callback that stops boosting once ``seconds`` have passed."""
    import lightgbm as lgb

    stop_at = time.monotonic() + seconds

    def callback(env: Any) -> None:
        if time.monotonic() > stop_at:
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    return callback


class LightGBM(Forecaster):
    name = "lightgbm"
    windowed = True

    def fit(self, data: Data, seed: int = 0, budget_s: float | None = None) -> None:
        import lightgbm as lgb

        units = as_units(data)
        h, k = int(self.params["horizon"]), units[0].n_targets
        w = int(self.params["input_seq_len"])
        xt, yt = windows(units, w, h, lambda s: (w, holdout(s, h)))
        xv, yv = windows(units, w, h, lambda s: (holdout(s, h), s.train_end))
        too_short(self.name, xt, xv, w, h)
        xt, xv = xt.reshape(len(xt), -1), xv.reshape(len(xv), -1)  # a row per flat window
        share = budget_s / (h * k) if budget_s else None
        params = {
            "objective": "huber",
            "learning_rate": float(self.params.get("learning_rate", 0.03)),
            "num_leaves": 31,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "feature_fraction": 0.8,
            "seed": seed,
            "num_threads": 1,  # candidates already train side by side
            "verbosity": -1,
        }
        self._boosters: list[list[Any]] = []
        for target in range(k):
            row = []
            for step in range(h):
                callbacks = [lgb.early_stopping(50, verbose=False)]
                if share:
                    callbacks.append(_time_limit(share))
                label, check = (np.ascontiguousarray(y[:, step, target]) for y in (yt, yv))
                train = lgb.Dataset(xt, label)
                row.append(
                    lgb.train(
                        params,
                        train,
                        num_boost_round=int(self.params.get("n_estimators", 2000)),
                        valid_sets=[lgb.Dataset(xv, check, reference=train)],
                        callbacks=callbacks,
                    )
                )
            self._boosters.append(row)
        self.log = {
            "n_targets": k,
            "iterations": [[b.best_iteration for b in row] for row in self._boosters],
        }

    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray:
        w, j = int(self.params["input_seq_len"]), s.target_index
        window, level, scale = normalise(input_window(s, origin, w), s.n_targets)
        row = window.reshape(1, -1)
        local = np.array(
            [
                b.predict(row, num_iteration=b.best_iteration or None)[0]
                for b in self._boosters[j][:h]
            ]
        )
        return s.unscale(local * scale[0, j] + level[0, j])

    def save(self) -> dict[str, bytes]:
        # Up to the best iteration only: what early stopping chose is what is kept.
        boosters = [
            [b.model_to_string(num_iteration=b.best_iteration or -1) for b in row]
            for row in self._boosters
        ]
        spec = {"name": self.name, "params": self.params, "boosters": boosters}
        return {"spec.json": json.dumps(spec).encode()}

    def load_state(self, files: dict[str, bytes], data: Data) -> None:
        import lightgbm as lgb

        spec = json.loads(files["spec.json"])
        self._boosters = [[lgb.Booster(model_str=b) for b in row] for row in spec["boosters"]]
        self.log = {"n_targets": len(self._boosters)}
