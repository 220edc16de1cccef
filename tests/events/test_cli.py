"""``millrace events tail`` and ``millrace worker relay`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from millrace.events.outbox import add_event
from millrace.events.topics import DatasetUploaded
from millrace.settings import Settings
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import OutboxEvent
from tests.conftest import millrace_cli
from tests.support import stop_pid


def _announce(home: Path, dataset_id: str) -> str:
    wh = Warehouse.open(Settings(home=home))
    try:
        with session_scope(wh.sessions) as session:
            p = DatasetUploaded(user_id="u", dataset_id=dataset_id, version="v1")
            add_event(session, p, subject=f"datasets/u/{dataset_id}/1")
    finally:
        wh.close()
    return p.event_id


def test_tail_prints_existing_and_new_events(tmp_path: Path) -> None:
    first = _announce(tmp_path, "before")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "millrace",
            "events",
            "tail",
            "dataset-events",
            "--from-start",
            "--json",
        ],
        env={**os.environ, "MILLRACE_HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert line["payload"]["event_id"] == first
        assert line["key"] == "before"
        assert line["attributes"]["type"] == "io.millrace.dataset.uploaded"
        second = _announce(tmp_path, "after")
        assert json.loads(proc.stdout.readline())["payload"]["event_id"] == second
    finally:
        stop_pid(proc.pid)


def test_relay_forwards_outbox_rows_to_kafka(tmp_path: Path, kafka_bootstrap: str) -> None:
    _announce(tmp_path, "relayed")
    env = {
        **os.environ,
        "MILLRACE_HOME": str(tmp_path),
        "USE_KFP": "0",
        "MILLRACE_EVENT_BUS": f"kafka://{kafka_bootstrap}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "millrace", "worker", "relay"], env=env, stderr=subprocess.PIPE
    )
    wh = Warehouse.open(Settings(home=tmp_path))
    try:
        import time

        deadline = time.monotonic() + 60
        sent = None
        while time.monotonic() < deadline and not sent:
            with session_scope(wh.sessions) as session:
                sent = session.scalars(select(OutboxEvent.published_at)).first()
            time.sleep(0.2)
        assert sent is not None
        proc.terminate()  # SIGTERM: the relay drains and exits cleanly
        assert proc.wait(timeout=30) == 0
    finally:
        stop_pid(proc.pid)
        wh.close()


def test_relay_without_kafka_is_a_clear_error(tmp_path: Path) -> None:
    done = millrace_cli({"MILLRACE_HOME": str(tmp_path)}, "worker", "relay")
    assert done.returncode == 2
    assert "MILLRACE_EVENT_BUS=kafka://" in done.stderr
    assert "Traceback" not in done.stderr


def test_worker_serves_prometheus_metrics(tmp_path: Path) -> None:
    import time

    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    from tests.support import free_port

    _announce(tmp_path, "metered")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "millrace", "worker", "core", "--metrics-port", str(port)],
        env={**os.environ, "MILLRACE_HOME": str(tmp_path)},
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        handled = 0.0
        while time.monotonic() < deadline and not handled:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    # The event names a dataset that does not exist: it is dead-lettered.
                    if sample.name == "millrace_events_dead_lettered_total":
                        handled += sample.value
            time.sleep(0.2)
        assert handled >= 1
        # Loopback only by default: another loopback address is already "elsewhere".
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.2:{port}/metrics", timeout=2)
    finally:
        stop_pid(proc.pid)


def test_worker_metrics_bind_where_asked(tmp_path: Path) -> None:
    """Compose's Prometheus scrapes workers from another container: --metrics-host 0.0.0.0."""
    import time

    import httpx

    from tests.support import free_port

    port = free_port()
    argv = ["worker", "core", "--metrics-port", str(port), "--metrics-host", "0.0.0.0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "millrace", *argv],
        env={**os.environ, "MILLRACE_HOME": str(tmp_path)},
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.2:{port}/metrics", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "metrics never answered on 127.0.0.2"
                time.sleep(0.2)
        assert "# TYPE process_cpu_seconds_total" in response.text
    finally:
        stop_pid(proc.pid)
