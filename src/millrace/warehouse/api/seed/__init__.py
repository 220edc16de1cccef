"""Seed 004's HTTP surface at its root paths, beside Millrace's own ``/api/v1``.

Paths, request fields, status codes and bodies are the seed's, so its partner clients
work unchanged once they send ``Authorization: Bearer <token>``; every route is thin over
the same services as ``/api/v1``, with the same owner checks.
"""

from __future__ import annotations

from fastapi import APIRouter

from millrace.warehouse.api.seed import ai_models, datasets, reports, users, xai

__all__ = ["seed_router"]


def seed_router() -> APIRouter:
    router = APIRouter()
    for module in (datasets, ai_models, reports, xai, users):
        router.include_router(module.router)
    return router
