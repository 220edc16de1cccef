"""Turning a raw table into the numeric matrix a model sees, reproducibly.

The encoder is saved as JSON next to the model, so the xai agent and the inference server
rebuild exactly the training-time features without unpickling anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FeatureEncoder"]


@dataclass
class FeatureEncoder:
    target: str
    task: str
    numeric: list[str] = field(default_factory=list)
    categorical: dict[str, list[str]] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    classes: list[Any] | None = None

    @classmethod
    def fit(cls, frame: pd.DataFrame, target: str, task: str) -> FeatureEncoder:
        enc = cls(target=target, task=task)
        for col in frame.columns:
            if col == target:
                continue
            s = frame[col]
            name = str(col)
            if s.isna().all():
                enc.dropped[name] = "all values missing"
            elif s.nunique(dropna=True) <= 1:
                enc.dropped[name] = "constant"
            elif pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                enc.numeric.append(name)
            else:
                cats = s.dropna().astype(str).value_counts().index[:200].tolist()
                enc.categorical[name] = sorted(cats)
        if task == "classification":
            enc.classes = sorted(frame[target].dropna().unique().tolist(), key=str)
        return enc

    @property
    def features(self) -> list[str]:
        return self.numeric + list(self.categorical)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Numeric columns as float, categories as codes (-1 unseen, NaN missing)."""
        out = pd.DataFrame(index=frame.index)
        for col in self.numeric:
            out[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
        for col, cats in self.categorical.items():
            lookup = {c: i for i, c in enumerate(cats)}
            raw = frame[col]
            codes = raw.astype(str).map(lookup).fillna(-1).astype(float)
            out[col] = codes.where(raw.notna(), np.nan)
        return out

    def encode_target(self, y: pd.Series) -> np.ndarray:
        if self.classes is None:
            return pd.to_numeric(y).to_numpy(dtype=float)
        lookup = {c: i for i, c in enumerate(self.classes)}
        return y.map(lookup).to_numpy(dtype=int)

    def decode_target(self, codes: np.ndarray) -> list[Any]:
        if self.classes is None:
            return [float(v) for v in codes]
        return [self.classes[int(i)] for i in codes]

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_plain)

    @classmethod
    def from_json(cls, text: str) -> FeatureEncoder:
        return cls(**json.loads(text))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__}")
