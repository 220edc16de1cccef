"""Small builders shared by API tests."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import httpx
from sqlalchemy import select

from millrace.warehouse.models import OutboxEvent
from tests.conftest import Backend


def csv_bytes(rows: int = 5, extra: str = "") -> bytes:
    lines = ["age,income,sex,label"] + [
        f"{20 + i},{1000 * i}.5,{'mf'[i % 2]},{i % 2}" for i in range(rows)
    ]
    return ("\n".join(lines) + "\n" + extra).encode()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def upload_csv(
    http: httpx.Client,
    user_id: str,
    dataset_id: str,
    data: bytes | None = None,
    filename: str = "data.csv",
    headers: dict[str, str] | None = None,
    **form: Any,
) -> httpx.Response:
    """Through Millrace's own API (``/api/v1``); the seed's root routes have their tests."""
    return http.post(
        f"/api/v1/datasets/upload/{user_id}",
        files={"file": (filename, data if data is not None else csv_bytes(), "text/csv")},
        data={"dataset_id": dataset_id, **form},
        headers=headers,
    )


def outbox(backend: Backend, topic: str, **match: Any) -> list[OutboxEvent]:
    engine = backend.engine()
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(OutboxEvent).where(OutboxEvent.topic == topic)).all()
    finally:
        engine.dispose()
    events = [OutboxEvent(**row._mapping) for row in rows]
    return [e for e in events if all(e.payload.get(k) == v for k, v in match.items())]
