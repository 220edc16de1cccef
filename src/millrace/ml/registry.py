"""The model registry: which version of each model is live (the ``champion``), and why.

MLflow's model registry is the source of truth; this module is the one place that moves
the ``champion`` alias, so every promotion (AutoML, the forecasting pipeline, a user's
button in the UI, a rollback) leaves the same trail: the alias, and a JSON history of
champion versions in the registered model's ``millrace.champion_history`` tag. The
inference server watches the alias; rollback walks the history back.

Registered names are ``millrace.<owner>.<model_id>``, but user ids may contain dots, so a name
does not say whose model it is: ``alice.x``'s ``ds`` and ``alice``'s ``x.ds`` would share one.
The owner and model id are therefore tags (``millrace.owner``, ``millrace.model_id``), set
when the registered model is created, and every look-up goes by those tags
(``find_registered``), never by parsing a name. When the plain name is taken by another
owner's model, the new one gets a suffixed name (``register_model``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from millrace.exceptions import ConflictError, InvalidInputError, NotFoundError
from millrace.ml.gate import Scores, Verdict, judge
from millrace.warehouse.ids import check_id

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "HISTORY_TAG",
    "KIND_TAG",
    "Champion",
    "ModelKind",
    "champion",
    "champion_stack",
    "find_registered",
    "list_champions",
    "mlflow_client",
    "parse_registered_name",
    "promote",
    "register_model",
    "registered_name",
    "rollback",
    "settle",
    "versions",
]

CHAMPION = "champion"
CHALLENGER = "challenger"  # the newest version the gate kept out (``settle``)
VERDICT_TAG = "millrace.verdict"  # on a version: the gate's verdict, as JSON
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

    For display only: a dotted user id splits wrongly here, so nothing that decides access
    may use it (``find_registered`` goes by tags).
    """
    if not name.startswith(PREFIX):
        return None
    owner, _, model_id = name[len(PREFIX) :].partition(".")
    return (owner, model_id) if owner and model_id else None


def _owned_by(model: Any, owner: str, model_id: str) -> bool:
    tags = model.tags or {}
    return tags.get(OWNER_TAG) == owner and tags.get(MODEL_ID_TAG) == model_id


def find_registered(tracking_uri: str, owner: str, model_id: str) -> str | None:
    """The registered name of ``owner``'s ``model_id``, found by its tags; None if none."""
    try:  # ids are a quote-free alphabet, which keeps the filter below injection-free
        check_id(owner, "user_id")
        check_id(model_id, "model_id")
    except InvalidInputError:
        return None
    client = mlflow_client(tracking_uri)
    found = client.search_registered_models(
        filter_string=f"tags.`{OWNER_TAG}` = '{owner}' AND tags.`{MODEL_ID_TAG}` = '{model_id}'",
        max_results=10,
    )
    names = sorted(m.name for m in found if _owned_by(m, owner, model_id))
    return names[0] if names else None


def _name_choices(owner: str, model_id: str) -> list[str]:
    """The plain name, then one no other (owner, model id) pair can produce by accident."""
    base = registered_name(owner, model_id)
    digest = hashlib.sha256(f"{owner}\0{model_id}".encode()).hexdigest()[:12]
    return [base, f"{base}~{digest}"]


def mlflow_client(tracking_uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    from millrace.ml.tracking_store import ensure_store

    ensure_store(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def register_model(tracking_uri: str, *, owner: str, model_id: str, kind: ModelKind) -> str:
    """The registered model of ``owner``'s ``model_id``, created (tags and all, in one call)
    if it does not exist yet; returns its name.

    A name held by someone else's model is never reused: its tags would be overwritten and
    its versions become the newcomer's.
    """
    from mlflow.exceptions import MlflowException

    existing = find_registered(tracking_uri, owner, model_id)
    if existing is not None:
        return existing
    client = mlflow_client(tracking_uri)
    tags = {OWNER_TAG: owner, MODEL_ID_TAG: model_id, KIND_TAG: kind}
    for name in _name_choices(owner, model_id):
        try:
            client.create_registered_model(name, tags=tags)
            return name
        except MlflowException:
            pass  # taken: ours if a concurrent call just created it, else try the next name
        model = client.get_registered_model(name)
        if _owned_by(model, owner, model_id):
            return name
        if not (model.tags or {}).get(OWNER_TAG) and name == registered_name(owner, model_id):
            # Registered before owners were tagged at creation: claim it under its own name.
            for key, value in tags.items():
                client.set_registered_model_tag(name, key, value)
            return name
    raise ConflictError(f"no free registered-model name for {owner!r}'s model {model_id!r}")


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
    # Untagged (foreign) models belong to no user: only admins see them.
    owner, model_id = tags.get(OWNER_TAG, ""), tags.get(MODEL_ID_TAG, name)
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
    tracking_uri: str,
    name: str,
    version: str,
    *,
    reason: str = "promoted",
    actor: str = "",
    detail: str | None = None,
) -> Champion:
    """Point ``champion`` at ``version`` and append it to the history (``detail``: the
    gate's sentence on why, for automatic promotions)."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client(tracking_uri)
    try:
        target = client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise NotFoundError(f"model {name!r} has no version {version}") from exc
    model = client.get_registered_model(name)
    history = _history(model)
    entry = {
        "version": str(target.version),
        "reason": reason,
        "actor": actor,
        "at": datetime.now(UTC).isoformat(),
    }
    history.append({**entry, "detail": detail} if detail else entry)
    client.set_registered_model_alias(name, CHAMPION, str(target.version))
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-100:]))
    if str((model.aliases or {}).get(CHALLENGER)) == str(target.version):
        client.delete_registered_model_alias(name, CHALLENGER)  # promoted by hand: no longer
    return _champion(name, target, client.get_registered_model(name))


def settle(
    tracking_uri: str, name: str, version: str, *, reason: str, gate: bool = True
) -> Verdict:
    """Put a newly registered version through the champion/challenger gate (``ml.gate``):
    promote it, or register it as the ``challenger`` with the reason.

    The verdict is written on the version (``millrace.verdict``) before it takes effect,
    so a redelivered trigger finishes the same decision instead of judging again against
    a champion that may have changed meanwhile.
    """
    client = mlflow_client(tracking_uri)
    mv = client.get_model_version(name, str(version))
    recorded = (mv.tags or {}).get(VERDICT_TAG)
    if recorded:
        verdict = Verdict(**json.loads(recorded))
    else:
        live = champion(tracking_uri, name)
        verdict = judge(
            _scores(client, str(version), mv.run_id),
            _scores(client, live.version, live.run_id) if live else None,
            enabled=gate,
        )
        client.set_model_version_tag(name, str(version), VERDICT_TAG, json.dumps(verdict.as_dict()))
    live = champion(tracking_uri, name)
    if verdict.promoted:
        if live is None or live.version != str(version):
            promote(tracking_uri, name, str(version), reason=reason, detail=verdict.reason)
    elif live is None or live.version != str(version):  # (a user may have promoted it)
        client.set_registered_model_alias(name, CHALLENGER, str(version))
    return verdict


def _scores(client: Any, version: str, run_id: str | None) -> Scores:
    if not run_id:
        return Scores(version=version)
    data = client.get_run(run_id).data
    return Scores.from_run(version, dict(data.metrics), dict(data.tags))


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
