"""GRU and LSTM in PyTorch.

One network per run learns from the windows of every series (a panel pools its data, which
a short series alone would lack) and predicts every target at once from the same window,
as the LTE paper's models do. Weights are saved as safetensors, never pickled.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, ClassVar

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

__all__ = ["GRU", "LSTM"]

_INIT_LOCK = threading.Lock()


class _Recurrent(Forecaster):
    """GRU/LSTM over windows of ``input_seq_len`` steps of every scaled column, predicting
    ``h`` steps of every target at once; one network learns from all series of a panel."""

    cell: ClassVar[str]
    windowed = True

    def _net(self, n_in: int, h: int, k: int) -> Any:
        import torch
        from torch import nn

        cell = nn.GRU if self.cell == "gru" else nn.LSTM
        hidden = int(self.params.get("hidden", 32))

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.rnn = cell(n_in, hidden, batch_first=True)
                self.head = nn.Linear(hidden, h * k)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                out, _ = self.rnn(x)
                return self.head(out[:, -1, :]).reshape(-1, h, k)

        return Net()

    def fit(self, data: Data, seed: int = 0, budget_s: float | None = None) -> None:
        import torch

        # One intra-op thread: trainers already run side by side, and a fixed thread count
        # keeps reductions in one order, so a seed gives the same weights every time.
        torch.set_num_threads(1)
        units = as_units(data)
        h, k = int(self.params["horizon"]), units[0].n_targets
        device = "cuda" if torch.cuda.is_available() else "cpu"
        w = int(self.params["input_seq_len"])
        xt, yt = windows(units, w, h, lambda s: (0, holdout(s, h)))
        xv, yv = windows(units, w, h, lambda s: (holdout(s, h), s.train_end))
        too_short(self.name, xt, xv, w, h)
        # Weight init draws from torch's global generator, which trainers running side by
        # side share: seed and build under a lock, or the seed decides nothing.
        with _INIT_LOCK:
            torch.manual_seed(seed)
            self._net_ = self._net(xt.shape[2], h, k).to(device)
        opt = torch.optim.Adam(self._net_.parameters(), lr=float(self.params.get("lr", 3e-3)))
        loss_fn = torch.nn.MSELoss()
        gen = torch.Generator().manual_seed(seed)
        best, best_state, patience, epochs = float("inf"), None, 0, []
        started = time.monotonic()
        for epoch in range(int(self.params.get("epochs", 30))):
            self._net_.train()
            order = torch.randperm(len(xt), generator=gen)
            for i in range(0, len(xt), 256):
                batch = order[i : i + 256].numpy()  # a 1-element tensor would index as a scalar
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
                    n: v.detach().cpu().clone() for n, v in self._net_.state_dict().items()
                }
            else:
                patience += 1
            if patience >= 4 or (budget_s and time.monotonic() - started > budget_s):
                break
        if best_state is not None:
            self._net_.load_state_dict(best_state)
        self._net_ = self._net_.cpu().eval()
        self.log = {
            "epochs": epochs,
            "best_val_loss": best,
            "n_inputs": int(xt.shape[2]),
            "n_targets": k,
        }

    def forecast(self, s: SeriesArrays, origin: int, h: int) -> np.ndarray:
        import torch

        w, j = int(self.params["input_seq_len"]), s.target_index
        window, level, scale = normalise(input_window(s, origin, w), s.n_targets)
        with torch.no_grad():
            local = self._net_(torch.from_numpy(window)).numpy()[0][:h, j]
        return s.unscale(local * scale[0, j] + level[0, j])

    def save(self) -> dict[str, bytes]:
        from safetensors.torch import save

        # safetensors, not torch.save: plain tensors with no pickle inside, so the
        # warehouse stores the weights as a safe file and any agent may load them.
        spec = {
            "name": self.name,
            "params": self.params,
            "n_inputs": self.log["n_inputs"],
            "n_targets": self.log["n_targets"],
        }
        state = {k: v.contiguous() for k, v in self._net_.state_dict().items()}
        return {"spec.json": json.dumps(spec).encode(), "model.safetensors": save(state)}

    def load_state(self, files: dict[str, bytes], data: Data) -> None:
        from safetensors.torch import load

        spec = json.loads(files["spec.json"])
        n_inputs, k = int(spec["n_inputs"]), int(spec.get("n_targets", 1))
        self._net_ = self._net(n_inputs, int(self.params["horizon"]), k)
        self._net_.load_state_dict(load(files["model.safetensors"]))
        self._net_.eval()
        self.log = {"n_inputs": n_inputs, "n_targets": k}


class GRU(_Recurrent):
    name = "gru"
    cell = "gru"


class LSTM(_Recurrent):
    name = "lstm"
    cell = "lstm"
