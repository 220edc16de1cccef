"""A small typed Python client for the Millrace API and the inference server.

Errors come back as ``MillraceError`` subclasses carrying the server's problem detail, so a
script sees the same one-line reason the API gives. A server that cannot be reached is an
``UnreachableError`` naming the URL, never an httpx traceback: the CLI prints it as is.
A server that answers but is not Millrace (a wrong port or URL) is a ``NotMillraceError``
that says so, rather than its bare "Not Found".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx

from millrace.client_errors import (
    NotMillraceError,
    Server,
    UnreachableError,
    read_answer,
    transport_reason,
)
from millrace.exceptions import InvalidInputError, MillraceError

__all__ = [
    "TERMINAL_STATES",
    "Client",
    "NotMillraceError",
    "ReportKind",
    "UnreachableError",
    "step_seconds",
]

Json = dict[str, Any]
ReportKind = Literal["bias", "transformation", "xai"]

# A journey in one of these states moves no further without someone acting on it.
TERMINAL_STATES = frozenset({"completed", "failed", "needs_input"})


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise InvalidInputError(f"{value!r} is not an http(s) URL, e.g. http://127.0.0.1:8000")
    return value.rstrip("/")


class Client:
    """The warehouse API at ``base_url``; the inference server at ``serve_url``.

    Both take the same bearer token. The serving connection is only opened when a
    ``predict`` or ``served_models`` call needs it.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 300,
        serve_url: str | None = None,
    ) -> None:
        self.base_url = _url(base_url)
        self.serve_url = _url(serve_url) if serve_url else None
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers, timeout=timeout)
        self._serve: httpx.Client | None = None

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
        if self._serve is not None:
            self._serve.close()

    # Plumbing: every call goes through _send, so no transport error escapes as httpx's.

    def _serving(self) -> httpx.Client:
        if self.serve_url is None:
            raise MillraceError("no inference server URL: pass serve_url to Client")
        if self._serve is None:
            self._serve = httpx.Client(
                base_url=self.serve_url, headers=self._headers, timeout=self._timeout
            )
        return self._serve

    def _send(self, method: str, path: str, *, serve: bool = False, **kw: Any) -> httpx.Response:
        http = self._serving() if serve else self._http
        try:
            return http.request(method, path, **kw)
        except httpx.TransportError as exc:
            what = f"inference server at {self.serve_url}" if serve else f"API at {self.base_url}"
            reason = transport_reason(exc)
            raise UnreachableError(f"cannot reach the Millrace {what}: {reason}") from None

    def _check(self, response: httpx.Response, serve: bool = False) -> Any:
        """The answer's JSON, or the server's refusal (or that it is not the server asked
        for) as a ``MillraceError``: see ``millrace.client_errors``."""
        if serve:
            server = Server("inference server", "--serve-url or MILLRACE_SERVE_URL", self.serve_url)
        else:
            server = Server("API", "--url or MILLRACE_URL", self.base_url)
        return read_answer(response, server)

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        return self._check(self._send(method, path, **kw), serve=kw.get("serve", False))

    def _obj(self, method: str, path: str, **kw: Any) -> Json:
        body = self._call(method, path, **kw)
        if not isinstance(body, dict):
            raise MillraceError(f"{method} {path}: expected a JSON object, got {type(body)}")
        return body

    def _pages(self, path: str, params: dict[str, str | None]) -> Iterator[Json]:
        """Follow ``next_cursor`` through a paged list."""
        cursor: str | None = None
        while True:
            query = {k: v for k, v in {**params, "cursor": cursor}.items() if v}
            page = self._obj("GET", path, params=query)
            yield from page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    # Health and identity

    def health(self) -> Json:
        """The checks, also when one is down (503 with the same body)."""
        response = self._send("GET", "/health")
        if response.status_code == 503:
            try:
                body = response.json()
            except ValueError:
                body = None  # a proxy's 503 page: _check says what it was
            if isinstance(body, dict) and "checks" in body:
                return body
        return self._check(response)  # type: ignore[no-any-return]

    def me(self) -> Json:
        return self._obj("GET", "/api/v1/users/me")

    # Datasets

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
        favorable_label: str | None = None,
        privileged_groups: dict[str, str] | None = None,
        metric: str | None = None,
    ) -> Json:
        """A new version of a dataset; its journey is opened by the core agent."""
        form = {
            "dataset_id": dataset_id,
            "name": name,
            "description": description,
            "target_column": target_column,
            "task_type": task_type,
            "sensitive_columns": ",".join(sensitive_columns) if sensitive_columns else None,
            "time_budget_s": str(time_budget_s) if time_budget_s else None,
            "favorable_label": favorable_label,
            "privileged_groups": json.dumps(privileged_groups) if privileged_groups else None,
            "metric": metric,
        }
        with path.open("rb") as f:
            return self._obj(
                "POST",
                f"/api/v1/datasets/upload/{user_id}",
                files={"file": (path.name, f)},
                data={k: v for k, v in form.items() if v is not None},
            )

    def dataset(self, dataset_id: str, version: int | None = None) -> Json:
        params = {"version": str(version)} if version else {}
        return self._obj("GET", f"/api/v1/datasets/{dataset_id}", params=params)

    def datasets(self, query: str | None = None) -> list[Json]:
        return list(self._pages("/api/v1/datasets", {"q": query}))

    # Journeys

    def journey(self, journey_id: str) -> Json:
        return self._obj("GET", f"/api/v1/journeys/{journey_id}")

    def journeys(self, dataset_id: str | None = None) -> list[Json]:
        params = {"dataset_id": dataset_id} if dataset_id else {}
        return self._call("GET", "/api/v1/journeys", params=params)  # type: ignore[no-any-return]

    def start_journey(
        self,
        dataset_id: str,
        *,
        version: int | None = None,
        target_column: str | None = None,
        task_type: str | None = None,
        sensitive_columns: list[str] | None = None,
        time_budget_s: float | None = None,
        favorable_label: str | None = None,
        privileged_groups: dict[str, str] | None = None,
        metric: str | None = None,
    ) -> Json:
        """Open the journey of a dataset version (the latest by default), or complete it.

        The API answers at once: ``bias`` when it started, ``needs_input`` with the
        reason when something is missing, ``failed`` when the data cannot do.
        """
        body: Json = {"dataset_id": dataset_id}
        if version is not None:
            body["version"] = version
        hints = _hints(
            target_column,
            task_type,
            sensitive_columns,
            time_budget_s,
            favorable_label=favorable_label,
            privileged_groups=privileged_groups,
            metric=metric,
        )
        return self._obj("POST", "/api/v1/journeys", json={**body, **hints})

    def answer_journey(
        self,
        journey_id: str,
        *,
        target_column: str | None = None,
        task_type: str | None = None,
        sensitive_columns: list[str] | None = None,
        time_budget_s: float | None = None,
        favorable_label: str | None = None,
        privileged_groups: dict[str, str] | None = None,
        metric: str | None = None,
    ) -> Json:
        """Give a journey waiting in ``needs_input`` what it asked for (409 once it moved on)."""
        hints = _hints(
            target_column,
            task_type,
            sensitive_columns,
            time_budget_s,
            favorable_label=favorable_label,
            privileged_groups=privileged_groups,
            metric=metric,
        )
        return self._obj("PATCH", f"/api/v1/journeys/{journey_id}", json=hints)

    def retry_journey(self, journey_id: str) -> Json:
        """Resume a failed journey at the step that failed (409 unless it failed)."""
        return self._obj("POST", f"/api/v1/journeys/{journey_id}/retry")

    def wait_for_journey(
        self,
        journey_id: str,
        timeout: float = 600,
        *,
        poll: float = 0.5,
        on_update: Callable[[Json], None] | None = None,
    ) -> Json:
        """Poll until the journey is completed, failed or needs input; ``on_update`` sees
        every poll (the CLI draws its progress from it)."""
        deadline = time.monotonic() + timeout
        while True:
            journey = self.journey(journey_id)
            if on_update is not None:
                on_update(journey)
            if journey["state"] in TERMINAL_STATES:
                return journey
            if time.monotonic() >= deadline:
                raise MillraceError(
                    f"journey {journey_id} is still at {journey['state']} after {timeout:.0f}s"
                )
            time.sleep(poll)

    def wait_for_journey_id(self, dataset_id: str, version: int, timeout: float = 60) -> str:
        """The journey the core agent opens for an upload (it appears within moments)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for j in self.journeys(dataset_id):
                if j["dataset_version"] == version:
                    return str(j["id"])
            time.sleep(0.2)
        raise MillraceError(
            f"no journey appeared for {dataset_id} v{version}: is the core agent running?"
        )

    # Reports: bias and transformation are JSON, XAI are HTML (read through ``view``).

    def reports(self, kind: ReportKind, dataset_id: str | None = None) -> list[Json]:
        return list(self._pages(f"/api/v1/{kind}-reports", {"dataset_id": dataset_id}))

    def report(self, kind: ReportKind, report_id: str) -> Json:
        return self._obj("GET", f"/api/v1/{kind}-reports/{report_id}")

    def view(self, link: str) -> str:
        """The HTML behind a ``*_view`` or ``xai/*`` link of a journey (served sandboxed)."""
        response = self._send("GET", link)
        if not response.is_success:
            self._check(response)  # raises with the problem's detail
        return response.text

    def leaderboard(self, model_id: str, version: int) -> list[Json]:
        """AutoML's report: every trial of the search that made a model version, best first."""
        path = f"/api/v1/ai-models/{model_id}/versions/{version}/files/leaderboard.json"
        return self._call("GET", path)  # type: ignore[no-any-return]

    # Warehouse models (the files) and the registry (which version is live)

    def model(self, model_id: str, version: int | None = None) -> Json:
        params = {"version": str(version)} if version else {}
        return self._obj("GET", f"/api/v1/ai-models/{model_id}", params=params)

    def models(self, query: str | None = None) -> list[Json]:
        return list(self._pages("/api/v1/ai-models", {"q": query}))

    def registry_models(self) -> list[Json]:
        """The caller's models that have a champion, with its version and history."""
        return self._call("GET", "/api/v1/registry/models")  # type: ignore[no-any-return]

    def registry_model(self, model_id: str) -> Json:
        """Every registered version of a model with its metrics; ``champion`` marks the live one."""
        return self._obj("GET", f"/api/v1/registry/models/{model_id}")

    def promote(self, model_id: str, version: int | str) -> Json:
        """Make a version the champion; the inference server swaps it in within a second."""
        body = {"version": str(version)}
        return self._obj("POST", f"/api/v1/registry/models/{model_id}/promote", json=body)

    def rollback(self, model_id: str) -> Json:
        """Make the previous champion live again (twice goes back two champions)."""
        return self._obj("POST", f"/api/v1/registry/models/{model_id}/rollback")

    # The inference server

    def served_models(self) -> list[Json]:
        body = self._obj("GET", "/api/v1/models", serve=True)
        return body["models"]  # type: ignore[no-any-return]

    def predict(self, name: str, records: list[Json], *, proba: bool = False) -> Json:
        """Rows in, the live champion's ``predictions`` out, with the ``version`` that made
        them (and ``classes`` and ``probabilities`` with ``proba``)."""
        body: Json = {"records": records, "proba": True} if proba else {"records": records}
        return self._obj("POST", f"/api/v1/models/{name}/predict", serve=True, json=body)


def _hints(
    target_column: str | None,
    task_type: str | None,
    sensitive_columns: list[str] | None,
    time_budget_s: float | None,
    *,
    favorable_label: str | None = None,
    privileged_groups: dict[str, str] | None = None,
    metric: str | None = None,
) -> Json:
    """Only what was given: the API applies the fields it receives and keeps the rest."""
    hints = {
        "target_column": target_column,
        "task_type": task_type,
        "sensitive_columns": sensitive_columns,
        "time_budget_s": time_budget_s,
        "favorable_label": favorable_label,
        "privileged_groups": privileged_groups,
        "metric": metric,
    }
    return {k: v for k, v in hints.items() if v is not None}


def step_seconds(step: Json) -> float | None:
    """How long a journey step took, from the ``steps`` entry the API returns."""
    if not (step.get("started_at") and step.get("finished_at")):
        return None
    started = datetime.fromisoformat(step["started_at"])
    return (datetime.fromisoformat(step["finished_at"]) - started).total_seconds()
