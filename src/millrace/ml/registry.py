"""The model registry: which version of each model is live (the ``champion``), and why.

MLflow's model registry is the source of truth; this module is the one place that moves
the ``champion`` alias, so every promotion (AutoML, the forecasting pipeline, a user's
button in the UI, a rollback) leaves the same trail: the alias, and a JSON history of
champion versions in the registered model's ``millrace.champion_history`` tag. The
inference server watches the alias; rollback walks the history back.

Registered names are ``millrace.<owner>.<model_id>``; since user ids may contain dots, the
owner and model id are also kept as tags (``millrace.owner``, ``millrace.model_id``) and
those are what the server reads to authorise a call.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from millrace.exceptions import InvalidInputError, NotFoundError

__all__ = [
    "CHAMPION",
    "HISTORY_TAG",
    "KIND_TAG",
    "Champion",
    "ModelKind",
    "champion",
    "champion_stack",
    "list_champions",
    "mlflow_client",
    "parse_registered_name",
    "promote",
    "register_model",
    "registered_name",
    "rollback",
    "versions",
]

CHAMPION = "champion"
HISTORY_TAG = "millrace.champion_history"
KIND_TAG = "millrace.kind"
OWNER_TAG = "millrace.owner"
MODEL_ID_TAG = "millrace.model_id"
PREFIX = "millrace."

ModelKind = Literal["tabular", "forecasting"]


@dataclass(frozen=True)
class Champion:
    """The live version of one registered model."""

    name: str
    owner: str
    model_id: str
    version: str
    kind: ModelKind
    run_id: str | None
    source: str
    history: tuple[dict[str, Any], ...] = ()


def registered_name(owner_id: str, model_id: str) -> str:
    return f"{PREFIX}{owner_id}.{model_id}"


def parse_registered_name(name: str) -> tuple[str, str] | None:
    """``millrace.alice.credit-automl`` -> ``("alice", "credit-automl")``; None if foreign.

    A guess for models registered without tags: a dotted user id splits wrongly here.
    """
    if not name.startswith(PREFIX):
        return None
    owner, _, model_id = name[len(PREFIX) :].partition(".")
    return (owner, model_id) if owner and model_id else None


def mlflow_client(tracking_uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    from millrace.ml.tracking_store import ensure_store

    ensure_store(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def register_model(
    tracking_uri: str, *, owner: str, model_id: str, kind: ModelKind, name: str | None = None
) -> str:
    """Create the registered model if needed and tag who owns it and what it is."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client(tracking_uri)
    name = name or registered_name(owner, model_id)
    with contextlib.suppress(MlflowException):  # it exists: tags are refreshed below
        client.create_registered_model(name)
    for key, value in ((OWNER_TAG, owner), (MODEL_ID_TAG, model_id), (KIND_TAG, kind)):
        client.set_registered_model_tag(name, key, value)
    return name


def _history(model: Any) -> list[dict[str, Any]]:
    raw = (model.tags or {}).get(HISTORY_TAG)
    return list(json.loads(raw)) if raw else []


def champion(tracking_uri: str, name: str) -> Champion | None:
    """The version the ``champion`` alias points at, or None if the model has none."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client(tracking_uri)
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
        model = client.get_registered_model(name)
    except MlflowException:
        return None
    return _champion(name, version, model)


def _champion(name: str, version: Any, model: Any) -> Champion:
    tags = model.tags or {}
    owner, model_id = parse_registered_name(name) or ("", name)
    owner, model_id = tags.get(OWNER_TAG, owner), tags.get(MODEL_ID_TAG, model_id)
    kind = (version.tags or {}).get(KIND_TAG) or (model.tags or {}).get(KIND_TAG) or "tabular"
    return Champion(
        name=name,
        owner=owner,
        model_id=model_id,
        version=str(version.version),
        kind="forecasting" if kind == "forecasting" else "tabular",
        run_id=version.run_id,
        source=version.source,
        history=tuple(_history(model)),
    )


def list_champions(tracking_uri: str, owner: str | None = None) -> list[Champion]:
    """Every Millrace model with a champion; ``owner`` narrows to one user's."""
    client = mlflow_client(tracking_uri)
    found: list[Champion] = []
    token = None
    while True:
        page = client.search_registered_models(
            filter_string=f"name LIKE '{PREFIX}%'", max_results=200, page_token=token
        )
        for model in page:
            live = (model.aliases or {}).get(CHAMPION)
            if live is not None:
                found.append(
                    _champion(model.name, client.get_model_version(model.name, live), model)
                )
        token = page.token
        if not token:
            mine = [c for c in found if owner is None or c.owner == owner]
            return sorted(mine, key=lambda c: c.name)


def promote(
    tracking_uri: str, name: str, version: str, *, reason: str = "promoted", actor: str = ""
) -> Champion:
    """Point ``champion`` at ``version`` and append it to the history."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client(tracking_uri)
    try:
        target = client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise NotFoundError(f"model {name!r} has no version {version}") from exc
    model = client.get_registered_model(name)
    history = _history(model)
    history.append(
        {
            "version": str(target.version),
            "reason": reason,
            "actor": actor,
            "at": datetime.now(UTC).isoformat(),
        }
    )
    client.set_registered_model_alias(name, CHAMPION, str(target.version))
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-100:]))
    return _champion(name, target, client.get_registered_model(name))


def champion_stack(
    history: Iterable[dict[str, Any]], is_rollback: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """The champions still standing: promotions push, rollbacks pop, so rolling back twice
    goes back two champions rather than back and forth."""
    stack: list[dict[str, Any]] = []
    for entry in history:
        if is_rollback(entry):
            stack.pop()
        else:
            stack.append(entry)
    return stack


def rollback(tracking_uri: str, name: str, *, actor: str = "") -> Champion:
    """Make the champion before the current one live again (recorded as a new entry)."""
    live = champion(tracking_uri, name)
    if live is None:
        raise NotFoundError(f"model {name!r} has no champion to roll back")
    stack = champion_stack(live.history, lambda e: e.get("reason") == "rollback")
    if len(stack) < 2:
        raise InvalidInputError(f"model {name!r} has no earlier champion to roll back to")
    return promote(tracking_uri, name, str(stack[-2]["version"]), reason="rollback", actor=actor)


def versions(tracking_uri: str, name: str) -> list[dict[str, Any]]:
    """Every version of a registered model, newest first, with its run's metrics."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client(tracking_uri)
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        raise NotFoundError(f"no registered model {name!r}") from exc
    live = (model.aliases or {}).get(CHAMPION)
    rows = []
    for v in client.search_model_versions(f"name = '{name}'", max_results=200):
        metrics = client.get_run(v.run_id).data.metrics if v.run_id else {}
        rows.append(
            {
                "version": str(v.version),
                "champion": str(v.version) == str(live),
                "run_id": v.run_id,
                "created_at": datetime.fromtimestamp(v.creation_timestamp / 1000, UTC),
                "metrics": metrics,
                "tags": dict(v.tags or {}),
            }
        )
    return sorted(rows, key=lambda r: int(r["version"]), reverse=True)
