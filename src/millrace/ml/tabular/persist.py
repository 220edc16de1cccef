"""Saving and loading trained tabular models without pickle.

A model package is a folder: ``model.skops`` (the estimator, skops format), ``encoder.json``
(the features), ``leaderboard.json`` and ``metrics.json``.

A skops file is a recipe: its ``schema.json`` names the types and functions to build and
call. skops trusts plain containers, numpy arrays and dtypes, ufuncs and scikit-learn's
estimator classes by itself; every other name must be trusted by the caller. Trusting by
prefix (``builtins.``, ``numpy.``, ``sklearn.``) let a crafted file call ``builtins.exec``
or ``numpy.load``, so Millrace trusts only the exact names its own models need, listed in
``TRUSTED_TYPES``, and refuses a file that asks for anything else before building it.
"""

from __future__ import annotations

import io
import json
from typing import Any

import skops.io as sio

from millrace.exceptions import InvalidInputError
from millrace.ml.tabular.encoding import FeatureEncoder

__all__ = [
    "MODEL_FILE",
    "TRUSTED_TYPES",
    "load_estimator",
    "load_package",
    "package_files",
    "trusted_types",
]

MODEL_FILE = "model.skops"
ENCODER_FILE = "encoder.json"

# What ``skops.io.get_untrusted_types`` reports for the estimators Millrace saves: each of
# FLAML's default estimators (lgbm, rf, xgboost, extra_tree, xgb_limitdepth, lrl1, lrl2,
# kneighbor, sgd; catboost is not installed) fitted by FLAML for classification and
# regression, and the scikit-learn wrappers a search may put around them. Estimators not
# listed (LogisticRegression, SGD*, KNeighbors*, RandomForest*, ExtraTrees*, Pipeline,
# SimpleImputer, Voting*, Stacking*) are in skops' own trusted set. Add a name here only
# after reading what building it can do: a class is built with ``__new__`` plus its state,
# or called with arguments taken from the file.
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "collections.OrderedDict",  # lgbm: the booster's parameters
        "lightgbm.basic.Booster",  # lgbm
        "lightgbm.sklearn.LGBMClassifier",  # lgbm
        "lightgbm.sklearn.LGBMRegressor",  # lgbm
        "numpy.dtype",  # Pipeline(SimpleImputer, ...): the imputer's fitted dtype
        "sklearn.metrics._dist_metrics.EuclideanDistance64",  # kneighbor
        "sklearn.neighbors._kd_tree.KDTree",  # kneighbor
        "sklearn.tree._tree.Tree",  # rf, extra_tree
        "sklearn.utils._bunch.Bunch",  # Voting*/Stacking*: their named estimators
        "xgboost.core.Booster",  # xgboost, xgb_limitdepth
        "xgboost.sklearn.XGBClassifier",  # xgboost, xgb_limitdepth
        "xgboost.sklearn.XGBRegressor",  # xgboost, xgb_limitdepth
    }
)


def trusted_types(blob: bytes) -> list[str]:
    """The names the skops file needs beyond skops' own trusted set, all from
    ``TRUSTED_TYPES``; ``InvalidInputError`` names the others, before anything is built.

    Reading the schema builds nothing, so a malformed or hostile file fails here with
    whatever the zip or JSON reader raises, turned into one input error.
    """
    try:
        wanted = sio.get_untrusted_types(data=blob)
    except Exception as exc:  # any reader error means a bad upload
        raise InvalidInputError(f"not a readable skops model file: {exc}") from exc
    foreign = sorted(set(wanted) - TRUSTED_TYPES)
    if foreign:
        raise InvalidInputError(
            f"the model file would build types Millrace does not trust: {foreign[:10]}"
        )
    return list(wanted)


def load_estimator(blob: bytes) -> Any:
    """Build a skops estimator once every name it needs is in ``TRUSTED_TYPES``.

    skops audits the file again against the same names before building. A trusted type
    given a state it cannot take still fails while being built; that is bad input too.
    """
    wanted = trusted_types(blob)
    try:
        return sio.loads(blob, trusted=wanted)
    except Exception as exc:  # a trusted type refusing a crafted state
        raise InvalidInputError(f"the skops model file could not be built: {exc}") from exc


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
    model = load_estimator(files[MODEL_FILE])
    return model, FeatureEncoder.from_json(files[ENCODER_FILE].decode())
