"""A promotion while requests stream in: none fails, and answers move to the new version."""

from __future__ import annotations

import json
import threading
import time

import httpx

from millrace.ml import registry
from tests.serving.conftest import ServedWorld, patients

NAME = registry.registered_name("alice", "stream")


def _live(c: httpx.Client) -> str:
    return str(c.get("/v2/models/stream").json()["parameters"]["live_version"])


def _wait_live(c: httpx.Client, version: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _live(c) != version:
        assert time.monotonic() < deadline, f"v{version} never went live"
        time.sleep(0.05)


def test_promotion_mid_stream_drops_nothing_and_switches(served: ServedWorld) -> None:
    rows = patients().drop(columns=["high_risk", "bp"]).iloc[:8]
    expected = {t.version: t.expected(rows) for t in served.stream}
    assert expected["1"] != expected["2"]
    records = json.loads(rows.to_json(orient="records"))
    answers: list[list[tuple[int, str | None, object]]] = [[] for _ in range(4)]
    stop = threading.Event()

    def client_loop(out: list[tuple[int, str | None, object]]) -> None:
        with served.client() as c:
            while not stop.is_set():
                r = c.post("/api/v1/models/stream/predict", json=records)
                body = r.json() if r.status_code == 200 else r.text
                out.append(
                    (r.status_code, body.get("version") if isinstance(body, dict) else None, body)
                )

    with served.client() as c:
        _wait_live(c, "1")
        threads = [threading.Thread(target=client_loop, args=(a,)) for a in answers]
        for t in threads:
            t.start()
        while sum(map(len, answers)) < 40:
            time.sleep(0.01)
        registry.promote(served.tracking_uri, NAME, "2", reason="test")
        _wait_live(c, "2")
        seen = sum(map(len, answers))
        while sum(map(len, answers)) < seen + 40:
            time.sleep(0.01)
        stop.set()
        for t in threads:
            t.join(30)
        meta = c.get("/v2/models/stream").json()
    assert meta["versions"] == ["2"]
    flat = [a for per_thread in answers for a in per_thread]
    assert all(status == 200 for status, _, _ in flat), [a for a in flat if a[0] != 200][:3]
    for _, version, body in flat:
        assert body["predictions"] == expected[str(version)]  # type: ignore[index]
    for per_thread in answers:
        versions = [v for _, v, _ in per_thread]
        assert versions[0] == "1" and versions[-1] == "2"
        switched = versions.index("2")
        assert set(versions[switched:]) == {"2"}  # never back to the old version

    # Rolling back is a promotion like any other: v1 is live again, hot.
    assert registry.rollback(served.tracking_uri, NAME).version == "1"
    with served.client() as c:
        _wait_live(c, "1")
        r = c.post("/api/v1/models/stream/predict", json=records)
    assert r.json()["predictions"] == expected["1"]
