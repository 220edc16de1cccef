"""``/health`` checks each backend for real and names the ones that are down."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from millrace.warehouse.api.deps import WarehouseDep
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import ping

__all__ = ["router"]

router = APIRouter(tags=["health"])


def _checks(wh: Warehouse) -> dict[str, Callable[[], None]]:
    def event_bus() -> None:
        from millrace.events.factory import open_bus

        open_bus(wh).ping()

    return {
        "database": lambda: ping(wh.engine),
        "storage": wh.storage.ping,
        "event_bus": event_bus,
    }


@router.get(
    "/health",
    summary="Check the database, storage, event bus and agents",
    responses={503: {"description": "A backend is down or an agent of this process died"}},
)
def health(wh: WarehouseDep, response: Response) -> JSONResponse:
    """503 when a backend is down or an agent of this process died or stopped polling
    (``millrace up``); each is named, with the reason."""
    results: dict[str, Any] = {}
    for name, check in _checks(wh).items():
        started = time.perf_counter()
        try:
            check()
            results[name] = {"status": "up"}
        except Exception as exc:  # any failure means "down"; the reason is reported
            results[name] = {"status": "down", "error": str(exc).splitlines()[0][:300]}
        results[name]["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    failing, agents = wh.liveness.report()
    down = [n for n, r in results.items() if r["status"] == "down"]
    down += [f"agent:{name}" for name in failing]
    body = {"status": "down" if down else "up", "down": down, "checks": results, "agents": agents}
    return JSONResponse(body, status_code=503 if down else 200)
