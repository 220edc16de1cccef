"""The error answers in the OpenAPI documents: one ``ProblemDetails`` schema and the
statuses every route can answer with, as ``application/problem+json``.

FastAPI files a ``responses=`` model under the route's own media type (JSON), so the
schema is referenced by hand here and added to the components once per document. Both
the warehouse API and the inference server use this.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from millrace.warehouse.api.errors import PROBLEM

__all__ = ["PROBLEM_RESPONSES", "ProblemDetails", "document_problems"]


class ProblemDetails(BaseModel):
    """An RFC 9457 problem document, as every error leaves the API."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem")
    title: str = Field(description="The kind of problem, for people")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong with this request")
    instance: str | None = Field(default=None, description="The request path")


_REF = {"$ref": "#/components/schemas/ProblemDetails"}
_STATUSES = {
    400: "The body could not be parsed",
    401: "No bearer token, or an unknown one",
    403: "Authenticated, but not allowed to do this",
    404: "Not found, or owned by someone else",
    409: "In conflict with the current state",
    413: "The body is over the size limit",
    422: "Invalid input; `errors` lists each problem for schema violations",
    503: "A backend (database, storage, event bus, registry) is unavailable",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM: {"schema": _REF}}}
    for status, text in _STATUSES.items()
}


def document_problems(app: FastAPI) -> None:
    """Add ``ProblemDetails`` to the app's OpenAPI components, where the shared responses
    point; no route returns it as a model, so FastAPI would not put it there itself."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["ProblemDetails"] = ProblemDetails.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
