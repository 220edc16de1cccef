"""The outbox relay outlives the broker: started while Kafka is down, it waits, says so
where /health looks, and delivers everything once a broker answers on that address."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import select

from millrace.events.liveness import LivenessBoard
from millrace.events.outbox import add_event
from millrace.events.relay import OutboxRelay
from millrace.events.testing import tansu_broker
from millrace.events.topics import ModelUploaded
from millrace.testing import free_port
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import OutboxEvent


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_relay_started_without_a_broker_waits_for_one(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    port = free_port()
    relay = OutboxRelay(warehouse, f"127.0.0.1:{port}")  # nothing listens: must not raise
    with session_scope(warehouse.sessions) as session:
        rows = [
            add_event(
                session, ModelUploaded(user_id="u", model_id="m", version=f"v{i}"), subject="s"
            )
            for i in (1, 2, 3)
        ]
        session.flush()
        offsets = [r.offset for r in rows]
    assert len(set(offsets)) == 3

    def published() -> bool:
        with session_scope(warehouse.sessions) as session:
            query = select(OutboxEvent.published_at).where(OutboxEvent.offset.in_(offsets))
            found = list(session.scalars(query))
        return len(found) == 3 and all(at is not None for at in found)

    board = LivenessBoard()
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, kwargs={"stop": stop, "board": board})
    thread.start()
    try:
        _wait(lambda: "last_trouble" in board.report()[1]["relay"], 60, "the relay to notice")
        assert thread.is_alive()
        assert board.report()[0] == []  # waiting for a backend is not being dead
        assert not published()
        with tansu_broker(tmp_path / "tansu.log", port=port):
            _wait(published, 90, "the relay to deliver once the broker is up")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
