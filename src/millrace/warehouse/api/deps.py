"""Request dependencies as ``Annotated`` aliases resolved from ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from millrace.exceptions import PermissionDeniedError
from millrace.warehouse.api.scrape import SCRAPE_REFUSED, is_scrape_token
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import read_scope
from millrace.warehouse.models import User
from millrace.warehouse.users import authenticate

__all__ = ["AdminUser", "CurrentUser", "MetricsReader", "WarehouseDep"]

_bearer = HTTPBearer(auto_error=False, description="An API token from `millrace users create`")


def get_warehouse(request: Request) -> Warehouse:
    return request.app.state.warehouse  # type: ignore[no-any-return]


WarehouseDep = Annotated[Warehouse, Depends(get_warehouse)]


def current_user(
    wh: WarehouseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    # A short session of its own: uploads must not hold a DB transaction while streaming.
    with read_scope(wh.sessions) as session:
        user = authenticate(session, credentials.credentials if credentials else None)
        session.expunge(user)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise PermissionDeniedError("this action needs an admin token")
    return user


AdminUser = Annotated[User, Depends(admin_user)]


def metrics_reader(
    request: Request,
    wh: WarehouseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Prometheus with the scrape token, or an admin: the series name every owner."""
    if (
        not is_scrape_token(request.headers.get("authorization"), wh.settings.metrics_token)
        and not current_user(wh, credentials).is_admin
    ):
        raise PermissionDeniedError(SCRAPE_REFUSED)


MetricsReader = Annotated[None, Depends(metrics_reader)]
