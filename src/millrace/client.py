"""A small typed Python client for the Millrace API.

Errors come back as ``MillraceError`` subclasses carrying the server's problem detail, so a
script sees the same one-line reason the API gives.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from millrace.exceptions import (
    AuthError,
    BackendUnavailableError,
    ConflictError,
    InvalidInputError,
    MillraceError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
)

__all__ = ["Client", "step_seconds"]

_ERRORS: dict[int, type[MillraceError]] = {
    401: AuthError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: InvalidInputError,
    503: BackendUnavailableError,
}


class Client:
    def __init__(self, base_url: str, token: str | None, *, timeout: float = 300) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _check(self, response: httpx.Response) -> Any:
        if response.is_success:
            return response.json() if response.content else None
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise _ERRORS.get(response.status_code, MillraceError)(str(detail))

    def health(self) -> dict[str, Any]:
        response = self._http.get("/health")
        if response.status_code in (200, 503):
            return response.json()  # type: ignore[no-any-return]
        return self._check(response)  # type: ignore[no-any-return]

    def me(self) -> dict[str, Any]:
        return self._check(self._http.get("/api/v1/users/me"))  # type: ignore[no-any-return]

    def upload_dataset(
        self,
        path: Path,
        *,
        user_id: str,
        dataset_id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        target_column: str | None = None,
        task_type: str | None = None,
        sensitive_columns: list[str] | None = None,
        time_budget_s: float | None = None,
    ) -> dict[str, Any]:
        form = {
            "dataset_id": dataset_id,
            "name": name,
            "description": description,
            "target_column": target_column,
            "task_type": task_type,
            "sensitive_columns": ",".join(sensitive_columns) if sensitive_columns else None,
            "time_budget_s": str(time_budget_s) if time_budget_s else None,
        }
        with path.open("rb") as f:
            response = self._http.post(
                f"/api/v1/datasets/upload/{user_id}",
                files={"file": (path.name, f)},
                data={k: v for k, v in form.items() if v is not None},
            )
        return self._check(response)  # type: ignore[no-any-return]

    def dataset(self, dataset_id: str, version: int | None = None) -> dict[str, Any]:
        params = {"version": str(version)} if version else {}
        response = self._http.get(f"/api/v1/datasets/{dataset_id}", params=params)
        return self._check(response)  # type: ignore[no-any-return]

    def journey(self, journey_id: str) -> dict[str, Any]:
        return self._check(self._http.get(f"/api/v1/journeys/{journey_id}"))  # type: ignore[no-any-return]

    def journeys(self, dataset_id: str | None = None) -> list[dict[str, Any]]:
        params = {"dataset_id": dataset_id} if dataset_id else {}
        return self._check(self._http.get("/api/v1/journeys", params=params))  # type: ignore[no-any-return]

    def wait_for_journey_id(self, dataset_id: str, version: int, timeout: float = 60) -> str:
        """The journey the core agent opens for an upload (it appears within moments)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for j in self.journeys(dataset_id):
                if j["dataset_version"] == version:
                    return str(j["id"])
            time.sleep(0.2)
        raise MillraceError(
            f"no journey appeared for {dataset_id} v{version}: is the core agent running?"
        )

    def model(self, model_id: str, version: int | None = None) -> dict[str, Any]:
        params = {"version": str(version)} if version else {}
        response = self._http.get(f"/api/v1/ai-models/{model_id}", params=params)
        return self._check(response)  # type: ignore[no-any-return]

    def datasets(self, query: str | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {k: v for k, v in {"q": query, "cursor": cursor}.items() if v}
            page = self._check(self._http.get("/api/v1/datasets", params=params))
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items


def step_seconds(step: dict[str, Any]) -> float | None:
    """How long a journey step took, from the ``steps`` entry the API returns."""
    from datetime import datetime

    if not (step.get("started_at") and step.get("finished_at")):
        return None
    started = datetime.fromisoformat(step["started_at"])
    return (datetime.fromisoformat(step["finished_at"]) - started).total_seconds()
