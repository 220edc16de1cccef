"""Saving and loading trained tabular models without pickle.

A model package is a folder: ``model.skops`` (the estimator, skops format), ``encoder.json``
(the features), ``leaderboard.json`` and ``metrics.json``. Loading checks every type the
skops file would build against an allowlist of model libraries before building anything.
"""

from __future__ import annotations

import io
import json
from typing import Any

import skops.io as sio

from millrace.exceptions import InvalidInputError
from millrace.ml.tabular.encoding import FeatureEncoder

__all__ = ["MODEL_FILE", "load_package", "package_files", "trusted_types"]

MODEL_FILE = "model.skops"
ENCODER_FILE = "encoder.json"
_ALLOWED_PREFIXES = (
    "sklearn.",
    "lightgbm.",
    "xgboost.",
    "numpy.",
    "scipy.",
    "collections.",
    "builtins.",
)


def trusted_types(blob: bytes) -> list[str]:
    """The types the skops file needs, refused unless all come from model libraries."""
    wanted = sio.get_untrusted_types(data=blob)
    foreign = [t for t in wanted if not t.startswith(_ALLOWED_PREFIXES)]
    if foreign:
        raise InvalidInputError(f"the model file would build untrusted types: {foreign[:5]}")
    return list(wanted)


def package_files(
    estimator: Any, encoder: FeatureEncoder, extra: dict[str, Any]
) -> list[tuple[str, io.BytesIO]]:
    files = {
        MODEL_FILE: sio.dumps(estimator),
        ENCODER_FILE: encoder.to_json().encode(),
        **{
            name: json.dumps(value, indent=2, default=str).encode() for name, value in extra.items()
        },
    }
    return [(name, io.BytesIO(data)) for name, data in files.items()]


def load_package(files: dict[str, bytes]) -> tuple[Any, FeatureEncoder]:
    if MODEL_FILE not in files or ENCODER_FILE not in files:
        raise InvalidInputError(
            f"not a Millrace model package (needs {MODEL_FILE} and {ENCODER_FILE})"
        )
    blob = files[MODEL_FILE]
    model = sio.loads(blob, trusted=trusted_types(blob))
    return model, FeatureEncoder.from_json(files[ENCODER_FILE].decode())
