"""The xai agent: SHAP and permutation importance, as four HTML reports.

Forecasters are explained by occlusion of past values and features, plus Prophet's own
components (``ml/explain/forecast.py``).

Models are loaded only from safe formats (a Millrace skops package whose types are all from
model libraries). A pickle someone uploaded is never loaded: the step fails and says so,
unless an admin marked that model version trusted.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import pandas as pd

from millrace.agents.bias import derived_id
from millrace.events.bus import Message
from millrace.events.runner import HandlerContext, Reject
from millrace.events.topics import Topic
from millrace.exceptions import InvalidInputError
from millrace.ml.explain.explain import explain_model
from millrace.ml.explain.render import render_reports
from millrace.ml.tabular.data import load_frame
from millrace.ml.tabular.encoding import FeatureEncoder
from millrace.ml.tabular.persist import MODEL_FILE, load_package
from millrace.warehouse.assets import get_asset, get_version
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.ids import parse_version
from millrace.warehouse.models import AssetKind
from millrace.warehouse.reports import create_xai_report

__all__ = ["GROUP", "TOPICS", "handle"]

GROUP = "xai"
TOPICS = [Topic.XAI_TRIGGER.value]
_MAX_MODEL_BYTES = 512 * 1024**2


def _model_files(
    wh: Warehouse, owner: str, model_id: str, version: int
) -> tuple[dict[str, bytes], dict[str, Any], bool]:
    with session_scope(wh.sessions) as session:
        found = get_version(session, get_asset(session, AssetKind.MODEL, owner, model_id), version)
        if found.has_unsafe_files and not found.trusted:
            unsafe = [f.path for f in found.files if f.unsafe]
            raise Reject(
                f"model {model_id} v{version} contains pickle-like files ({', '.join(unsafe)}), "
                "which are never loaded; re-upload it in a safe format (skops, ONNX, LightGBM "
                "or XGBoost native) or ask an admin to mark this version trusted"
            )
        if found.size_bytes > _MAX_MODEL_BYTES:
            raise Reject(f"model {model_id} v{version} is too large to explain here")
        keys = {f.path: f.storage_key for f in found.files}
        attributes, trusted = dict(found.attributes), found.trusted
    return {p: wh.storage.read_bytes(k) for p, k in keys.items()}, attributes, trusted


def _load(
    files: dict[str, bytes], trusted: bool, frame: pd.DataFrame, target: str, task: str
) -> tuple[Any, FeatureEncoder]:
    if MODEL_FILE in files:
        try:
            return load_package(files)
        except InvalidInputError as exc:
            raise Reject(str(exc)) from exc
    pickles = [n for n in files if n.endswith((".pkl", ".pickle", ".joblib"))]
    if trusted and len(pickles) == 1:
        model = pickle.loads(files[pickles[0]])  # noqa: S301 - an admin marked it trusted
        encoder = FeatureEncoder.fit(frame, target, task)
        return model, encoder
    raise Reject("no loadable model: expected a Millrace package (model.skops + encoder.json)")


def handle(message: Message, ctx: HandlerContext) -> None:
    p = message.payload
    wh = ctx.warehouse
    owner, model_id = p["user_id"], p["model_id"]
    files, attrs, trusted = _model_files(wh, owner, model_id, parse_version(p["version"]))
    dataset_id = p.get("dataset_id") or attrs.get("training_dataset")
    if not dataset_id:
        raise Reject(f"model {model_id} names no training dataset to explain it on")
    dataset_version = attrs.get("training_dataset_version")
    if dataset_version is None:
        with session_scope(wh.sessions) as session:
            asset = get_asset(session, AssetKind.DATASET, owner, dataset_id)
            dataset_version = get_version(session, asset).version
    if (attrs.get("model_type") or p.get("model_type")) == "forecasting":
        _explain_forecaster(message, ctx, files, attrs, dataset_id, int(dataset_version))
        return
    frame = load_frame(wh, owner, dataset_id, int(dataset_version))
    encoder_target = files.get("encoder.json")
    target = (
        FeatureEncoder.from_json(encoder_target.decode()).target
        if encoder_target
        else p.get("target_column_name")
    )
    task = p.get("model_type") or attrs.get("model_type") or "classification"
    if not target or target not in frame.columns:
        raise Reject(f"target column {target!r} is not in {dataset_id} v{dataset_version}")
    model, encoder = _load(files, trusted, frame, target, task)
    rows = frame[frame[target].notna()].reset_index(drop=True)
    exp = explain_model(
        model, encoder.transform(rows), encoder.encode_target(rows[target]), encoder.task
    )
    info = {
        "model_id": model_id,
        "model_version": p["version"],
        "algorithm": attrs.get("algorithm"),
        "explainer": exp.explainer,
        "test_scores": attrs.get("test_scores", {}),
        "model_fairness": attrs.get("model_fairness"),
        "leaderboard": attrs.get("leaderboard", []) or _json(files.get("leaderboard.json")),
    }
    title = f"{dataset_id} v{dataset_version} / {model_id} {p['version']}"
    for (report_type, level), html in render_reports(
        exp=exp, frame=rows, target=target, task=encoder.task, model_info=info, title=title
    ).items():
        create_xai_report(
            wh,
            owner_id=owner,
            dataset_id=dataset_id,
            dataset_version=int(dataset_version),
            model_id=model_id,
            report_type=report_type,
            level=level,
            html=io.BytesIO(html.encode()),
            report_id=derived_id(message.event_id, report_type, level),
            event_extra={"journey_id": p.get("journey_id")},
        )


def _json(blob: bytes | None) -> Any:
    import json

    return json.loads(blob) if blob else []


def _explain_forecaster(
    message: Message,
    ctx: HandlerContext,
    files: dict[str, bytes],
    attrs: dict[str, Any],
    dataset_id: str,
    dataset_version: int,
) -> None:
    """Rebuild the champion from its stored files (no pickle anywhere) and explain it."""
    import tempfile
    from pathlib import Path

    from millrace.ml.explain.forecast import explain_forecaster, feature_names
    from millrace.ml.explain.forecast_render import render_forecast_reports
    from millrace.pipelines import steps
    from millrace.pipelines.artifacts import Prepared, Trained

    p = message.payload
    needed = ["prepared.json", "series.npz", "scaler.json", "trained.json"]
    missing = [n for n in needed if n not in files]
    if missing:
        raise Reject(f"forecasting model {p['model_id']} lacks {', '.join(missing)}")
    with tempfile.TemporaryDirectory() as tmp:
        prepared_dir, model_dir = Path(tmp) / "prepared", Path(tmp) / "model"
        prepared_dir.mkdir()
        model_dir.mkdir()
        for name in ("series.npz", "scaler.json"):
            (prepared_dir / name).write_bytes(files[name])
        for name, blob in files.items():
            if name.startswith("model/"):
                path = (model_dir / name.removeprefix("model/")).resolve()  # ensembles nest
                if not path.is_relative_to(model_dir.resolve()):
                    raise Reject(f"forecasting model {p['model_id']} has a bad file name {name!r}")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(blob)
        prepared = Prepared.model_validate_json(files["prepared.json"]).model_copy(
            update={"uri": str(prepared_dir)}
        )
        trained = Trained.model_validate_json(files["trained.json"]).model_copy(
            update={"uri": str(model_dir)}
        )
        units = steps.series(prepared)
        model = steps.load_model(prepared, trained, units)
        cfg = prepared.config
        s = units[0]  # the first target of the first series: journeys forecast one target
        exp = explain_forecaster(
            model,
            s,
            horizon=int(cfg["horizon"]),
            window=int(cfg["input_seq_len"]),
            feature_names=feature_names(s.x.shape[1], prepared.columns),
        )
    title = f"{dataset_id} v{dataset_version} / {p['model_id']} {p['version']}"
    reports = render_forecast_reports(exp=exp, info=attrs, title=title, target=cfg["target"])
    for (report_type, level), html in reports.items():
        create_xai_report(
            ctx.warehouse,
            owner_id=p["user_id"],
            dataset_id=dataset_id,
            dataset_version=dataset_version,
            model_id=p["model_id"],
            report_type=report_type,
            level=level,
            html=io.BytesIO(html.encode()),
            report_id=derived_id(message.event_id, report_type, level),
            event_extra={"journey_id": p.get("journey_id")},
        )
