"""The model registry over HTTP: champions, versions, promote and roll back.

Thin over ``millrace.ml.registry``, where the ``champion`` alias is moved; the inference
server watches that alias, so a promotion here goes live there.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from millrace.exceptions import NotFoundError
from millrace.ml import registry
from millrace.warehouse.api.deps import CurrentUser, WarehouseDep
from millrace.warehouse.api.routes.assets import ActFor
from millrace.warehouse.api.schemas import Timestamp, VersionIn
from millrace.warehouse.users import acting_owner

__all__ = ["router"]

router = APIRouter(prefix="/registry", tags=["registry"])


class ChampionOut(BaseModel):
    model_id: str
    registered_name: str
    owner: str
    kind: str
    champion_version: str
    history: list[dict[str, Any]]

    @classmethod
    def of(cls, c: registry.Champion) -> ChampionOut:
        return cls(
            model_id=c.model_id,
            registered_name=c.name,
            owner=c.owner,
            kind=c.kind,
            champion_version=c.version,
            history=list(c.history),
        )


class VersionOut(BaseModel):
    version: str
    champion: bool
    run_id: str | None
    created_at: Timestamp
    metrics: dict[str, float]
    tags: dict[str, str]


class ModelOut(BaseModel):
    model_id: str
    registered_name: str
    champion: ChampionOut | None
    versions: list[VersionOut]


class PromoteIn(BaseModel):
    version: VersionIn  # 2 or "2"; JSON true is not version 1


def _name(wh: WarehouseDep, user: CurrentUser, model_id: str, user_id: str | None) -> str:
    """The caller's model, found by its owner tag: ``alice.x`` asking for ``ds`` must never
    reach ``alice``'s ``x.ds``, although both would be named ``millrace.alice.x.ds``."""
    owner = acting_owner(wh, user, user_id)
    name = registry.find_registered(wh.settings.resolved_mlflow_uri, owner, model_id)
    if name is None:
        raise NotFoundError(f"no registered model {model_id!r}")
    return name


@router.get("/models", response_model=list[ChampionOut], summary="Models with a champion")
def list_models(wh: WarehouseDep, user: CurrentUser, user_id: ActFor = None) -> list[ChampionOut]:
    owner = acting_owner(wh, user, user_id)
    uri = wh.settings.resolved_mlflow_uri
    return [ChampionOut.of(c) for c in registry.list_champions(uri, owner=owner)]


@router.get("/models/{model_id}", response_model=ModelOut, summary="A model's versions")
def get_model(
    wh: WarehouseDep, user: CurrentUser, model_id: str, user_id: ActFor = None
) -> ModelOut:
    name = _name(wh, user, model_id, user_id)
    uri = wh.settings.resolved_mlflow_uri
    rows = registry.versions(uri, name)
    live = registry.champion(uri, name)
    return ModelOut(
        model_id=model_id,
        registered_name=name,
        champion=ChampionOut.of(live) if live else None,
        versions=[VersionOut(**r) for r in rows],
    )


@router.post("/models/{model_id}/promote", response_model=ChampionOut)
def promote(
    wh: WarehouseDep, user: CurrentUser, model_id: str, body: PromoteIn, user_id: ActFor = None
) -> ChampionOut:
    """Make a version the champion; the inference server switches to it."""
    name = _name(wh, user, model_id, user_id)
    uri = wh.settings.resolved_mlflow_uri
    return ChampionOut.of(registry.promote(uri, name, str(body.version), actor=user.id))


@router.post("/models/{model_id}/rollback", response_model=ChampionOut)
def rollback(
    wh: WarehouseDep, user: CurrentUser, model_id: str, user_id: ActFor = None
) -> ChampionOut:
    """Make the previous champion live again."""
    name = _name(wh, user, model_id, user_id)
    uri = wh.settings.resolved_mlflow_uri
    return ChampionOut.of(registry.rollback(uri, name, actor=user.id))
