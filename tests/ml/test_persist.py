"""Model packages: every estimator FLAML can pick round-trips, and a crafted skops file that
would run code is refused before anything in it is built.

The hostile files are made the way an attacker would: a real ``model.skops`` with one
attribute of its ``schema.json`` replaced by a node that calls something. Each payload
leaves a marker file when it runs; each test first shows the loader refused it and the
marker is absent, then loads the same file with skops trusting everything it asks for and
sees the marker appear, so the payload is known to be live.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import re
import warnings
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import xgboost as xgb
from sklearn.datasets import load_diabetes
from sklearn.ensemble import (
    RandomForestClassifier,
    StackingRegressor,
    VotingClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline

from millrace.exceptions import InvalidInputError
from millrace.ml.tabular.encoding import FeatureEncoder
from millrace.ml.tabular.persist import (
    MODEL_FILE,
    TRUSTED_TYPES,
    load_estimator,
    load_package,
    package_files,
    trusted_types,
)


def _flaml_defaults(task: str) -> list[str]:
    """What Millrace's search may pick (FLAML's defaults, less those whose types are not
    trusted, e.g. catboost), plus the estimators FLAML offers outside its defaults."""
    from millrace.ml.tabular.search import searched

    extra = ["lrl2", "kneighbor"] if task == "classification" else ["kneighbor"]
    return [*searched("binary" if task == "classification" else "regression"), *extra]


CASES = [(task, est) for task in ("classification", "regression") for est in _flaml_defaults(task)]


def _patients(task: str) -> tuple[pd.DataFrame, str]:
    """The demo's diabetes study: ``sex`` as text, a binary target or blood pressure."""
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["sex"] = frame["sex"].map({1.0: "F", 2.0: "M"})
    if task == "classification":
        frame["high_risk"] = (frame.pop("target") > 140).astype(int)
        return frame, "high_risk"
    return frame.drop(columns=["target"]), "bp"


@cache
def _fitted(task: str, estimator: str) -> tuple[Any, FeatureEncoder, pd.DataFrame]:
    """What ``ml.tabular.automl`` keeps: FLAML's chosen ``automl.model.estimator``."""
    from flaml import AutoML

    frame, target = _patients(task)
    encoder = FeatureEncoder.fit(frame, target, task)
    x, y = encoder.transform(frame), encoder.encode_target(frame[target])
    automl = AutoML()
    with warnings.catch_warnings():  # convergence and FLAML notices: fitting is set-up here
        warnings.simplefilter("ignore")
        automl.fit(x, y, task=task, estimator_list=[estimator], max_iter=1, verbose=0, n_jobs=1)
    return automl.model.estimator, encoder, x


def _round_trip(model: Any, encoder: FeatureEncoder) -> tuple[Any, FeatureEncoder]:
    files = package_files(model, encoder, {"metrics.json": {"r2": 0.5}})
    return load_package({name: data.getvalue() for name, data in files})


@pytest.mark.parametrize(("task", "estimator"), CASES)
def test_every_flaml_estimator_round_trips(task: str, estimator: str) -> None:
    model, encoder, x = _fitted(task, estimator)
    if not hasattr(model, "feature_names_in_"):  # FLAML fits sklearn's own on a plain array
        x = x.to_numpy()
    loaded, loaded_encoder = _round_trip(model, encoder)
    assert type(loaded) is type(model)
    assert loaded_encoder == encoder
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    if task == "classification" and hasattr(model, "predict_proba"):
        np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))


def test_the_list_holds_only_names_these_models_need() -> None:
    """Each trusted name is there because a model Millrace may save asks for it."""
    needed: set[str] = set()
    for task, estimator in CASES:
        needed.update(sio.get_untrusted_types(data=sio.dumps(_fitted(task, estimator)[0])))
    for wrapper in _wrappers():
        needed.update(sio.get_untrusted_types(data=sio.dumps(wrapper[0])))
    assert needed == TRUSTED_TYPES


@cache
def _wrappers() -> list[tuple[Any, FeatureEncoder, pd.DataFrame]]:
    out = []
    for task, make in (
        ("classification", lambda: make_pipeline(SimpleImputer(), LogisticRegression())),
        (
            "classification",
            lambda: VotingClassifier(
                [
                    ("lgbm", lgb.LGBMClassifier(n_estimators=5, verbose=-1)),
                    ("rf", RandomForestClassifier(n_estimators=5, random_state=0)),
                    ("xgb", xgb.XGBClassifier(n_estimators=5)),
                ],
                voting="soft",
            ),
        ),
        (
            "regression",
            lambda: StackingRegressor(
                [
                    ("lgbm", lgb.LGBMRegressor(n_estimators=5, verbose=-1)),
                    ("xgb", xgb.XGBRegressor(n_estimators=5)),
                ],
                final_estimator=Ridge(),
            ),
        ),
    ):
        frame, target = _patients(task)
        frame.loc[::9, "bmi"] = np.nan  # the imputer has something to do
        encoder = FeatureEncoder.fit(frame, target, task)
        x = encoder.transform(frame)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = make().fit(x, encoder.encode_target(frame[target]))
        out.append((model, encoder, x))
    return out


def test_pipelines_and_ensembles_round_trip() -> None:
    for model, encoder, x in _wrappers():
        loaded, _ = _round_trip(model, encoder)
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# --- crafted files -------------------------------------------------------------------

_ids = itertools.count(10**15)


def _node(cls: str, module: str, loader: str, **rest: Any) -> dict[str, Any]:
    return {
        "__class__": cls,
        "__module__": module,
        "__loader__": loader,
        **rest,
        "__id__": next(_ids),
    }


def _json(value: Any) -> dict[str, Any]:
    return _node("str", "builtins", "JsonNode", content=json.dumps(value), is_json=True)


def _seq(kind: str, *items: dict[str, Any]) -> dict[str, Any]:
    return _node(kind, "builtins", f"{kind.title()}Node", content=list(items))


def _call(module: str, function: str, *args: dict[str, Any]) -> dict[str, Any]:
    """``module.function(*args)``, run while the file is being built."""
    return _node(function, module, "ConstructorFromReduceNode", content=_seq("tuple", *args))


def _real_model() -> bytes:
    frame, target = _patients("classification")
    encoder = FeatureEncoder.fit(frame, target, "classification")
    model = lgb.LGBMClassifier(n_estimators=3, verbose=-1)
    return sio.dumps(model.fit(encoder.transform(frame), encoder.encode_target(frame[target])))


def _tampered(payload: dict[str, Any]) -> bytes:
    """A real LightGBM ``model.skops`` whose ``objective`` is now the payload."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(_real_model())) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for name in src.namelist():
            data = src.read(name)
            if name == "schema.json":
                schema = json.loads(data)
                schema["content"]["content"]["objective"] = payload
                data = json.dumps(schema).encode()
            dst.writestr(name, data)
    return out.getvalue()


class _OpenOnUnpickle:
    """Pickles as ``open(path, "w")``: what a pickled ``.npy`` on disk runs when loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def _payload(kind: str, marker: Path, tmp: Path) -> dict[str, Any]:
    code = f"open({str(marker)!r}, 'w').write('ran')"
    if kind == "builtins.exec":
        return _call("builtins", "exec", _json(code))
    if kind == "builtins.eval":
        return _call("builtins", "eval", _json(code))
    if kind == "os.system":
        return _call("os", "system", _json(f"touch {marker}"))
    if kind == "numpy.load":
        evil = tmp / "evil.npy"
        np.save(evil, np.array([_OpenOnUnpickle(marker)], dtype=object), allow_pickle=True)
        return _call("numpy", "load", _json(str(evil)), _json(None), _json(True))
    if kind == "sklearn.datasets.dump_svmlight_file":  # trusted by the old sklearn. prefix
        rows = _seq("list", _seq("list", _json(1.0)))
        return _call(
            "sklearn.datasets",
            "dump_svmlight_file",
            rows,
            _seq("list", _json(1.0)),
            _json(str(marker)),
        )
    raise AssertionError(kind)


HOSTILE = [
    "builtins.exec",
    "builtins.eval",
    "os.system",
    "numpy.load",
    "sklearn.datasets.dump_svmlight_file",
]


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_crafted_call_is_refused_and_never_runs(kind: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    blob = _tampered(_payload(kind, marker, tmp_path))
    with pytest.raises(InvalidInputError, match="does not trust") as refused:
        load_package({MODEL_FILE: blob, "encoder.json": b"{}"})
    assert kind in str(refused.value)
    with pytest.raises(InvalidInputError, match=re.escape(kind)):
        trusted_types(blob)
    assert not marker.exists()
    # The same file, with skops told to trust what it asks for, does run the payload.
    # The estimator may choke on its new objective; the call has run by then.
    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.simplefilter("ignore")
        sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
    assert marker.exists(), f"the {kind} payload is not live, so the refusal proves nothing"


def test_a_crafted_attrgetter_is_refused(tmp_path: Path) -> None:
    """``operator.attrgetter`` reaches any attribute (``__globals__``, ``__builtins__``) of
    whatever it is later called on."""
    getter = _node(
        "attrgetter", "operator", "OperatorFuncNode", attrs=_seq("tuple", _json("__globals__"))
    )
    blob = _tampered(getter)
    with pytest.raises(InvalidInputError, match=r"operator\.attrgetter"):
        load_estimator(blob)
    live = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
    assert type(live.objective).__name__ == "attrgetter"


@pytest.mark.parametrize(
    "blob",
    [b"", b"not a zip at all", b"PK\x03\x04" + b"\0" * 40],
    ids=["empty", "text", "broken-zip"],
)
def test_a_file_that_is_not_skops_is_an_input_error(blob: bytes) -> None:
    with pytest.raises(InvalidInputError, match="not a readable skops"):
        load_estimator(blob)


def test_a_zip_without_a_schema_is_an_input_error() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(InvalidInputError, match="not a readable skops"):
        load_estimator(out.getvalue())


# --- the loaders that read these files ----------------------------------------------


def test_the_xai_agent_rejects_a_crafted_package(tmp_path: Path) -> None:
    from millrace.agents.xai import _load
    from millrace.events.runner import Reject

    marker = tmp_path / "ran"
    frame, target = _patients("classification")
    encoder = FeatureEncoder.fit(frame, target, "classification")
    files = {MODEL_FILE: _tampered(_payload("builtins.exec", marker, tmp_path))}
    files["encoder.json"] = encoder.to_json().encode()
    with pytest.raises(Reject, match=r"builtins\.exec"):
        _load(files, False, frame, target, "classification")
    assert not marker.exists()


def test_serving_refuses_a_crafted_champion(tmp_path: Path) -> None:
    """A real champion in MLflow whose ``model.skops`` an attacker with write access to the
    artifact store replaced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # mlflow.pyfunc about its own hints
        import mlflow.pyfunc  # noqa: F401
    from millrace.ml.registry import champion
    from millrace.ml.tracking import log_tabular_model
    from millrace.serving.loading import load_champion
    from millrace.settings import Settings

    settings = Settings(home=tmp_path / "home")
    model, encoder, _ = _fitted("classification", "lgbm")
    tracked = log_tabular_model(
        settings,
        owner_id="alice",
        model_id="credit",
        key="k1",
        estimator=model,
        trusted_types=trusted_types(sio.dumps(model)),
        params={},
        metrics={},
        artifacts={"encoder.json": encoder.to_json()},
        tags={},
    )
    uri = settings.resolved_mlflow_uri
    live = champion(uri, tracked.registered_name)
    assert live is not None
    assert load_champion(uri, live).champion.version == live.version  # the real one serves
    marker = tmp_path / "ran"
    stored = [p for p in (tmp_path / "home").rglob(MODEL_FILE) if p.is_file()]
    assert stored, "the champion's model.skops was not found in the artifact store"
    for path in stored:
        path.write_bytes(_tampered(_payload("builtins.exec", marker, tmp_path)))
    with pytest.raises(InvalidInputError, match=r"builtins\.exec"):
        load_champion(uri, live)
    assert not marker.exists()
